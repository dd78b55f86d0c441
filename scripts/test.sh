#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The whole test suite: build and run every Check suite through CTest, then again
# under ASan+UBSan, then the threaded tests under TSan, then a short slice of each
# libFuzzer target (scripts/fuzz.sh).
#   scripts/test.sh            all four
#   scripts/test.sh plain|asan|tsan|fuzz   one of them
# Long runs: AM_SOAK_SECONDS=N (stress), AM_CRASH_DEATHS=N (crash injection),
# AM_CHANNEL_DEATHS=N (channel roles killed), AM_FANOUT_MESSAGES=N (fan-out),
# AM_FUZZ_SECONDS=N (each fuzz target; 20 by default).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-all}
# clang and libFuzzer only for the fuzz stage.
if [ "$mode" = all ] || [ "$mode" = fuzz ]; then bash scripts/deps.sh --fuzz; else bash scripts/deps.sh; fi
jobs=$(nproc)

run() {   # run NAME BUILD_DIR CTEST_ARGS CMAKE_ARGS...
    local name=$1 dir=$2 ctest_args=$3
    shift 3
    echo "== $name: configure and build ($dir/)"
    cmake -S . -B "$dir" "$@" > /dev/null
    cmake --build "$dir" -j"$jobs" > /dev/null
    echo "== $name: tests"
    (cd "$dir" && ctest --output-on-failure --timeout 900 $ctest_args)
}

if [ "$mode" = all ] || [ "$mode" = plain ]; then
    # Debian's interpreter, where deps.sh installed cffi, pytest and protobuf (a python3
    # earlier on PATH, e.g. pyenv's, may lack them; the python tests are then left out).
    run plain build "" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPython3_EXECUTABLE=/usr/bin/python3
    echo "== plain: benchmark smoke runs"
    ./build/bench_alloc --quick > /dev/null
    ./build/bench_channel --quick > /dev/null
    ./build/bench_protobuf --quick > /dev/null
    ./build/bench_stream --messages 20000 --subs 2 > /dev/null
    # am-bridge against plain libnats (needs nats-server, which deps.sh installs)
    if [ -x build/bench_bridge ] && command -v nats-server > /dev/null; then ./build/bench_bridge --quick > /dev/null; fi
    PYTHONPATH=python ATOMICMATRIX_LIBRARY=build/libatomicmatrix.so /usr/bin/python3 bench/bench_python.py --quick > /dev/null
fi
if [ "$mode" = all ] || [ "$mode" = asan ]; then
    # Not the spin models again (label model): they check a model, not our binaries.
    ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
        run "ASan+UBSan" build-asan "-LE model" -DCMAKE_BUILD_TYPE=Debug -DAM_SANITIZE=address
fi
if [ "$mode" = all ] || [ "$mode" = tsan ]; then
    # tests/tsan.supp: the slot copies inside ck_ring, ordered by fences TSan cannot see
    TSAN_OPTIONS="halt_on_error=1 suppressions=$PWD/tests/tsan.supp" run TSan build-tsan "-L threads" -DCMAKE_BUILD_TYPE=Debug -DAM_SANITIZE=thread
fi
if [ "$mode" = all ] || [ "$mode" = fuzz ]; then
    # 20 s a target keeps CI short; longer runs: scripts/fuzz.sh SECONDS.
    AM_FUZZ_JOBS=$jobs bash scripts/fuzz.sh "${AM_FUZZ_SECONDS:-20}"
fi
echo "== all tests passed ($mode)"
