#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Install the Debian packages atomicmatrix needs to build and test, if missing.
# Run by scripts/demo.sh and scripts/test.sh; needs root only when
# something is missing.
#   scripts/deps.sh           what the build and the tests need (AM_PACKAGES; nats-server and
#                             libnats-dev are for am-bridge and its tests; the python3-*
#                             ones are for the Python package's tests, tests/python)
#   scripts/deps.sh --bench   also what the benchmarks can use (AM_BENCH_PACKAGES:
#                             libzmq3-dev adds the ZeroMQ rows to bench_channel);
#                             AM_DEPS_BENCH=1 in the environment does the same.
#   scripts/deps.sh --fuzz    also what scripts/fuzz.sh needs (AM_FUZZ_PACKAGES: clang
#                             and libFuzzer, which Debian ships in libclang-rt-14-dev);
#                             AM_DEPS_FUZZ=1 does the same.
# The tests never need AM_BENCH_PACKAGES: without them the benchmarks build and run
# with fewer baselines.
set -euo pipefail

AM_PACKAGES=(gcc make cmake pkg-config python3 libck-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libprotobuf-dev libprotoc-dev check libsubunit-dev spin lintian libuv1-dev nats-server libnats-dev iproute2
             python3-cffi python3-pytest python3-protobuf)
AM_BENCH_PACKAGES=(libzmq3-dev)
AM_FUZZ_PACKAGES=(clang-14 libclang-rt-14-dev)

wanted=("${AM_PACKAGES[@]}")
for arg in "$@"; do
    case "$arg" in
        --bench) AM_DEPS_BENCH=1 ;;
        --fuzz) AM_DEPS_FUZZ=1 ;;
        *) echo "usage: $0 [--bench] [--fuzz]" >&2; exit 2 ;;
    esac
done
[ "${AM_DEPS_BENCH:-0}" = 1 ] && wanted+=("${AM_BENCH_PACKAGES[@]}")
[ "${AM_DEPS_FUZZ:-0}" = 1 ] && wanted+=("${AM_FUZZ_PACKAGES[@]}")

missing=()
for p in "${wanted[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing: ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: missing packages (${missing[*]}); run as root or install them" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
