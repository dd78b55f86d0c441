# SPDX-License-Identifier: Apache-2.0
"""Topics and services between processes, Python and C in every pairing."""
import pytest

import atomicmatrix as am

N = 2000
PAIRS = [("py", "py"), ("c", "py"), ("py", "c")]


@pytest.mark.parametrize("pub_kind,sub_kind", PAIRS)
def test_pubsub_across_processes(arena, peers, pub_kind, sub_kind):
    sub = peers(sub_kind, arena.name, "sub", "t/x", N).expect("ready")
    pub = peers(pub_kind, arena.name, "pub", "t/x", N).expect("ready")
    pub.wait()
    sub.wait()
    assert arena.channels() == []          # both closed: the topic is gone
    assert arena.stats().used_blocks == 0


@pytest.mark.parametrize("client_kind,server_kind", PAIRS)
def test_service_across_processes(arena, peers, client_kind, server_kind):
    srv = peers(server_kind, arena.name, "server", "echo", 500).expect("ready")
    cli = peers(client_kind, arena.name, "call", "echo", 500).expect("ready")
    cli.wait()
    srv.wait()
    assert arena.stats().used_blocks == 0


def test_python_client_sees_failure_status(arena, peers):
    peers("c", arena.name, "server", "echo", 2).expect("ready")
    c = arena.client("echo")
    with pytest.raises(am.EREMOTE) as e:
        c.call(b"x", timeout=5, method=7)
    assert c.status == 42 and "status 42" in str(e.value)
    with c.call(b"abc", timeout=5) as reply:
        assert reply.data == b"echo:abc"


def test_in_process_pubsub_history_and_stats(arena):
    p = arena.publisher("h", history=4)
    for i in range(6):
        p.publish(bytearray(b"%d" % i))          # any buffer
    s = arena.subscriber("h", history=4)
    got = []
    for _ in range(4):
        with s.take(timeout=1) as m:
            got.append((m.seq, bytes(m.data)))
    assert got == [(3, b"2"), (4, b"3"), (5, b"4"), (6, b"5")]
    p.publish(memoryview(b"live"))
    m = s.take(timeout=1)
    assert m.seq == 7 and m.data == b"live" and len(m) == 4 and m.send_ns > 0
    assert s.stats().held == 1
    m.ack()
    assert s.stats() == am._core.SubStats(received=5, dropped=0, queued=0, held=0)
    assert p.stats().sent == 7 and p.stats().subscribers == 1


def test_drop_policies(arena):
    p = arena.publisher("d")
    newest = arena.subscriber("d", policy="drop_newest", depth=2)
    oldest = arena.subscriber("d", depth=2)
    for i in range(1, 6):
        p.publish(b"%d" % i)
    assert [bytes(newest.take(0).data) for _ in range(2)] == [b"1", b"2"]
    assert [bytes(oldest.take(0).data) for _ in range(2)] == [b"4", b"5"]
    assert newest.stats().dropped == 3 and oldest.stats().dropped == 3


def test_server_in_process_with_context_managers(arena):
    with arena.server("svc") as srv, arena.client("svc") as cli:
        import threading
        def serve():
            with srv.take(timeout=5) as r:
                r.reply(bytes(r.data).upper())
            srv.take(timeout=5).drop()
        t = threading.Thread(target=serve)
        t.start()
        with cli.call(b"hi", timeout=5) as reply:
            assert reply.data == b"HI"
        with pytest.raises(am.ETIMEDOUT):
            cli.call(b"dropped", timeout=0.2)
        t.join()
    assert arena.channels() == []


def test_discovery(arena_name, peers):
    with am.Arena(arena_name, node="cell-7") as a:
        p = a.publisher("robot/pose", type="robot.Pose")
        srv = a.server("calc")
        peer = peers("c", a.name, "sub", "robot/pose", 1).expect("ready")
        chans = {c.name: c for c in a.channels()}
        assert chans["robot/pose"].kind == "topic" and chans["robot/pose"].type == "robot.Pose"
        assert chans["robot/pose"].publishers == 1 and chans["robot/pose"].subscribers == 1
        assert chans["calc"].kind == "service" and chans["calc"].servers == 1
        ports = a.ports("robot/pose")
        mine = [q for q in ports if q.role == "publisher"][0]
        theirs = [q for q in ports if q.role == "subscriber"][0]
        assert mine.node == "cell-7" and theirs.pid == peer.p.pid and theirs.process == "pyhelper"
        assert {x.pid for x in a.participants()} >= {peer.p.pid}
        p.publish(b"msg 1")
        peer.wait()
        with pytest.raises(am.ENOENT):
            a.ports("no/such")
        srv.close()
        p.close()


def test_publish_many_and_take_many(arena):
    """Many messages a call each way (am_pub_publish_packed, am_sub_take_copies), in
    order; a message larger than what take_many may copy stays for the next take."""
    s = arena.subscriber("batch", depth=256)
    p = arena.publisher("batch")
    msgs = [b"m%03d" % i * (i % 5 + 1) for i in range(200)]
    assert p.publish_many(msgs) == 200
    assert p.publish_many([]) == 0
    got = []
    while len(got) < 200:
        got += s.take_many(max=64, timeout=1)
    assert got == msgs
    with pytest.raises(am.ETIMEDOUT):
        s.take_many(timeout=0)
    big = b"B" * 5000
    assert p.publish_many([b"small", big, b"after"]) == 3
    assert s.take_many(max=8, timeout=1, max_bytes=4096) == [b"small"]     # big stays taken
    with pytest.raises(am.ETOOBIG):
        s.take_many(max=8, timeout=1, max_bytes=4096)
    with s.take(timeout=1) as m:                                           # take() gets it
        assert bytes(m.data) == big and m.seq == 202
    assert s.take_many(timeout=1) == [b"after"]
    with pytest.raises(ValueError):
        s.take_many(max=0)
    with pytest.raises(TypeError):
        p.publish_many([b"ok", "not bytes"])
    assert arena.stats().used_blocks > 0               # the ports' own blocks
    s.close()
    p.close()
    assert arena.stats().used_blocks == 0
