#!/usr/bin/env bash
# The main job: build atomicmatrix and run its demos, each on a fresh default arena
# (/dev/shm/am.demo; --name NAME picks another name):
#   1. pub/sub: a publisher and two subscriber processes (one lossless and checking
#      every sample, one slow that drops the oldest), a late joiner with history;
#      then a short rerun where the slow one is lossless and holds the publisher back;
#   2. request/response: two servers, three clients; one server is killed with SIGKILL;
#   3. the bare arena: processes allocate, share and ack blocks; one is killed.
# Each demo checks itself and exits non-zero on a failed check, which stops the script.
set -euo pipefail
cd "$(dirname "$0")/.."
name=demo
while [ $# -gt 0 ]; do
    case "$1" in
        --name) name="${2:?--name needs a value}"; shift 2 ;;
        *) echo "usage: scripts/demo.sh [--name NAME]" >&2; exit 2 ;;
    esac
done
bash scripts/deps.sh
echo "== building (build/)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo > /dev/null
cmake --build build -j"$(nproc)" --target pubsub_demo service_demo arena_demo > /dev/null
echo
echo "== 1. publish/subscribe"
./build/pubsub_demo "$name"
echo
echo "== 1b. the same with a lossless slow subscriber: back-pressure slows the publisher"
./build/pubsub_demo "$name" --slow-policy block --seconds 1
echo
echo "== 2. request/response, and a server killed with SIGKILL"
./build/service_demo "$name"
echo
echo "== 3. the arena underneath: blocks shared between processes, one killed"
./build/arena_demo --name "$name" --seconds 1
