# SPDX-License-Identifier: Apache-2.0
"""Bad arguments raise clear exceptions: AM_E* ones from the library, TypeError and
ValueError from the binding before anything reaches C."""
import pytest

import atomicmatrix as am


def test_library_errors_carry_name_and_message(arena_name):
    with pytest.raises(am.ENOENT) as e:
        am.Arena(arena_name, create=False)
    err = e.value
    assert isinstance(err, am.Error) and isinstance(err, LookupError)
    assert err.code == -4 and err.name == "AM_ENOENT" and "no such arena" in err.message
    assert "AM_ENOENT" in str(err) and arena_name in str(err)
    with pytest.raises(am.ENAME):
        am.Arena("bad/name")
    with pytest.raises(am.ETOOBIG):
        am.Arena(arena_name, size=1 << 40)


def test_port_errors(arena):
    with pytest.raises(am.ENAME, match="AM_ENAME"):
        arena.subscriber("/starts/with/slash")
    with pytest.raises(am.ENAME):
        arena.publisher("x" * 64)
    arena.publisher("typed", type=("robot.Pose", 1))
    with pytest.raises(am.ETYPE) as e:
        arena.subscriber("typed", type=("robot.Pose", 2))
    assert "robot.Pose" in str(e.value)            # am_channel_open_report: which type it has
    with pytest.raises(am.ETYPE):
        arena.server("typed")                      # a topic of that name
    s = arena.subscriber("t", max_held=1)
    arena.publisher("t").publish(b"1")
    arena.publisher("t").publish(b"2")
    held = s.take(0)
    with pytest.raises(am.EAGAIN):
        s.take(0)
    held.ack()
    with pytest.raises(am.ENOENT):
        arena.client("nobody").call(b"x", timeout=1)


def test_binding_checks_arguments(arena):
    p = arena.publisher("t")
    s = arena.subscriber("t")
    with pytest.raises(TypeError, match="bytes, a buffer"):
        p.publish(12)
    with pytest.raises(TypeError, match="topic must be a str"):
        arena.publisher(5)
    with pytest.raises(ValueError, match="NUL"):
        arena.publisher("a\0b")
    with pytest.raises(ValueError, match="timeout must be >= 0"):
        s.take(timeout=-1)
    with pytest.raises(TypeError, match="timeout must be seconds"):
        s.take(timeout="1")
    with pytest.raises(ValueError, match="policy must be one of"):
        arena.subscriber("t", policy="sometimes")
    with pytest.raises(ValueError, match="depth must be in"):
        arena.subscriber("t", depth=70000)
    with pytest.raises(ValueError, match="size must be in"):
        p.loan(-1)
    with pytest.raises(ValueError, match="length must be in"):
        p.loan(8).send(9)
    with pytest.raises(TypeError, match="type must be"):
        arena.publisher("t2", type=3.5)
    with pytest.raises(TypeError, match="not a protobuf message class"):
        arena.publisher("t3", message_class=dict)
    p.close()
    with pytest.raises(am.EINVAL, match="closed"):
        p.publish(b"x")
    arena.close()
    with pytest.raises(am.EINVAL, match="closed"):
        arena.publisher("t")
    assert s.closed                                # closing the arena closed its ports
