#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Build and run the consumer projects of tests/install with CMake, against whatever
# install the extra CMake arguments point at.
#   tests/install/consume.sh WORK_DIR [CMAKE_ARGS...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=$1
shift
fail() { echo "FAIL: $*"; exit 1; }
cmake -S "$here/core" -B "$work/core" "$@" > "$work/core-configure.log" || fail "core: $(cat "$work/core-configure.log")"
! grep -q '^PROTOC' "$work/core/CMakeCache.txt" || fail "find_package(atomicmatrix) looked for protoc"
cmake --build "$work/core" > "$work/core-build.log" || fail "core build: $(cat "$work/core-build.log")"
"$work/core/first" | grep -q '^took "hi there"' || fail "first did not take its message"
cmake -S "$here" -B "$work/build" "$@" > "$work/configure.log" || fail "protobuf: $(cat "$work/configure.log")"
cmake --build "$work/build" > "$work/build.log" || fail "protobuf build: $(cat "$work/build.log")"
"$work/build/consumer"
"$work/build/consumer_again" > /dev/null
