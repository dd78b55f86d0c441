#!/usr/bin/env bash
# Model-check free_protocol.pml with spin: safety (assertions, invalid end states).
# usage: model/check.sh WORKDIR [extra spin -D options]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
work=${1:?work dir}
shift
mkdir -p "$work"
cd "$work"
cp "$here/free_protocol.pml" .
spin -a "$@" free_protocol.pml > /dev/null
cc -O2 -w -DSAFETY -o pan pan.c
./pan -m300000 > pan.out 2>&1 || true
grep -E "errors:|states, stored" pan.out
grep -q "errors: 0" pan.out
