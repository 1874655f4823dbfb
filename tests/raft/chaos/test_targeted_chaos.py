"""Chaos on a real Raft cluster with the targeted faults armed at random
(cluster/nemesis.py: ``crash_point``, ``hook``, ``disk_pause``, drawn from Raft's spec):
the history stays linearizable, no acknowledged write is lost, the nodes converge, and a
crash point fired: its process exited 137 the moment it was reached and the nemesis
restarted it. The same kinds in the simulator: tests/sim/test_targeted_nemesis.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from cluster.nemesis import random_schedule
from cluster.pytest_plugin import wait_until
from cluster.runner import LocalCluster
from protocols.common.errors import InvalidRequest
from protocols.kv.client import KvClient
from protocols.registry import load_spec
from protocols.runtime.crashpoints import CRASH_EXIT_CODE
from protocols.sim.nemesis import crash_points
from tests.support.chaos import TARGETED_FAULTS, chaos_run

Factory = Callable[..., Awaitable[LocalCluster]]

# seed 30's schedule holds each kind, and a crash point after_persist:AppendEntry, which
# every node reaches as soon as it persists a client's write: it fires for sure
SEED = 30


async def test_chaos_with_targeted_faults(cluster: Factory, tmp_path: Path) -> None:
    c = await cluster("raft", nodes=3, event_log=True, seed=SEED)
    await chaos_run(c, SEED, 10.0, tmp_path, TARGETED_FAULTS)
    started = {e["fault"].rsplit("-n", 1)[0] for e in c.nemesis.events
               if e["action"] == "start"}
    assert {"crash-point", "hook", "disk-pause"} <= started, started
    fired = c.nemesis.crash_points_fired()
    print(f"crash points fired: {fired}")
    assert fired, f"no crash point fired: {c.nemesis.events}"
    for e in fired:  # it ended as kill -9 would, and came back
        assert e["exit_code"] == CRASH_EXIT_CODE, e
        assert c.running(e["node"]), e


async def test_clear_disarms_a_point_that_never_fired_resumes_the_disk_and_unhooks(
        cluster: Factory) -> None:
    """What the nemesis armed and nothing reached is undone at the fault's end: the
    crash point is disarmed (the next write does not end its node), the paused disk
    resumes and the hook is gone (both followers acknowledge that write at once)."""
    c = await cluster("raft", nodes=3)
    leader = await c.wait_for_leader()
    f1, f2 = (n for n in c.ids if n != leader)
    await put(c, "k", "1")
    await wait_until(lambda: acknowledged(c, leader, f1, f2), 10, what="both in step")
    await c.nemesis.crash_point(f1, "after_persist:AppendEntry")
    await c.nemesis.hook("AppendEntries", leader, f1, "drop")  # f1 never reaches it
    await c.nemesis.disk_pause(f2, 60_000)
    pid = c.node(f1).pid
    await c.nemesis.clear()
    assert [(e["node"], e["fired"]) for e in c.nemesis.events
            if e["action"] == "crash-point"] == [(f1, False)]
    await put(c, "k", "2")
    await wait_until(lambda: acknowledged(c, leader, f1, f2), 10,
                     what="both followers acknowledged the write (disk resumed, no hook)")
    assert c.running(f1) and c.node(f1).pid == pid, "the disarmed point ended its node"


async def put(c: LocalCluster, key: str, value: str) -> None:
    async with KvClient(c.client_addresses, deadline_s=10) as kv:
        await kv.put(key, value)


async def acknowledged(c: LocalCluster, leader: str, *followers: str) -> bool:
    """The leader knows each follower holds its whole log durably (match_index)."""
    st = await c.status(leader)
    assert st is not None and st.leading, f"{leader} no longer leads"
    last = st.details["last_log_index"]
    return all(st.details[f"match_index.{f}"] == last for f in followers)


def test_a_schedule_draws_targeted_faults_from_the_protocol_spec() -> None:
    spec = load_spec("raft")
    nodes = ["n1", "n2", "n3"]
    schedule = random_schedule(1, nodes, 200, kinds=TARGETED_FAULTS, spec=spec)
    assert schedule == random_schedule(1, nodes, 200, kinds=TARGETED_FAULTS, spec=spec)
    points = {f.args[1] for f in schedule if f.action == "crash_point"}
    assert points and points <= set(crash_points(spec))
    assert "after_persist:AppendEntry" in crash_points(spec)  # RaftSpec.records
    hooked = {f.args[0] for f in schedule if f.action == "hook"}
    assert hooked and hooked <= {"RequestVote", "AppendEntries", "InstallSnapshot",
                                 "TimeoutNow"}  # requests: a reply is hooked by drop_reply
    assert all(f.args[1] != f.args[2] for f in schedule if f.action == "hook")
    assert {f.action for f in schedule} == set(TARGETED_FAULTS)
    with pytest.raises(InvalidRequest, match="need the protocol's spec"):
        random_schedule(1, nodes, 200, kinds=("crash_point",))
