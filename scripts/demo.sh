#!/usr/bin/env bash
# The main job: build atomicmatrix and run the arena demo on a default arena
# (several processes allocate, share and ack blocks; one is killed and reclaimed).
# Extra arguments go to the demo: --name NAME --workers N --seconds S.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
echo "== building (build/)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build build -j"$(nproc)" --target arena_demo > /dev/null
echo "== running the arena demo"
exec ./build/arena_demo "$@"
