#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The dynamic symbols a shared library defines (nm -D --defined-only) must be exactly
# the checked-in list: an internal function exported by accident, or a public one
# removed, fails. After a deliberate change to the public API, regenerate the list:
#   tests/abi/check.sh --update LIST LIBRARY
#   tests/abi/check.sh LIST LIBRARY
set -euo pipefail
update=0
if [ "${1:-}" = --update ]; then update=1; shift; fi
list=$1 lib=$2
actual=$(nm -D --defined-only "$lib" | awk '{ print $NF }' | LC_ALL=C sort -u)
if [ $update = 1 ]; then
    { echo "# $(basename "$lib"): its exported symbols (tests/abi/check.sh --update to regenerate)"; echo "$actual"; } > "$list"
    exit 0
fi
expected=$(grep -v '^#' "$list" | LC_ALL=C sort -u)
if [ "$actual" != "$expected" ]; then
    echo "FAIL: $(basename "$lib") exports other symbols than $list"
    diff <(echo "$expected") <(echo "$actual") | sed -n 's/^> /  exported, not in the list: /p; s/^< /  in the list, not exported: /p'
    exit 1
fi
echo "$(basename "$lib"): $(echo "$actual" | wc -l) exported symbols, as listed"
