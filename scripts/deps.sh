#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Install the Debian packages atomicmatrix needs to build and test, if missing.
# Sourced or run by scripts/demo.sh and scripts/test.sh; needs root only when
# something is missing.
set -euo pipefail

AM_PACKAGES=(gcc make cmake pkg-config python3 libck-dev libprotobuf-c-dev protobuf-c-compiler protobuf-compiler libprotobuf-dev libprotoc-dev check libsubunit-dev spin lintian)

missing=()
for p in "${AM_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "== installing: ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        echo "error: missing packages (${missing[*]}); run as root or install them" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
