#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""bench_python — atomicmatrix from Python against what Python offers between processes.

Two processes (fork; pinned one per CPU, as bench_channel does), 64-byte messages:
  - round trip: one sends, the other answers, the first waits for the answer: the
    median of every round trip of a run (µs; as bench_channel's p50, since on a shared
    2-CPU machine a few preempted round trips would dominate a mean);
  - one-way throughput: one sends as fast as it can, the other takes every message
    (lossless: atomicmatrix's subscriber uses the blocking policy, depth 4096), messages/s;
  - the same with protobuf messages (serialized and parsed at every hop; atomicmatrix:
    publisher(message_class=...) and sample.decode() with the recorded schema).
Against multiprocessing.Queue, an os.pipe() pair and a Unix SOCK_SEQPACKET socketpair,
in the same run. Each figure is the median of --runs runs; the ratios are against
multiprocessing.Queue (the target: >= 5x its throughput, <= 1/5 of its round trip).

    PYTHONPATH=python ATOMICMATRIX_LIBRARY=build/libatomicmatrix.so \\
        /usr/bin/python3 bench/bench_python.py [--quick] [--runs N]
"""
import argparse
import multiprocessing as mp
import os
import socket
import statistics
import sys
import time

import atomicmatrix as am

SIZE = 64
ARENA = "bench_python_%d" % os.getpid()


def telemetry_class():
    """A small protobuf message (about 64 bytes serialized), built at run time."""
    from google.protobuf import descriptor_pb2
    fdp = descriptor_pb2.FileDescriptorProto(name="bench_py.proto", package="benchpy", syntax="proto3")
    m = fdp.message_type.add(name="Sample")
    F = descriptor_pb2.FieldDescriptorProto
    for i, (name, t, label) in enumerate([("seq", F.TYPE_UINT64, F.LABEL_OPTIONAL),
                                          ("name", F.TYPE_STRING, F.LABEL_OPTIONAL),
                                          ("values", F.TYPE_DOUBLE, F.LABEL_REPEATED)], 1):
        m.field.add(name=name, number=i, type=t, label=label)
    fds = descriptor_pb2.FileDescriptorSet(file=[fdp])
    return am.load_schema(fds.SerializeToString()).message("benchpy.Sample")


def make_message(cls, i):
    return cls(seq=i, name="robot-7", values=[0.5, 1.5, 2.5, 3.5, 4.5, 5.5])


# ---------------------------------------------------------------- transports
# Each is a pair of ends made before the fork; end(k) gives side k (0 parent, 1 child) a
# send(bytes) and a recv() -> bytes over the two directions.

class AmEnds:
    name = "atomicmatrix take"

    def __init__(self, typed):
        self.typed = typed
        self.cls = telemetry_class() if typed else None

    def open(self, side):
        self.arena = am.Arena(ARENA)
        out, inn = ("a2b", "b2a") if side == 0 else ("b2a", "a2b")
        # Lossless and deep (multiprocessing.Queue is unbounded): a full queue makes the
        # sender sleep until the receiver makes room, and each such hand-over costs a wake-up.
        self.sub = self.arena.subscriber(inn, policy="block", depth=4096)
        self.pub = self.arena.publisher(out, message_class=self.cls, send_timeout=None)
        deadline = time.monotonic() + 10
        while self.pub.stats().subscribers == 0 and time.monotonic() < deadline:
            time.sleep(0.001)

    def send(self, data):
        self.pub.publish(data)

    def recv(self):
        with self.sub.take() as s:
            return bytes(s.data)

    def recv_message(self):
        with self.sub.take() as s:
            return s.decode()           # the class from the schema recorded with the topic

    def close(self):
        self.arena.close()


class AmBytesEnds(AmEnds):
    name = "atomicmatrix take_bytes"

    def recv(self):
        return self.sub.take_bytes()


class AmBatchEnds(AmEnds):
    """Many messages a call each way: publish_many / take_many (am_pub_publish_packed,
    am_sub_take_copies). Round trips are single messages (take_bytes)."""
    name = "atomicmatrix batched"
    BATCH = 64

    def recv(self):
        return self.sub.take_bytes()

    def recv_message(self):
        return self.cls.FromString(self.sub.take_bytes())

    def send_batch(self, batch):            # bytes objects (typed: serialized here)
        self.pub.publish_many(batch)

    def recv_batch(self):
        return self.sub.take_many(max=self.BATCH * 4)


class QueueEnds:
    name = "multiprocessing.Queue"

    def __init__(self, typed):
        self.q = (mp.Queue(), mp.Queue())

    def open(self, side):
        self.out, self.inn = (self.q[0], self.q[1]) if side == 0 else (self.q[1], self.q[0])

    def send(self, data):
        self.out.put(data)

    def recv(self):
        return self.inn.get()

    def close(self):
        pass


class PipeEnds:
    name = "os.pipe"

    def __init__(self, typed):
        self.p = (os.pipe(), os.pipe())

    def open(self, side):
        (r0, w0), (r1, w1) = self.p
        self.r, self.w = (r1, w0) if side == 0 else (r0, w1)

    def send(self, data):     # a 4-byte length, then the bytes: one write per message
        os.write(self.w, len(data).to_bytes(4, "little") + data)

    def _read(self, n):
        b = os.read(self.r, n)
        while len(b) < n:
            b += os.read(self.r, n - len(b))
        return b

    def recv(self):
        return self._read(int.from_bytes(self._read(4), "little"))

    def close(self):
        pass


class SocketEnds:
    name = "Unix socket"

    def __init__(self, typed):
        self.s = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)

    def open(self, side):
        self.sock = self.s[side]

    def send(self, data):
        self.sock.send(data)

    def recv(self):
        return self.sock.recv(65536)

    def close(self):
        pass


CPUS = sorted(os.sched_getaffinity(0))      # before anything is pinned (a child inherits its parent's)


def pin(side):
    """Side 0 on the first CPU, side 1 on the second (as bench_channel does): two spinning
    processes on one CPU would take turns instead of running together."""
    if len(CPUS) >= 2:
        os.sched_setaffinity(0, {CPUS[side]})


TRANSPORTS = [AmEnds, AmBytesEnds, AmBatchEnds, QueueEnds, PipeEnds, SocketEnds]


# ---------------------------------------------------------------- measurements

def payloads(ends, typed):
    """(make(i) -> what ends.send takes, receive() -> a message or bytes)."""
    if typed:
        cls = telemetry_class()
        if isinstance(ends, AmEnds):
            return lambda i: make_message(cls, i), ends.recv_message
        return lambda i: make_message(cls, i).SerializeToString(), lambda: cls.FromString(ends.recv())
    data = b"x" * SIZE
    return lambda i: data, ends.recv


def two_sides(kind, typed, child_body, parent_body):
    """Run child_body(ends, make, receive) in a forked child on the second CPU and
    parent_body(...) here on the first; parent_body's result."""
    ends = kind(typed)
    make, receive = payloads(ends, typed)

    def child():
        pin(1)
        ends.open(1)
        child_body(ends, make, receive)
        ends.close()
    proc = mp.get_context("fork").Process(target=child)
    proc.start()
    pin(0)
    ends.open(0)
    result = parent_body(ends, make, receive)
    proc.join()
    ends.close()
    os.sched_setaffinity(0, CPUS)
    return result


def round_trip(kind, typed, n):
    def echo(ends, make, receive):
        for _ in range(n + 100):
            got = receive()
            ends.send(make(got.seq) if typed else got)

    def ping(ends, make, receive):
        for i in range(100):                 # warm up
            ends.send(make(i))
            receive()
        times = []
        clock = time.perf_counter
        for i in range(n):
            t = clock()
            ends.send(make(i))
            receive()
            times.append(clock() - t)
        return statistics.median(times) * 1e6          # µs, the median round trip
    return two_sides(kind, typed, echo, ping)


def throughput(kind, typed, n):
    batched = hasattr(kind, "send_batch")
    cls = telemetry_class() if typed else None

    def consume(ends, make, receive):
        ends.send(b"ready")
        if batched:                          # typed: every message parsed, as for the others
            got = 0
            while got < n:
                batch = ends.recv_batch()
                if typed:
                    for b in batch:
                        cls.FromString(b)
                got += len(batch)
        else:
            for _ in range(n):
                receive()
        ends.send(b"done")

    def produce(ends, make, receive):
        ends.recv()                          # the consumer is attached
        msgs = [make(i) for i in range(min(n, 1000))]
        t = time.perf_counter()
        if batched:                          # typed: every message serialized, as for the others
            step = kind.BATCH
            for i in range(0, n, step):
                chunk = [msgs[j % len(msgs)] for j in range(i, min(i + step, n))]
                ends.send_batch([m.SerializeToString() for m in chunk] if typed else chunk)
        else:
            for i in range(n):
                ends.send(msgs[i % len(msgs)])
        ends.recv()                          # it took them all
        return n / (time.perf_counter() - t)           # messages/s
    return two_sides(kind, typed, consume, produce)


def main():
    ap = argparse.ArgumentParser(description="atomicmatrix from Python against multiprocessing.Queue, a pipe "
                                             "and a Unix socket")
    ap.add_argument("--quick", action="store_true", help="fewer messages (a smoke run)")
    ap.add_argument("--runs", type=int, default=5, help="runs per figure (the median is reported)")
    args = ap.parse_args()
    rt_n, tp_n = (2000, 20000) if args.quick else (10000, 100000)
    runs = 1 if args.quick else args.runs
    am.Arena(ARENA, size=64 << 20).close()
    try:
        print("bench_python: %d-byte messages between two processes, median of %d run(s); Python %s, "
              "atomicmatrix %s, %d CPUs" % (SIZE, runs, sys.version.split()[0], am.version(), os.cpu_count()))
        results = {}
        for typed in (False, True):
            for kind in TRANSPORTS:
                if typed and kind is AmBytesEnds:
                    continue                          # the batched row is its typed form
                rt = statistics.median(round_trip(kind, typed, rt_n) for _ in range(runs))
                tp = statistics.median(throughput(kind, typed, tp_n) for _ in range(runs))
                results[(kind.name, typed)] = (rt, tp)
        for typed in (False, True):
            print("\n%s" % ("protobuf messages (serialized and parsed every hop)" if typed else "bytes"))
            print("| transport | round trip µs | vs Queue | one-way msgs/s | vs Queue |")
            print("| --- | ---: | ---: | ---: | ---: |")
            q_rt, q_tp = results[("multiprocessing.Queue", typed)]
            for kind in TRANSPORTS:
                if (kind.name, typed) not in results:
                    continue
                rt, tp = results[(kind.name, typed)]
                print("| %s | %.1f | %.2fx | %.0f | %.2fx |" % (kind.name, rt, rt / q_rt, tp, tp / q_tp))
        ok = True
        for typed in (False, True):
            rt, tp = results[("atomicmatrix take", typed)]
            _, btp = results[("atomicmatrix batched", typed)]
            q_rt, q_tp = results[("multiprocessing.Queue", typed)]
            what = "typed" if typed else "bytes"
            print("\ntarget (%s): throughput >= 5x Queue: %.1fx one by one, %.1fx batched %s; round trip <= 1/5 of "
                  "Queue: %.2fx %s" % (what, tp / q_tp, btp / q_tp, "met" if btp >= 5 * q_tp else "MISSED",
                                       rt / q_rt, "met" if rt * 5 <= q_rt else "MISSED"), end="")
            ok = ok and btp >= 5 * q_tp and rt * 5 <= q_rt
        print()
        return 0 if ok or args.quick else 1
    finally:
        am.Arena.unlink(ARENA)


if __name__ == "__main__":
    sys.exit(main())
