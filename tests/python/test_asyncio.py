# SPDX-License-Identifier: Apache-2.0
"""asyncio: the waitset's descriptor in the event loop; no thread polls."""
import asyncio
import threading

import atomicmatrix as am


def test_take_async_and_async_for(arena, peers):
    n = 300
    s = arena.subscriber("t/async", policy="block", depth=64)

    async def main():
        threads = threading.active_count()
        peers("c", arena.name, "pub", "t/async", n).expect("ready")
        first = await asyncio.wait_for(s.take_async(), 10)
        with first:
            assert first.seq == 1 and first.data == b"msg 1"
        got = 1
        async for m in s:
            with m:
                got += 1
                assert m.seq == got and m.data == b"msg %d" % got
            if got == n:
                break
        assert threading.active_count() == threads     # no helper thread
        return got

    assert asyncio.run(main()) == n


def test_waiting_is_concurrent_with_other_tasks(arena):
    a, b = arena.subscriber("a"), arena.subscriber("b")
    pa, pb = arena.publisher("a"), arena.publisher("b")

    async def main():
        ta = asyncio.ensure_future(a.take_async())
        tb = asyncio.ensure_future(b.take_async())
        await asyncio.sleep(0.05)
        assert not ta.done() and not tb.done()
        pb.publish(b"to b")
        sb = await asyncio.wait_for(tb, 5)
        assert not ta.done()
        pa.publish(b"to a")
        sa = await asyncio.wait_for(ta, 5)
        with sa, sb:
            return bytes(sa.data), bytes(sb.data)

    assert asyncio.run(main()) == (b"to a", b"to b")


def test_server_take_async(arena):
    srv = arena.server("svc")
    cli = arena.client("svc")

    async def main():
        req = asyncio.ensure_future(srv.take_async())
        loop = asyncio.get_running_loop()
        def call_blocking():
            with cli.call(b"ping", timeout=5) as reply:
                return bytes(reply.data)
        call = loop.run_in_executor(None, call_blocking)
        r = await asyncio.wait_for(req, 5)
        r.reply(b"pong:" + bytes(r.data))
        return await call

    assert asyncio.run(main()) == b"pong:ping"
