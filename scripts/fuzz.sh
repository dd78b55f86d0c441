#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The libFuzzer targets (fuzz/): configure a clang build in build-fuzz/ (ASan+UBSan),
# build them, make the seed corpora, then run each target for the given time over its
# corpus and its regression inputs (fuzz/regressions/<target>/). Any crash, leak, hang
# (-timeout) or sanitizer report fails the script; the input is left in
# build-fuzz/artifacts/ (keep it in fuzz/regressions/<target>/ once the bug is fixed).
#   scripts/fuzz.sh [SECONDS-PER-TARGET]   default 60
# AM_FUZZ_JOBS=N builds with N jobs (default: nproc). Corpora grow in
# build-fuzz/corpus/ from run to run.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
jobs=${AM_FUZZ_JOBS:-$(nproc)}
dir=build-fuzz
cc=$(command -v clang-14 || command -v clang || true)
if [ -z "$cc" ]; then
    echo "error: clang not found (scripts/deps.sh --fuzz installs clang-14 and libFuzzer)" >&2
    exit 1
fi

echo "== fuzz: configure and build ($dir/, $cc)"
cmake -S . -B "$dir" -DCMAKE_C_COMPILER="$cc" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DAM_FUZZ=ON \
    -DAM_BUILD_TESTS=OFF -DAM_BUILD_BENCHMARKS=OFF -DAM_BUILD_EXAMPLES=OFF -DAM_BUILD_TOOLS=OFF > /dev/null
cmake --build "$dir" -j"$jobs" > /dev/null

# Seeds are made afresh each run (into the corpus, next to what earlier runs found).
corpus=$dir/corpus
rm -rf "$dir/seeds"
mkdir -p "$dir/seeds/arena_open" "$dir/seeds/pb_decode" "$dir/seeds/schema" "$dir/seeds/amctl" "$dir/seeds/plugin" \
    "$dir/seeds/channel" "$dir/artifacts"
"$dir/fuzz/seed_arena" "$PWD/$dir/seeds/arena_open"
"$dir/fuzz/seed_arena" "$PWD/$dir/seeds/channel"
"$dir/fuzz/seed_arena" "$PWD/$dir/seeds/amctl"
fuzz/seed_plugin.sh "$(grep -m1 '^PROTOC:' "$dir/CMakeCache.txt" | cut -d= -f2)" "$dir/seeds/plugin"
"$dir/fuzz/seed_pb" "$dir/seeds/pb_decode" "$dir/seeds/schema" "$dir/fuzz/proto/amtest.fds"

# ASan's and UBSan's reports end the run (libFuzzer then saves the input).
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
# max_len: an arena image (the seeds' size) for arena_open, channel and amctl; a request
# as big as the largest seed (renamed.proto's carries descriptor.proto) for plugin; a few
# KiB for the rest. timeout: per input; channel's calls may each wait out a deadline of
# the library's (1 s: a lock word that looks held by a live process).
for spec in arena_open:262144:10 channel:262144:30 pb_decode:8192:10 schema:8192:10 amctl:262144:10 plugin:65536:10; do
    t=${spec%%:*} rest=${spec#*:}
    max_len=${rest%%:*} timeout=${rest#*:}
    mkdir -p "$corpus/$t"
    cp -n "$dir/seeds/$t/"* "$corpus/$t/"
    echo "== fuzz: $t for ${seconds}s"
    log=$dir/fuzz_$t.log
    regressions=()
    [ -d "fuzz/regressions/$t" ] && regressions=("fuzz/regressions/$t")
    if ! "$dir/fuzz/fuzz_$t" -max_total_time="$seconds" -timeout="$timeout" -max_len="$max_len" \
            -artifact_prefix="$dir/artifacts/$t-" -print_final_stats=1 \
            "$corpus/$t" "${regressions[@]}" > "$log" 2>&1; then
        tail -n 60 "$log"
        echo "error: fuzz_$t failed (input in $dir/artifacts/, log $log)" >&2
        exit 1
    fi
    grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb' "$log" | sed "s/^/   $t /"
done
echo "== fuzz: no crash"
