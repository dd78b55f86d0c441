# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures. CTest (tests/python/CMakeLists.txt) runs pytest with:
  ATOMICMATRIX_LIBRARY  the build tree's libatomicmatrix.so (the package loads it)
  PYTHONPATH            the source tree's python/ (the package itself)
  AM_PYHELPER           tests/python/pyhelper.c built (the C peer)
  AM_TYPED_DEMO         examples/typed_demo.c built (the typed C peer)
  AM_PROTOC_GEN_AM      the plugin (test_fingerprint compiles C from .proto with it)
  AM_SOURCE_DIR         the source tree
A test whose program is missing is skipped, saying which."""
import itertools
import os
import subprocess
import sys

import pytest

import atomicmatrix as am

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.environ.get("AM_SOURCE_DIR", os.path.dirname(os.path.dirname(HERE)))
ROBOT_PROTO = os.path.join(SOURCE, "examples", "proto", "robot.proto")
_names = itertools.count()


def program(var):
    path = os.environ.get(var)
    if not path or not os.access(path, os.X_OK):
        pytest.skip("%s is not set to a built program" % var)
    return path


@pytest.fixture
def arena_name():
    name = "pytest_%d_%d" % (os.getpid(), next(_names))
    yield name
    try:
        am.Arena.unlink(name)
    except am.ENOENT:
        pass


@pytest.fixture
def arena(arena_name):
    with am.Arena(arena_name, size=16 << 20) as a:
        yield a


class Peer:
    """A process running one role; started() waits for its "ready" line."""

    def __init__(self, argv):
        self.argv = argv
        self.p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def expect(self, line, timeout=10):
        import select
        r, _, _ = select.select([self.p.stdout], [], [], timeout)
        assert r, "%s said nothing in %d s" % (self.argv, timeout)
        got = self.p.stdout.readline().strip()
        assert got == line, "%s said %r, not %r (stderr: %s)" % (self.argv, got, line,
                                                               self.p.stderr.read() if self.p.poll() is not None else "")
        return self

    def wait(self, timeout=30):
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            raise
        out, err = self.p.communicate()
        assert rc == 0, "%s exited %d: %s %s" % (self.argv, rc, out, err)

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()


@pytest.fixture
def peers():
    started = []

    def start(kind, *args):
        if kind == "c":
            argv = [program("AM_PYHELPER")] + [str(a) for a in args]
        elif kind == "py":
            argv = [sys.executable, os.path.join(HERE, "peers.py")] + [str(a) for a in args]
        else:
            argv = [program("AM_TYPED_DEMO")] + [str(a) for a in args]
        peer = Peer(argv)
        started.append(peer)
        return peer
    yield start
    for p in started:
        p.kill()


def robot_schema(tmp_path):
    """robot.proto's FileDescriptorSet from protoc: message classes without generated code."""
    out = tmp_path / "robot.pb"
    subprocess.run(["protoc", "-I", os.path.dirname(ROBOT_PROTO), "--include_imports",
                    "--descriptor_set_out=%s" % out, os.path.basename(ROBOT_PROTO)], check=True)
    return am.load_schema(out.read_bytes())
