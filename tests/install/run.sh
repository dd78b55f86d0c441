#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Install this build into a scratch prefix, then build and run the projects of
# tests/install against it: the core alone (find_package(atomicmatrix), which must not
# look for protoc), and find_package(... COMPONENTS protobuf) with a generated library.
#   tests/install/run.sh BUILD_DIR WORK_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$1 work=$2
rm -rf "$work" && mkdir -p "$work"
cmake --install "$build" --prefix "$work/prefix" > "$work/install.log"
[ ! -e "$work/prefix/include/atomicmatrix/testing.h" ] || { echo "FAIL: testing.h is installed"; exit 1; }
bash "$here/consume.sh" "$work" -DCMAKE_PREFIX_PATH="$work/prefix"
# Without libprotobuf-c (pkg-config hidden from CMake) the protobuf component fails, and
# says which Debian package to install.
if cmake -S "$here" -B "$work/nopb" -DCMAKE_PREFIX_PATH="$work/prefix" -DCMAKE_DISABLE_FIND_PACKAGE_PkgConfig=TRUE \
        > "$work/nopb.log" 2>&1; then
    echo "FAIL: find_package(atomicmatrix COMPONENTS protobuf) succeeded without libprotobuf-c"; exit 1
fi
grep -q "apt-get install libprotobuf-c-dev" "$work/nopb.log" || { echo "FAIL: no package named:"; cat "$work/nopb.log"; exit 1; }
echo "without libprotobuf-c: $(grep -m1 'libprotobuf-c (with pkg-config) not found' "$work/nopb.log" | sed 's/^ *//')"
