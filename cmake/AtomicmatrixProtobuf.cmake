# SPDX-License-Identifier: Apache-2.0
#
# am_protobuf_generate(TARGET <target> PROTOS <file.proto>... [IMPORT_DIRS <dir>...])
#
# From the build tree (this project) or an installed package (find_package(atomicmatrix
# COMPONENTS protobuf), or plain find_package(atomicmatrix): the first call then looks
# for protoc, protoc-gen-c and libprotobuf-c and stops with a message naming the
# Debian package of whatever is missing).
#
# Runs protoc with protoc-c's generator and protoc-gen-am on each .proto, adds the
# generated x.pb-c.c and x.am.c to <target>, puts the output directory on its include
# path and links it to the protobuf runtime, all PUBLIC: <target> may be a STATIC
# library that several executables link (one generated library per .proto set), or an
# executable. Outputs go to ${CMAKE_CURRENT_BINARY_DIR}/am_protobuf, named like the
# .proto relative to the first import directory (default: the .proto's own directory).
#
# In an installed package the runtime linked is atomicmatrix::atomicmatrix_protobuf
# (shared); set AM_PROTOBUF_RUNTIME to another target (e.g.
# atomicmatrix::atomicmatrix_protobuf_static) before the call to change that.

set(_AM_PROTOBUF_DIR "${CMAKE_CURRENT_LIST_DIR}")

# _am_protobuf_find(<error variable>): in an installed package, find what generating
# and linking needs; the variable gets a message for each thing missing ("" if none).
macro(_am_protobuf_find _am_err)
  set(${_am_err} "")
  if(NOT TARGET protoc-gen-am)   # not this project's own build tree
    if(NOT TARGET atomicmatrix::atomicmatrix_protobuf)
      find_package(PkgConfig QUIET)
      if(PKG_CONFIG_FOUND)
        pkg_check_modules(PROTOBUFC QUIET IMPORTED_TARGET libprotobuf-c)
      endif()
      if(TARGET PkgConfig::PROTOBUFC)
        include("${_AM_PROTOBUF_DIR}/atomicmatrixProtobufTargets.cmake")
      else()
        string(APPEND ${_am_err} "\n  libprotobuf-c (with pkg-config) not found: apt-get install libprotobuf-c-dev pkg-config")
      endif()
    endif()
    find_program(PROTOC protoc)
    if(NOT PROTOC)
      string(APPEND ${_am_err} "\n  protoc not found: apt-get install protobuf-compiler")
    endif()
    find_program(PROTOC_GEN_C protoc-gen-c)
    if(NOT PROTOC_GEN_C)
      string(APPEND ${_am_err} "\n  protoc-gen-c (protoc-c's plugin) not found: apt-get install protobuf-c-compiler")
    endif()
    if(NOT EXISTS "${AM_PROTOC_GEN_AM}")
      string(APPEND ${_am_err} "\n  protoc-gen-am not found at ${AM_PROTOC_GEN_AM}: reinstall libatomicmatrix-dev")
    endif()
  endif()
endmacro()

function(am_protobuf_generate)
  cmake_parse_arguments(G "" "TARGET" "PROTOS;IMPORT_DIRS" ${ARGN})
  if(NOT G_TARGET OR NOT G_PROTOS)
    message(FATAL_ERROR "am_protobuf_generate: TARGET and PROTOS are required")
  endif()
  _am_protobuf_find(missing)
  if(missing)
    message(FATAL_ERROR "am_protobuf_generate: atomicmatrix's protobuf support needs:${missing}")
  endif()
  set(out ${CMAKE_CURRENT_BINARY_DIR}/am_protobuf)
  file(MAKE_DIRECTORY ${out})
  if(TARGET protoc-gen-am)
    set(plugin $<TARGET_FILE:protoc-gen-am>)
    set(plugin_dep protoc-gen-am)
  else()
    set(plugin ${AM_PROTOC_GEN_AM})
    set(plugin_dep ${AM_PROTOC_GEN_AM})
  endif()
  foreach(proto ${G_PROTOS})
    get_filename_component(abs ${proto} ABSOLUTE)
    get_filename_component(dir ${abs} DIRECTORY)
    if(G_IMPORT_DIRS)
      list(GET G_IMPORT_DIRS 0 root)
      get_filename_component(root ${root} ABSOLUTE)
    else()
      set(root ${dir})
    endif()
    file(RELATIVE_PATH rel ${root} ${abs})
    string(REGEX REPLACE "\\.proto$" "" base ${rel})
    set(includes -I${root})
    foreach(d ${G_IMPORT_DIRS})
      get_filename_component(d ${d} ABSOLUTE)
      list(APPEND includes -I${d})
    endforeach()
    add_custom_command(
      OUTPUT ${out}/${base}.pb-c.c ${out}/${base}.pb-c.h ${out}/${base}.am.c ${out}/${base}.am.h
      COMMAND ${PROTOC} ${includes} --plugin=protoc-gen-c=${PROTOC_GEN_C} --plugin=protoc-gen-am=${plugin}
              --c_out=${out} --am_out=${out} ${abs}
      DEPENDS ${abs} ${plugin_dep}
      COMMENT "protoc: ${rel} -> ${base}.pb-c.[ch], ${base}.am.[ch]")
    target_sources(${G_TARGET} PRIVATE ${out}/${base}.pb-c.c ${out}/${base}.am.c)
  endforeach()
  target_include_directories(${G_TARGET} PUBLIC ${out})
  if(AM_PROTOBUF_RUNTIME)                          # set by this build tree, or the caller
    target_link_libraries(${G_TARGET} PUBLIC ${AM_PROTOBUF_RUNTIME})
  else()                                           # an installed package
    target_link_libraries(${G_TARGET} PUBLIC atomicmatrix::atomicmatrix_protobuf)
  endif()
endfunction()
