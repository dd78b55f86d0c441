# SPDX-License-Identifier: Apache-2.0
"""Discovery (am_channels_list) and amctl agree on what exists, while ports come and go
and a process holding ports is killed."""
import json
import os
import subprocess

import pytest

import atomicmatrix as am

ROLES = ("publishers", "subscribers", "servers", "clients")


def amctl_counts(arena_name):
    """{channel: (publishers, subscribers, servers, clients)} of live ports, per amctl."""
    out = {}
    for cmd in ("topics", "services"):
        r = subprocess.run([os.environ["AM_AMCTL"], cmd, arena_name, "--json"], capture_output=True, text=True,
                           check=True)
        for ch in json.loads(r.stdout):
            alive = [p["role"] for p in ch["ports"] if p["alive"]]
            out[ch["name"]] = tuple(alive.count(role[:-1]) for role in ROLES)
    return out


def api_counts(arena):
    return {c.name: tuple(getattr(c, role) for role in ROLES) for c in arena.channels()}


@pytest.mark.skipif("AM_AMCTL" not in os.environ, reason="amctl was not built")
def test_discovery_agrees_with_amctl(arena_name, peers):
    with am.Arena(arena_name) as a:
        p1 = a.publisher("a")
        p2 = a.publisher("a")
        s = a.subscriber("a")
        srv = a.server("svc")
        cl = a.client("svc")
        want = {"a": (2, 1, 0, 0), "svc": (0, 0, 1, 1)}
        assert api_counts(a) == want == amctl_counts(arena_name)

        peer = peers("c", a.name, "sub", "b", 1000).expect("ready")      # another process
        want["b"] = (0, 1, 0, 0)
        assert api_counts(a) == want == amctl_counts(arena_name)

        peer.kill()                                    # kill -9: its port is dead, not counted
        want["b"] = (0, 0, 0, 0)
        assert api_counts(a) == want == amctl_counts(arena_name)

        p2.close()
        cl.close()
        want["a"], want["svc"] = (1, 1, 0, 0), (0, 0, 1, 0)
        assert api_counts(a) == want == amctl_counts(arena_name)

        a.gc()                                          # the dead port cleaned: its topic goes
        del want["b"]
        assert api_counts(a) == want == amctl_counts(arena_name)
        for x in (p1, s, srv):
            x.close()
        assert api_counts(a) == {} == amctl_counts(arena_name)
