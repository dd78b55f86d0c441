#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The README's first program is examples/first.c, line for line (the file CI builds).
#   tests/docs/readme_first.sh SOURCE_DIR
set -euo pipefail
src=$1
tail -n +2 "$src/examples/first.c" > "${TMPDIR:-/tmp}/am_first_$$.c"
trap 'rm -f "${TMPDIR:-/tmp}/am_first_$$.c"' EXIT
if ! python3 - "$src/README.md" "${TMPDIR:-/tmp}/am_first_$$.c" <<'PY'
import sys
readme, first = open(sys.argv[1]).read(), open(sys.argv[2]).read()
sys.exit(0 if "```c\n" + first + "```" in readme else 1)
PY
then
    echo "FAIL: README.md does not show examples/first.c (without its SPDX line) as it is"
    exit 1
fi
echo "README.md shows examples/first.c as it is"
