# SPDX-License-Identifier: Apache-2.0
"""Samples are views of the arena itself, and die with their block."""
import os

import pytest

import atomicmatrix as am


def arena_mapping(name):
    """(start, end) of this process's mapping of the arena file, found by its inode (the
    creator maps the file under its temporary name, before linking it into place)."""
    path = os.path.join(os.environ.get("AM_SHM_DIR", "/dev/shm"), "am." + name)
    inode = os.stat(path).st_ino
    with open("/proc/self/maps") as f:
        for line in f:
            fields = line.split()
            if len(fields) >= 6 and int(fields[4]) == inode and "/am." in fields[5]:
                lo, hi = fields[0].split("-")
                return int(lo, 16), int(hi, 16)
    raise AssertionError("no mapping of %s (inode %d)" % (path, inode))


def test_sample_is_a_view_into_the_arena(arena):
    lo, hi = arena_mapping(arena.name)
    p, s = arena.publisher("z"), arena.subscriber("z")
    payload = os.urandom(4096)
    p.publish(payload)
    m = s.take(timeout=1)
    assert lo <= m.address and m.address + len(m) <= hi
    assert arena.offset(m.address) == m.address - lo
    assert m.data.readonly and m.data == payload
    with pytest.raises(TypeError):
        m.data[0] = 1                      # read-only
    view = m.data
    m.ack()
    with pytest.raises(ValueError):        # the view handed out is released by ack
        view[0]
    with pytest.raises(ValueError):
        m.data
    with pytest.raises(am.EINVAL):
        m.ack()


def test_loan_is_written_in_place(arena):
    lo, hi = arena_mapping(arena.name)
    p, s = arena.publisher("z"), arena.subscriber("z")
    loan = p.loan(1 << 20)
    assert lo <= loan.address < hi and not loan.data.readonly and len(loan.data) == 1 << 20
    loan.data[:5] = b"hello"
    loan.data[-1] = 7
    loan.send(5)
    with pytest.raises(ValueError):
        loan.data
    with s.take(timeout=1) as m:
        assert m.address == loan.address   # the same block: nothing was copied
        assert m.data == b"hello"
    with p.loan(16) as unsent:             # leaving the block unsent discards it
        unsent.data[:] = b"x" * 16
    assert p.stats().sent == 1
    with pytest.raises(am.ETIMEDOUT):
        s.take(0)


def test_ack_refused_while_the_data_is_referenced(arena):
    p, s = arena.publisher("z"), arena.subscriber("z")
    p.publish(b"abcdef")
    m = s.take(timeout=1)
    part = m.data[2:4]
    with pytest.raises(BufferError):
        m.ack()
    assert part == b"cd"                   # still valid: nothing was released
    del part
    exported = memoryview(m.data)
    with pytest.raises(BufferError):
        m.ack()
    exported.release()
    m.ack()
    assert s.stats().held == 0


def test_closing_the_subscriber_kills_its_views(arena):
    p, s = arena.publisher("z"), arena.subscriber("z")
    p.publish(b"abc")
    m = s.take(timeout=1)
    view = m.data
    s.close()
    with pytest.raises(ValueError):
        bytes(view)
    assert m.acked
    p.close()
    assert arena.stats().used_blocks == 0
