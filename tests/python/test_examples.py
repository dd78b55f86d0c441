# SPDX-License-Identifier: Apache-2.0
"""examples/python/ against the C typed demo, as docs/python.md runs them."""
import os
import subprocess
import sys

import pytest

from conftest import SOURCE

EXAMPLES = os.path.join(SOURCE, "examples", "python")


def run_example(script, *args):
    p = subprocess.run([sys.executable, os.path.join(EXAMPLES, script)] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


@pytest.mark.parametrize("mode", [[], ["--async"]])
def test_telemetry_monitor(arena, peers, mode):
    robot = peers("typed", arena.name, "robot", 200)
    out = run_example("telemetry_monitor.py", arena.name, 200, *mode)
    robot.wait()
    assert "telemetry 200 from r2 at (200.0, -100.0)" in out
    assert "ok: 200 messages of robot.Telemetry" in out


def test_planner_client(arena, peers):
    planner = peers("typed", arena.name, "planner", 10).expect("ready")
    out = run_example("planner_client.py", arena.name, 10)
    planner.wait()
    assert "Plan to (80, 4): (20, 1), (40, 2), (60, 3), (80, 4); Status: ready after 10 plans" in out
    assert "ok: 10 calls of each rpc" in out
