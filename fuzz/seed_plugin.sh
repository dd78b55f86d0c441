#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The seed corpus of fuzz_plugin: the CodeGeneratorRequests protoc sends a plugin for
# each tests/codegen/*.proto (and the two clash/ files in one run), written to DIR by
# this script acting as the plugin (it answers with an empty response).
#   fuzz/seed_plugin.sh PROTOC DIR
set -euo pipefail
if [ -n "${AM_SEED_REQUEST:-}" ]; then        # called by protoc as protoc-gen-dump
    cat > "$AM_SEED_REQUEST"
    exit 0                                    # no bytes: an empty CodeGeneratorResponse
fi
protoc=$1 dir=$2
here=$(cd "$(dirname "$0")" && pwd)
codegen=$here/../tests/codegen
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
dump() {   # dump NAME PROTOC-ARGS...
    local name=$1
    shift
    AM_SEED_REQUEST="$dir/$name.req" "$protoc" --plugin=protoc-gen-dump="$here/seed_plugin.sh" \
        --dump_out="$tmp" "$@"
}
for p in "$codegen"/*.proto; do
    dump "$(basename "$p" .proto)" -I"$codegen" -I/usr/include "$(basename "$p")"
done
dump clash -I"$codegen/clash" snake.proto camel.proto
