#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Call the C typed demo's planner service from Python, with message classes built at
run time: from the schema the C robot records with robot/telemetry when it is running,
otherwise from examples/proto/robot.proto through protoc (no generated code either way).

    build/typed_demo demo planner 10 &              # serves 2 x 10 requests
    python3 examples/python/planner_client.py demo 10
"""
import os
import subprocess
import sys
import tempfile

import atomicmatrix as am

PROTO = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "proto", "robot.proto")


def robot_schema(arena):
    schema = arena.schema("robot/telemetry")
    if schema is not None:
        return schema, "the schema recorded with robot/telemetry"
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "robot.pb")
        subprocess.run(["protoc", "-I", os.path.dirname(PROTO), "--include_imports", "--descriptor_set_out=" + out,
                        os.path.basename(PROTO)], check=True)
        with open(out, "rb") as f:
            return am.load_schema(f.read()), "protoc's descriptor set of " + os.path.normpath(PROTO)


def main():
    name = sys.argv[1] if len(sys.argv) > 1 else "typed_demo"
    calls = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    with am.Arena(name) as arena:
        schema, source = robot_schema(arena)
        Goal, StatusRequest = schema.message("robot.Goal"), schema.message("robot.StatusRequest")
        planner = arena.client("robot/planner", service=schema.service("robot.Planner"))
        print("classes from %s; service robot.Planner, fingerprint %016x" % (source, am.service_type(planner.service)[1]))
        for i in range(1, calls + 1):
            goal = Goal()
            goal.target.x, goal.target.y = 8.0 * i, 4.0
            path = planner.call(goal, timeout=5)                        # rpc Plan(Goal) returns (Path)
            status = planner.call(StatusRequest(name="r2"), timeout=5)  # rpc Status
            if i in (1, calls):
                print("Plan to (%.0f, %.0f): %s; Status: %s after %d plans"
                      % (goal.target.x, goal.target.y, ", ".join("(%.0f, %.0f)" % (w.x, w.y) for w in path.waypoints),
                         status.state, status.plans))
            if len(path.waypoints) != 4 or status.plans != i:
                print("FAILED: unexpected reply")
                return 1
        print("ok: %d calls of each rpc" % calls)
    return 0


if __name__ == "__main__":
    sys.exit(main())
