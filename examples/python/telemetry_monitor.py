#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Watch the C typed demo's telemetry from Python, decoded live with no generated code:
the message class comes from the schema the C publisher recorded with its topic.

    build/typed_demo demo robot 500 100 &           # 500 frames at 100 Hz (waits for us)
    python3 examples/python/telemetry_monitor.py demo 500 [--async]
"""
import argparse
import asyncio
import sys

import atomicmatrix as am


def show(sample, t, every):
    if t.seq % every == 0 or t.seq == 1:
        print("telemetry %d from %s at (%.1f, %.1f) heading %.2f, %d joints, %d-byte camera frame"
              " (%d bytes in the arena at 0x%x, seq %d)"
              % (t.seq, t.name, t.pose.x, t.pose.y, t.pose.theta, len(t.joints), len(t.camera),
                 len(sample), sample.address, sample.seq))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("arena")
    ap.add_argument("count", type=int, nargs="?", default=2000)
    ap.add_argument("--async", dest="use_async", action="store_true", help="take with asyncio")
    args = ap.parse_args()
    every = max(1, args.count // 5)
    with am.Arena(args.arena) as arena:
        # Lossless for the demo: the robot waits (its send timeout) rather than drop for us.
        sub = arena.subscriber("robot/telemetry", policy="block", depth=64)
        if args.use_async:
            async def run():
                for _ in range(args.count):
                    with await sub.take_async() as s:
                        show(s, s.decode(), every)
            asyncio.run(run())
        else:
            for _ in range(args.count):
                with sub.take(timeout=10) as s:       # s.data: a read-only view of the arena block
                    show(s, s.decode(), every)        # decoded with the topic's recorded schema
        chan = next(c for c in arena.channels() if c.name == "robot/telemetry")
        print("ok: %d messages of %s (fingerprint %016x) decoded from the recorded schema"
              % (args.count, chan.type, chan.fingerprint))
    return 0


if __name__ == "__main__":
    sys.exit(main())
