#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Every source, build, script, proto and model file names its licence in its first three
# lines (SPDX-License-Identifier). Not checked: prose, data (the fuzz regression
# inputs among them) and the golden generated outputs.
#   tests/license/spdx.sh SOURCE_DIR
set -euo pipefail
cd "$1"
if ! git rev-parse --is-inside-work-tree > /dev/null 2>&1; then
    echo "not a git checkout: nothing to list"; exit 0
fi
missing=()
while IFS= read -r f; do
    case "$f" in
        *.md|*.svg|*.symbols|LICENSE|.gitignore|packaging/*|tests/codegen/golden/*|fuzz/regressions/*) continue ;;
    esac
    [ -f "$f" ] || continue
    head -n 3 "$f" | grep -q "SPDX-License-Identifier: Apache-2.0" || missing+=("$f")
done < <(git ls-files)
if [ ${#missing[@]} -gt 0 ]; then
    echo "FAIL: no SPDX line at the top of: ${missing[*]}"; exit 1
fi
echo "every source file carries its SPDX line"
