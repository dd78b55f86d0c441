#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# amctl --version prints the project's version; amctl --help and the man page amctl(1)
# list the same commands, and every option --help names is in the man page.
#   tests/man/run.sh AMCTL MANPAGE VERSION
set -euo pipefail
amctl=$1 man=$2 version=$3
fail() { echo "FAIL: $*"; exit 1; }

out=$("$amctl" --version)
[ "$out" = "amctl $version (atomicmatrix library $version)" ] || fail "amctl --version said '$out'"

help=$("$amctl" --help)
from_help=$(echo "$help" | sed -n 's/^  amctl \([a-z][a-z]*\).*/\1/p' | LC_ALL=C sort)
# the man page: the first word of each tagged paragraph in COMMANDS
from_man=$(awk '/^\.SH /{ sec = $2 } sec == "COMMANDS" && tp { print; tp = 0 } /^\.TP/{ tp = (sec == "COMMANDS") }' "$man" \
           | sed 's/\\f[BIR]//g' | awk '{ print $1 }' | LC_ALL=C sort)
[ -n "$from_help" ] || fail "no commands in amctl --help"
[ "$from_help" = "$from_man" ] || fail "amctl --help lists [$(echo $from_help)], $(basename "$man") [$(echo $from_man)]"
for opt in $(echo "$help" | grep -o -- '--[a-z][a-z-]*' | sort -u); do
    grep -q -- "\\\\-\\\\-${opt#--}" "$man" || fail "option $opt of amctl --help is not in $(basename "$man")"
done
# each command's own --help works
for c in $from_help; do "$amctl" "$c" --help > /dev/null || fail "amctl $c --help"; done
echo "amctl $version: commands [$(echo $from_help)] in --help and the man page"
