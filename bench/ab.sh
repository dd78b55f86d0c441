#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Compare two revisions of the library on one small stream, interleaved: this VM's
# speed moves by several times between phases, so only runs side by side compare.
#   bench/ab.sh REV_A REV_B [ROUNDS] [bench_stream options]
# e.g. bench/ab.sh HEAD~1 HEAD 10 --subs 4
# Builds libatomicmatrix (Release) of each revision in a scratch worktree and
# bench_stream once (it links the shared library, loaded from LD_LIBRARY_PATH), then
# runs A and B in turn ROUNDS times; prints each round's msgs/s and B/A, and the
# medians. Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/.."
rev_a=${1:?revision A} rev_b=${2:?revision B} rounds=${3:-10}
shift $(( $# < 3 ? $# : 3 ))
work=$(mktemp -d /tmp/am-ab.XXXXXX)
trap 'git worktree remove --force "$work/src" 2>/dev/null || true; rm -rf "$work"' EXIT

build_lib() {   # build_lib REV DIR: that revision's shared library into DIR
    git worktree add --detach --force "$work/src" "$1" > /dev/null 2>&1
    cmake -S "$work/src" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DAM_BUILD_TESTS=OFF > /dev/null
    cmake --build "$work/build" -j"$(nproc)" --target atomicmatrix > /dev/null
    mkdir -p "$2" && cp -L "$work/build/libatomicmatrix.so.0" "$2/"
    git worktree remove --force "$work/src" && rm -rf "$work/build"
}
build_lib "$rev_a" "$work/A"
build_lib "$rev_b" "$work/B"
cmake -S . -B "$work/stream" -DCMAKE_BUILD_TYPE=Release -DAM_BUILD_TESTS=OFF > /dev/null
cmake --build "$work/stream" -j"$(nproc)" --target bench_stream > /dev/null

echo "round  A ($rev_a)  B ($rev_b)  B/A   (M msgs/s; bench_stream $*)"
for i in $(seq "$rounds"); do
    a=$(LD_LIBRARY_PATH="$work/A" "$work/stream/bench_stream" "$@" | awk '{print $1}')
    b=$(LD_LIBRARY_PATH="$work/B" "$work/stream/bench_stream" "$@" | awk '{print $1}')
    echo "$i $a $b $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b / a }')"
done | tee "$work/rounds"
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
echo "median: A $(awk '{print $2}' "$work/rounds" | median)  B $(awk '{print $3}' "$work/rounds" | median)  B/A $(awk '{print $4}' "$work/rounds" | median)"
