#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Golden tests of protoc-gen-am's output, and its answers to bad input.
#   tests/codegen/run.sh check  PROTOC PROTOC_GEN_C PLUGIN WORKDIR   (CTest)
#   tests/codegen/run.sh update PROTOC PROTOC_GEN_C PLUGIN WORKDIR   (refresh golden/)
# check: regenerates every *.proto here and diffs the .am.[ch] against golden/; then
# feeds the plugin a malformed request (it must fail with a message), a request naming
# a file it does not carry, a streaming rpc, a name clash within a file and one across
# the files of a run (protoc must fail with the plugin's message, not write C).
set -euo pipefail
mode=$1 protoc=$2 genc=$3 plugin=$4 work=$5
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$work" && mkdir -p "$work/out"
gen() { "$protoc" -I"$here" -I/usr/include --plugin=protoc-gen-c="$genc" --plugin=protoc-gen-am="$plugin" \
        --c_out="$work/out" --am_out="$work/out" "$@"; }
for p in "$here"/*.proto; do gen "$(basename "$p")"; done
if [ "$mode" = update ]; then
    mkdir -p "$here/golden"
    cp "$work"/out/*.am.h "$work"/out/*.am.c "$here/golden/"
    echo "golden files updated"
    exit 0
fi
for f in "$here"/golden/*; do
    diff -u "$f" "$work/out/$(basename "$f")"
done
echo "golden: $(ls "$here"/golden | wc -l) files identical"

expect_fail() {   # expect_fail WHAT PATTERN COMMAND...
    local what=$1 pattern=$2
    shift 2
    if "$@" > "$work/err.txt" 2>&1; then echo "FAIL: $what: succeeded"; exit 1; fi
    grep -q -- "$pattern" "$work/err.txt" || { echo "FAIL: $what: no '$pattern' in:"; cat "$work/err.txt"; exit 1; }
    echo "ok: $what"
}
printf '\x0a\xff\xff\xff\xff\x0f' > "$work/garbage.bin"
expect_fail "a malformed request" "not a CodeGeneratorRequest" sh -c "\"$plugin\" < \"$work/garbage.bin\""
# A request (built from text with protoc --encode) naming a file it does not carry.
printf 'file_to_generate: "missing.proto"\n' |
    "$protoc" -I/usr/include --encode=google.protobuf.compiler.CodeGeneratorRequest google/protobuf/compiler/plugin.proto \
    > "$work/missing.bin"
"$plugin" < "$work/missing.bin" |
    "$protoc" -I/usr/include --decode=google.protobuf.compiler.CodeGeneratorResponse google/protobuf/compiler/plugin.proto \
    > "$work/resp.txt"
grep -q 'error: "missing.proto: not among the request' "$work/resp.txt" || { echo "FAIL: missing file"; cat "$work/resp.txt"; exit 1; }
echo "ok: a request naming a file it does not carry"
# Hostile requests (protoc never sends these): names that would inject C, a file
# name that would write outside the output directory.
hostile() {   # hostile WHAT REQUEST_TEXT
    printf '%s\n' "$2" |
        "$protoc" -I/usr/include --encode=google.protobuf.compiler.CodeGeneratorRequest google/protobuf/compiler/plugin.proto \
        > "$work/hostile.bin"
    "$plugin" < "$work/hostile.bin" |
        "$protoc" -I/usr/include --decode=google.protobuf.compiler.CodeGeneratorResponse google/protobuf/compiler/plugin.proto \
        > "$work/resp.txt"
    grep -q '^error:' "$work/resp.txt" && ! grep -q '^file' "$work/resp.txt" ||
        { echo "FAIL: $1"; cat "$work/resp.txt"; exit 1; }
    echo "ok: $1"
}
hostile "a message name that would inject C" \
    'file_to_generate: "e.proto" proto_file { name: "e.proto" package: "p" message_type { name: "X; int evil(void)" } }'
hostile "an rpc type that would inject C" \
    'file_to_generate: "e.proto" proto_file { name: "e.proto" message_type { name: "M" }
     service { name: "S" method { name: "m" input_type: ".M)); system(\"x\"" output_type: ".M" } } }'
hostile "a file name outside the output directory" \
    'file_to_generate: "../escape.proto" proto_file { name: "../escape.proto" message_type { name: "M" } }'
hostile "a package that is not a dotted name" \
    'file_to_generate: "e.proto" proto_file { name: "e.proto" package: "a..b" message_type { name: "M" } }'
mkdir -p "$work/bad"
cat > "$work/bad/stream.proto" <<'P'
syntax = "proto3";
message M { int32 a = 1; }
service S { rpc Watch(M) returns (stream M); }
P
cat > "$work/bad/clash.proto" <<'P'
syntax = "proto3";
message Foo_Bar { int32 a = 1; }
message FooBar { int32 b = 1; }
P
expect_fail "a streaming rpc" "supports unary rpcs only" \
    "$protoc" -I"$work/bad" --plugin=protoc-gen-am="$plugin" --am_out="$work/bad" stream.proto
expect_fail "a C name clash" "another definition already uses" \
    "$protoc" -I"$work/bad" --plugin=protoc-gen-am="$plugin" --am_out="$work/bad" clash.proto
# clash/: packages foo_bar and fooBar give the same C names. Each file alone is fine;
# both in one run would not link together, so the run is refused naming both files.
mkdir -p "$work/apart" "$work/together"
for p in snake camel; do
    "$protoc" -I"$here/clash" --plugin=protoc-gen-am="$plugin" --am_out="$work/apart" $p.proto
    [ -e "$work/apart/$p.am.c" ] || { echo "FAIL: $p.proto alone wrote no C"; exit 1; }
done
echo "ok: the files of a cross-file clash, each in its own run"
expect_fail "a C name clash across files" "camel.proto: Pose gives the C name foo_bar__pose__am_publish, which a definition in snake.proto" \
    "$protoc" -I"$here/clash" --plugin=protoc-gen-am="$plugin" --am_out="$work/together" snake.proto camel.proto
[ ! -e "$work/bad/stream.am.c" ] && [ ! -e "$work/bad/clash.am.c" ] && [ -z "$(ls "$work/together")" ] ||
    { echo "FAIL: C written for bad input"; exit 1; }
echo "codegen: all checks passed"
