# SPDX-License-Identifier: Apache-2.0
"""The Python peer of the tests: the same roles, arguments and exit codes as pyhelper.c.

    python3 peers.py ARENA pub|sub|server|call NAME N
    python3 peers.py ARENA hold TOPIC N     take N samples, keep them, print "held", sleep
"""
import sys
import time

import atomicmatrix as am


def ready():
    print("ready", flush=True)


def pub(arena, topic, n):
    p = arena.publisher(topic, send_timeout=10)
    ready()
    deadline = time.monotonic() + 10
    while p.stats().subscribers == 0:
        if time.monotonic() > deadline:
            return 2
        time.sleep(0.01)
    for i in range(1, n + 1):
        p.publish(b"msg %d" % i)
    return 0


def sub(arena, topic, n):
    s = arena.subscriber(topic, policy="block", depth=64)
    ready()
    for i in range(1, n + 1):
        with s.take(timeout=10) as m:
            if m.seq != i or m.data != b"msg %d" % i:
                return 3
    return 0


def server(arena, name, n):
    s = arena.server(name)
    ready()
    for _ in range(n):
        with s.take(timeout=10) as r:
            if r.method == 7:
                r.fail(42)
            else:
                r.reply(b"echo:" + bytes(r.data))
    return 0


def call(arena, name, n):
    c = arena.client(name)
    ready()
    for i in range(1, n + 1):
        for _ in range(500):
            try:
                reply = c.call(b"req %d" % i, timeout=5)
                break
            except am.ENOENT:          # no server yet
                time.sleep(0.01)
        with reply:
            if reply.data != b"echo:req %d" % i:
                return 3
    return 0


def hold(arena, topic, n):
    s = arena.subscriber(topic, depth=n + 8, max_held=n)
    ready()
    held = [s.take(timeout=10) for _ in range(n)]
    print("held %d" % len(held), flush=True)
    time.sleep(60)                     # until killed
    return 0


def main(argv):
    name, role, what, n = argv[1], argv[2], argv[3], int(argv[4])
    with am.Arena(name) as arena:
        return {"pub": pub, "sub": sub, "server": server, "call": call, "hold": hold}[role](arena, what, n)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
