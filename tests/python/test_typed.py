# SPDX-License-Identifier: Apache-2.0
"""Typed interop with the C typed demo (examples/typed_demo.c, examples/proto/robot.proto):
C and Python ports on one typed topic and one typed service, each side checking the
other's messages field by field. Python uses no generated code: its classes come from
the schema the C publisher records, or from protoc's descriptor set."""
import os
import subprocess
import sys

import pytest

import atomicmatrix as am
from conftest import ROBOT_PROTO, robot_schema

FRAMES = 300
CALLS = 50


def check_telemetry(t, i):
    assert t.seq == i and t.name == "r2"
    assert (t.pose.x, t.pose.y) == (float(i), -i / 2)
    assert list(t.joints) == [float(i * (k + 1)) for k in range(6)]
    assert t.camera == bytes([i & 0xff]) * 4096


def make_telemetry(cls, i):
    import math
    t = cls(seq=i, name="r2", joints=[float(i * (k + 1)) for k in range(6)], camera=bytes([i & 0xff]) * 4096)
    t.pose.x, t.pose.y, t.pose.theta = float(i), -i / 2, math.fmod(i / 100, 6.28)
    return t


def test_c_publisher_python_decodes_recorded_schema(arena, peers):
    s = arena.subscriber("robot/telemetry", policy="block", depth=64)
    robot = peers("typed", arena.name, "robot", FRAMES)
    for i in range(1, FRAMES + 1):
        with s.take(timeout=10) as m:
            t = m.decode()                 # from the FileDescriptorSet the C side recorded
            check_telemetry(t, i)
    robot.wait()
    assert type(t).DESCRIPTOR.full_name == "robot.Telemetry"
    chan = [c for c in arena.channels() if c.name == "robot/telemetry"][0]
    assert chan.has_schema and chan.type == "robot.Telemetry"
    assert am.type_of(type(t)) == (chan.type, chan.fingerprint)   # Python computes C's fingerprint


def test_python_publisher_c_subscriber(arena, peers, tmp_path):
    Telemetry = robot_schema(tmp_path).message("robot.Telemetry")
    monitor = peers("typed", arena.name, "monitor", FRAMES).expect("ready")
    # The C monitor typed the topic first: another fingerprint would be AM_ETYPE here.
    p = arena.publisher("robot/telemetry", message_class=Telemetry, send_timeout=10)
    for i in range(1, FRAMES + 1):
        p.publish(make_telemetry(Telemetry, i))
    monitor.wait()
    # The schema Python recorded decodes in a fresh pool, as amctl or a C tool would.
    s = arena.subscriber("robot/telemetry")
    p.publish(make_telemetry(Telemetry, 1))
    with s.take(timeout=1) as m:
        check_telemetry(am.load_schema(s.schema()).message("robot.Telemetry").FromString(bytes(m.data)), 1)
    with pytest.raises(TypeError, match="sends robot.Telemetry"):
        p.publish(robot_schema(tmp_path).message("robot.Goal")())


def test_python_client_c_planner(arena, peers):
    planner = peers("typed", arena.name, "planner", CALLS).expect("ready")
    # Classes and service from the schema a C publisher recorded: no .proto at hand.
    robot = peers("typed", arena.name, "robot", 1)
    with arena.subscriber("robot/telemetry") as s:
        s.take(timeout=10).ack()
        schema = am.load_schema(s.schema())
    robot.wait()
    Goal, StatusRequest = schema.message("robot.Goal"), schema.message("robot.StatusRequest")
    c = arena.client("robot/planner", service=schema.service("robot.Planner"))
    for i in range(1, CALLS + 1):
        goal = Goal()
        goal.target.x, goal.target.y = 8.0 * i, 4.0
        path = c.call(goal, timeout=5)
        assert [(w.x, w.y) for w in path.waypoints] == [(8.0 * i * k / 4, 4.0 * k / 4) for k in range(1, 5)]
        st = c.call(StatusRequest(name="r2"), timeout=5)
        assert (st.state, st.plans) == ("ready", i)
    planner.wait()


def test_c_client_python_planner(arena, peers, tmp_path):
    schema = robot_schema(tmp_path)
    Path, StatusReply, Pose = (schema.message("robot." + n) for n in ("Path", "StatusReply", "Telemetry.Pose"))
    srv = arena.server("robot/planner", service=schema.service("robot.Planner"))
    plans = 0

    def plan(goal):
        nonlocal plans
        plans += 1
        return Path(waypoints=[Pose(x=goal.target.x * k / 4, y=goal.target.y * k / 4) for k in range(1, 5)])

    def status(req):
        return StatusReply(state="ready" if req.name == "r2" else "unknown robot", plans=plans)

    client = peers("typed", arena.name, "client", CALLS)
    for _ in range(2 * CALLS):
        srv.serve({"Plan": plan, "Status": status}, timeout=10)
    client.wait()
    assert plans == CALLS


def test_generated_classes_agree(tmp_path):
    """protoc --python_out classes give the same types as run-time ones."""
    subprocess.run(["protoc", "-I", os.path.dirname(ROBOT_PROTO), "--python_out=%s" % tmp_path,
                    os.path.basename(ROBOT_PROTO)], check=True)
    sys.path.insert(0, str(tmp_path))
    try:
        import robot_pb2
    finally:
        sys.path.remove(str(tmp_path))
    schema = robot_schema(tmp_path)
    for name in ("Telemetry", "Goal", "Path", "StatusRequest", "StatusReply"):
        assert am.type_of(getattr(robot_pb2, name)) == am.type_of(schema.message("robot." + name))
    assert am.service_type(robot_pb2.DESCRIPTOR.services_by_name["Planner"]) == \
        am.service_type(schema.service("robot.Planner"))


def test_typed_service_errors(arena, tmp_path):
    schema = robot_schema(tmp_path)
    srv = arena.server("robot/planner", service=schema.service("robot.Planner"))
    with pytest.raises(am.ETYPE):
        arena.client("robot/planner")      # untyped ports accept any type ...
        arena.client("robot/planner", type=("robot.Planner", 12345))   # ... another fingerprint does not
    c = arena.client("robot/planner", service=schema.service("robot.Planner"))
    with pytest.raises(TypeError, match="typed client calls with a message"):
        c.call(b"raw")
    with pytest.raises(ValueError, match="no rpc 'Fly'"):
        c.call(schema.message("robot.Goal")(), method="Fly")
    srv.close()
