# SPDX-License-Identifier: Apache-2.0
#
# Debian packages, one per install component (cpack -G DEB in a build configured with
# -DCMAKE_INSTALL_PREFIX=/usr, as tests/packages/run.sh does):
#   libatomicmatrix0     runtime  libatomicmatrix.so.0, libatomicmatrix_protobuf.so.0
#   libatomicmatrix-dev  dev      headers, static libraries, .so links, .pc files, the
#                                 CMake package (am_protobuf_generate), protoc-gen-am(1)
#   atomicmatrix-tools   tools    amctl(1)
#   python3-atomicmatrix python   the Python package atomicmatrix (cffi on
#                                 libatomicmatrix.so.0; Architecture: all)
#   atomicmatrix-bridge  bridge   am-bridge(1), topics and services over NATS; only
#                                 where libnats-dev is installed (the am-bridge target)
# The shared libraries need only libc and libprotobuf-c at run time: Concurrency Kit's
# ck_ring is header-only (no libck0), and the public headers do not include ck (the -dev
# package needs no libck-dev). amctl links the core statically; am-bridge links the
# shared library and Debian's libnats (libnats3.4).

set(AM_DEB_MAINTAINER "atomicmatrix developers <atomicmatrix@users.noreply.github.com>"
    CACHE STRING "Maintainer field of the Debian packages")

# Every package carries /usr/share/doc/<package>/copyright and changelog.gz (Debian
# policy; lintian reports their absence as errors): packaging/copyright and
# packaging/changelog.in.
set(AM_DEB_DOC ${PROJECT_BINARY_DIR}/debian-doc)
configure_file(${PROJECT_SOURCE_DIR}/packaging/changelog.in ${AM_DEB_DOC}/changelog @ONLY)
add_custom_command(OUTPUT ${AM_DEB_DOC}/changelog.gz
  COMMAND ${GZIP_PROGRAM} -9 -n -c ${AM_DEB_DOC}/changelog > ${AM_DEB_DOC}/changelog.gz
  DEPENDS ${AM_DEB_DOC}/changelog)
add_custom_target(am_deb_changelog ALL DEPENDS ${AM_DEB_DOC}/changelog.gz)
set(AM_DEB_PKG_runtime libatomicmatrix0)
set(AM_DEB_PKG_dev libatomicmatrix-dev)
set(AM_DEB_PKG_tools atomicmatrix-tools)
set(AM_DEB_PKG_python python3-atomicmatrix)
set(AM_DEB_PKG_bridge atomicmatrix-bridge)
set(AM_DEB_COMPONENTS runtime dev tools python)
if(TARGET am-bridge)
  list(APPEND AM_DEB_COMPONENTS bridge)
endif()
foreach(c ${AM_DEB_COMPONENTS})
  set(docdir ${CMAKE_INSTALL_DATAROOTDIR}/doc/${AM_DEB_PKG_${c}})
  install(FILES ${PROJECT_SOURCE_DIR}/packaging/copyright ${AM_DEB_DOC}/changelog.gz
    DESTINATION ${docdir} COMPONENT ${c})
endforeach()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME atomicmatrix)
set(CPACK_PACKAGE_VENDOR atomicmatrix)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${AM_DEB_MAINTAINER}")
set(CPACK_RESOURCE_FILE_LICENSE ${PROJECT_SOURCE_DIR}/LICENSE)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL ${AM_DEB_COMPONENTS})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_STRIP_FILES ON)           # the packages carry no debug information
# shlibs and the ldconfig trigger for the shared libraries.
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)

set(AM_DEB_LIBC "libc6 (>= 2.34)")
set(AM_DEB_PBC "libprotobuf-c1 (>= 1.0.0)")

set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME libatomicmatrix0)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION libs)
# The ldconfig trigger Debian policy asks of a shared-library package (CPack writes only
# postinst/postrm scripts that call ldconfig).
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA ${PROJECT_SOURCE_DIR}/packaging/triggers)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS "${AM_DEB_LIBC}, ${AM_DEB_PBC}")
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION
"message passing between processes through shared memory
atomicmatrix is a C library for publish/subscribe topics and request/response
services between processes on one machine, through an arena in /dev/shm:
payloads are written once and never copied, and a process killed at any
instruction is cleaned up after by its peers.
.
This package holds the shared libraries libatomicmatrix and
libatomicmatrix_protobuf (protobuf-c messages on topics and services).")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libatomicmatrix-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
  "libatomicmatrix0 (= ${PROJECT_VERSION}), ${AM_DEB_LIBC}, ${AM_DEB_PBC}, libprotobuf-c-dev")
