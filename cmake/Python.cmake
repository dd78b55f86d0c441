# SPDX-License-Identifier: Apache-2.0
#
# The Python package python/atomicmatrix: pure Python on cffi (ABI mode: it dlopens
# libatomicmatrix.so.0, nothing is compiled), installed as component "python" (the
# Debian package python3-atomicmatrix, cmake/Packaging.cmake).
#
#   AM_PYTHON_INSTALL_DIR  where the package goes, relative to the prefix (or absolute).
#                          Default: lib/python3/dist-packages for the prefix /usr
#                          (Debian's layout); otherwise the directory of the interpreter's
#                          sys.path under the prefix (/usr/local/lib/python3.X/dist-packages
#                          on Debian), or lib/python3.X/site-packages.
# Beside the sources goes a generated _config.py: the library's path relative to the
# package (so a `cmake --install --prefix` anywhere stays consistent), or for /usr the
# soname alone (the loader finds it; the package stays architecture-independent).
# From the build tree, nothing is installed: PYTHONPATH=python and
# ATOMICMATRIX_LIBRARY=build/libatomicmatrix.so (what tests/python does).

find_package(Python3 COMPONENTS Interpreter)
set(AM_PYTHON_TESTS OFF)
if(NOT Python3_Interpreter_FOUND)
  message(STATUS "Python: no python3 interpreter; the Python package is installed but not tested")
  return()
endif()
set(AM_PYTHON ${Python3_EXECUTABLE})
set(AM_PYTHON_MINOR "${Python3_VERSION_MAJOR}.${Python3_VERSION_MINOR}")

if(NOT AM_PYTHON_INSTALL_DIR)
  if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
    set(dir lib/python3/dist-packages)
  else()
    execute_process(COMMAND ${AM_PYTHON} -c
      "import sys; print(int('${CMAKE_INSTALL_PREFIX}/lib/python${AM_PYTHON_MINOR}/dist-packages' in sys.path))"
      OUTPUT_VARIABLE debian_local OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
    if(debian_local STREQUAL "1")
      set(dir lib/python${AM_PYTHON_MINOR}/dist-packages)
    else()
      set(dir lib/python${AM_PYTHON_MINOR}/site-packages)
    endif()
  endif()
  set(AM_PYTHON_INSTALL_DIR ${dir} CACHE STRING "Where the Python package atomicmatrix is installed")
endif()

if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(AM_PY_LIB_RELATIVE "")
else()
  if(IS_ABSOLUTE ${AM_PYTHON_INSTALL_DIR})
    set(pkg ${AM_PYTHON_INSTALL_DIR}/atomicmatrix)
  else()
    set(pkg ${CMAKE_INSTALL_PREFIX}/${AM_PYTHON_INSTALL_DIR}/atomicmatrix)
  endif()
  file(RELATIVE_PATH AM_PY_LIB_RELATIVE ${pkg} ${CMAKE_INSTALL_FULL_LIBDIR}/libatomicmatrix.so.${PROJECT_VERSION_MAJOR})
endif()
set(AM_PY_SONAME libatomicmatrix.so.${PROJECT_VERSION_MAJOR})
configure_file(${PROJECT_SOURCE_DIR}/python/_config.py.in ${PROJECT_BINARY_DIR}/python/_config.py @ONLY)
install(DIRECTORY ${PROJECT_SOURCE_DIR}/python/atomicmatrix DESTINATION ${AM_PYTHON_INSTALL_DIR}
  COMPONENT python FILES_MATCHING PATTERN "*.py" PATTERN "__pycache__" EXCLUDE)
install(FILES ${PROJECT_BINARY_DIR}/python/_config.py DESTINATION ${AM_PYTHON_INSTALL_DIR}/atomicmatrix
  COMPONENT python)

# The tests need cffi, pytest and protobuf in that interpreter, and a library Python can
# dlopen (a sanitized one needs its runtime loaded first).
if(AM_SANITIZE)
  message(STATUS "Python: AM_SANITIZE=${AM_SANITIZE}: the python tests are left out")
  return()
endif()
execute_process(COMMAND ${AM_PYTHON} -c "import cffi, pytest, google.protobuf"
  RESULT_VARIABLE missing OUTPUT_QUIET ERROR_QUIET)
if(missing EQUAL 0)
  set(AM_PYTHON_TESTS ON)
else()
  message(STATUS "Python: ${AM_PYTHON} lacks cffi, pytest or protobuf (Debian: python3-cffi "
                 "python3-pytest python3-protobuf; scripts/deps.sh): the python tests are left out")
endif()
