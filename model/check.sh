#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Model-check a spin model: safety (assertions, invalid end states).
# usage: model/check.sh WORKDIR [MODEL.pml] [extra spin -D options]
#   MODEL.pml defaults to free_protocol.pml (the arena's free path).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${1:?work dir}
shift
model=free_protocol.pml
if [ $# -gt 0 ] && [[ $1 == *.pml ]]; then
    model=$1
    shift
fi
mkdir -p "$work"
cd "$work"
cp "$here/$model" .
spin -a "$@" "$model" > /dev/null
cc -O2 -w -DSAFETY -o pan pan.c
./pan -m300000 > pan.out 2>&1 || true
grep -E "errors:|states, stored" pan.out
grep -q "errors: 0" pan.out