set(CPACK_DEBIAN_DEV_PACKAGE_RECOMMENDS "pkg-config, cmake, protobuf-compiler, protobuf-c-compiler")
set(CPACK_DEBIAN_DEV_DESCRIPTION
"development files for atomicmatrix
atomicmatrix is a C library for publish/subscribe topics and request/response
services between processes on one machine, through an arena in /dev/shm.
.
This package holds the headers, the static libraries, the pkg-config files
atomicmatrix.pc and atomicmatrix-protobuf.pc, the CMake package
(find_package(atomicmatrix), am_protobuf_generate) and protoc-gen-am, the
protoc plugin that generates typed C for .proto messages and services.")

set(CPACK_DEBIAN_TOOLS_PACKAGE_NAME atomicmatrix-tools)
set(CPACK_DEBIAN_TOOLS_PACKAGE_SECTION utils)
set(CPACK_DEBIAN_TOOLS_PACKAGE_DEPENDS "${AM_DEB_LIBC}, ${AM_DEB_PBC}")
set(CPACK_DEBIAN_TOOLS_DESCRIPTION
"amctl, a tool to inspect and clean up atomicmatrix arenas
amctl lists the atomicmatrix arenas in /dev/shm, shows their figures, a map
of their blocks, their topics and services with every port, prints samples as
they arrive (decoded with the schema their publisher recorded), reclaims what
dead processes held and removes arenas.")

set(CPACK_DEBIAN_PYTHON_PACKAGE_NAME python3-atomicmatrix)
set(CPACK_DEBIAN_PYTHON_PACKAGE_SECTION python)
set(CPACK_DEBIAN_PYTHON_PACKAGE_ARCHITECTURE all)
set(CPACK_DEBIAN_PYTHON_PACKAGE_DEPENDS "python3 (>= 3.7), python3-cffi, libatomicmatrix0 (= ${PROJECT_VERSION})")
set(CPACK_DEBIAN_PYTHON_PACKAGE_RECOMMENDS "python3-protobuf")
set(CPACK_DEBIAN_PYTHON_DESCRIPTION
"Python bindings for atomicmatrix
atomicmatrix is a C library for publish/subscribe topics and request/response
services between processes on one machine, through an arena in /dev/shm.
.
This package holds the Python package atomicmatrix (cffi on the shared
library): zero-copy samples as memoryviews into the arena, services, asyncio,
discovery, and protobuf messages decoded from the schema a typed topic
records (with python3-protobuf), interoperating with C processes.")

# libnats's own shlibs entry (/var/lib/dpkg/info/libnats3.4:*.shlibs) is
# "libnats3.4 (>= 3.4.1)"; the soname (libnats.so.3.4) is in the package name, so
# another libnats ABI is another package.
set(AM_DEB_NATS "libnats3.4 (>= 3.4.1)" CACHE STRING "the libnats runtime package am-bridge depends on")
set(CPACK_DEBIAN_BRIDGE_PACKAGE_NAME atomicmatrix-bridge)
set(CPACK_DEBIAN_BRIDGE_PACKAGE_SECTION net)
set(CPACK_DEBIAN_BRIDGE_PACKAGE_DEPENDS
  "libatomicmatrix0 (= ${PROJECT_VERSION}), ${AM_DEB_LIBC}, ${AM_DEB_NATS}")
set(CPACK_DEBIAN_BRIDGE_PACKAGE_SUGGESTS "nats-server, atomicmatrix-tools")
set(CPACK_DEBIAN_BRIDGE_DESCRIPTION
"am-bridge, atomicmatrix topics and services between hosts over NATS
am-bridge attaches to one atomicmatrix arena and one NATS server and carries
the topics and services chosen by glob both ways: exported topics are
published to NATS with their type and fingerprint, imported ones appear as
local topics with the same name, type and schema, and local clients call
servers on other hosts through NATS request-reply. Bridges announce what
they export and withdraw it when its last port goes.")

include(CPack)
