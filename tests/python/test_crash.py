# SPDX-License-Identifier: Apache-2.0
"""A Python subscriber killed with kill -9 while holding samples is cleaned up after
like any other process: nothing leaks."""
import signal

import atomicmatrix as am


def test_killed_python_subscriber_is_reclaimed(arena, peers):
    holder = peers("py", arena.name, "hold", "t/crash", 8).expect("ready")
    p = arena.publisher("t/crash")
    for i in range(20):
        p.publish(b"x" * (100 + i))
    holder.expect("held 8")
    assert arena.stats().used_blocks > 0
    holder.p.send_signal(signal.SIGKILL)
    holder.p.wait()
    assert arena.gc() >= 1                 # its port, found dead
    arena.reclaim()
    p.close()                              # the last sender lets go of its queue
    st = arena.stats()
    assert st.used_blocks == 0 and st.used == 0 and st.free == st.heap, st
    arena.check()
    assert arena.channels() == []
