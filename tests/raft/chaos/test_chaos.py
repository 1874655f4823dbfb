"""Chaos on real Raft clusters: concurrent KvClients, a seeded random nemesis
(partitions incl. one-way, blackhole, latency, kill -9 + restart, pause, message drop /
duplicate), checked by ``tests/support/chaos.py`` (linearizable, no acknowledged write
lost, converged) — the same checks run against Multi-Paxos in tests/paxos/chaos/. The
Raft-specific runs (membership changes, leases) are here.

Each test prints its seed. Longer soaks: ``scripts/test --run-slow -k soak``.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from cluster.runner import LocalCluster
from cluster.workload import KvWorkload
from tests.support.chaos import ALL_FAULTS, chaos_run, pause_stale_leader

Factory = Callable[..., Awaitable[LocalCluster]]


# the slow suite (suite time): the default suite runs this same harness on Raft over TLS
# (tests/cluster/test_tls.py), with targeted faults and with list-append, and the
# simulator's sweeps; these two seeds run with --run-slow
@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2])
async def test_chaos_3_nodes(cluster: Factory, tmp_path: Path, seed: int) -> None:
    c = await cluster("raft", nodes=3, event_log=True, seed=seed)
    await chaos_run(c, seed, 12.0, tmp_path, ALL_FAULTS)


# slow: suite time (#33's explorer tests); the simulator covers it in the default suite
@pytest.mark.slow
async def test_chaos_5_nodes(cluster: Factory, tmp_path: Path) -> None:
    c = await cluster("raft", nodes=5, event_log=True, seed=3)
    await chaos_run(c, 3, 12.0, tmp_path, ALL_FAULTS)


# slow: suite time (#33's explorer tests); the simulator covers it in the default suite
@pytest.mark.slow
async def test_chaos_with_snapshots(cluster: Factory, tmp_path: Path) -> None:
    """A small snapshot threshold and chunk size: nodes that were killed, paused or cut
    off catch up through InstallSnapshot in several chunks, under the same faults."""
    c = await cluster("raft", nodes=3, event_log=True, seed=5,
                      options={"snapshot_threshold": 25, "snapshot_chunk_bytes": 512})
    await chaos_run(c, 5, 12.0, tmp_path, ALL_FAULTS)
    snapshots = {n: int((await c.status(n)).details["snapshot_index"])  # type: ignore[union-attr]
                 for n in c.ids}
    assert all(v > 0 for v in snapshots.values()), f"no snapshot taken: {snapshots}"


@pytest.mark.slow  # 17 s; the other Raft chaos runs stay in the default suite
async def test_chaos_refused_connections_and_duplicates(cluster: Factory,
                                                        tmp_path: Path) -> None:
    c = await cluster("raft", nodes=3, event_log=True, seed=4)
    await c.nemesis.duplicate(0.2, seed=4)
    await c.nemesis.partition([["n1"], ["n2", "n3"]], mode="refuse")
    await asyncio.sleep(1.0)
    await c.nemesis.heal()
    await chaos_run(c, 4, 8.0, tmp_path, ("partition_halves", "kill", "latency"))


# 16 s on processes: the slow suite; membership changes under churn run by default in the
# simulator (tests/raft/sim/test_membership.py) and on processes without faults
# (tests/raft/integration/test_snapshots_membership.py)
@pytest.mark.slow
async def test_chaos_with_membership_changes(cluster: Factory, tmp_path: Path) -> None:
    """Voters come and go (add n4 as a learner, promote it, remove another voter, add
    that one back ...) through RaftAdmin while the nemesis runs: the history stays
    linearizable and the changes commit."""
    from protocols.common.errors import ProtocolError
    from protocols.raft.admin_client import RaftAdminClient

    c = await cluster("raft", nodes=4, event_log=True, seed=6,
                      options={"initial_voters": ["n1", "n2", "n3"]})
    committed: list[str] = []

    async def reconfigure(duration_s: float, _: KvWorkload) -> None:
        end = time.monotonic() + duration_s
        plan = [("add", "n4"), ("remove", "n1"), ("add", "n1"), ("remove", "n2"),
                ("add", "n2"), ("remove", "n4")] * 3
        async with RaftAdminClient(c.client_addresses, deadline_s=4.0) as admin:
            for action, node in plan:
                if time.monotonic() > end:
                    return
                try:
                    m = await (admin.add_node(node) if action == "add" else admin.remove(node))
                    committed.append(f"{action} {node} -> {m.describe()}")
                except ProtocolError:
                    pass  # no leader / timed out under the faults: try the next step

    await chaos_run(c, 6, 14.0, tmp_path, ("partition_halves", "isolate", "kill", "pause",
                                           "latency"), alongside=reconfigure)
    print("\n".join(committed))
    assert len(committed) >= 2, f"membership changes hardly committed: {committed}"


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(100, 110))
async def test_chaos_soak(cluster: Factory, tmp_path: Path, seed: int) -> None:
    c = await cluster("raft", nodes=5, event_log=True, seed=seed)
    await chaos_run(c, seed, 60.0, tmp_path, ALL_FAULTS)


# 18 s on processes: the slow suite; the simulator's 20 lease seeds of every fault, pauses
# among them (tests/raft/sim/test_lease.py), run by default, as Paxos' lease chaos does
@pytest.mark.slow
async def test_chaos_lease_reads_with_leader_pauses(cluster: Factory, tmp_path: Path) -> None:
    """Lease reads (thesis §6.4.1) under the faults that broke them (issue #19): the
    leader is paused (SIGSTOP) and cut off from its peers for longer than its lease and
    an election timeout, then resumed while still cut off (it believes it leads) and read
    from directly (``pause_stale_leader``); leadership is transferred now and then. The
    history stays linearizable, and reads were really served from leases."""
    from cluster.waiting import WaitTimeout
    from protocols.common.errors import ProtocolError
    from protocols.raft.admin_client import RaftAdminClient

    c = await cluster("raft", nodes=3, event_log=True, seed=7, options={"read_mode": "lease"})
    rng = random.Random(7)
    paused: list[str] = []

    async def pause_leaders(duration_s: float, workload: KvWorkload) -> None:
        end = time.monotonic() + duration_s
        async with RaftAdminClient(c.client_addresses, deadline_s=2.0) as admin:
            while time.monotonic() < end - 1.0:
                try:
                    leader = await c.wait_for_leader(deadline_s=5)
                except WaitTimeout:
                    continue
                if rng.random() < 0.3:
                    with contextlib.suppress(ProtocolError):
                        await admin.transfer_leadership(rng.choice(
                            [n for n in c.ids if n != leader]))
                    continue
                paused.append(leader)
                await pause_stale_leader(c, leader, rng, workload, probe=100 + len(paused))

    await chaos_run(c, 7, 14.0, tmp_path, ("latency",),  # cuts are the pauser's alone
                    alongside=pause_leaders)
    statuses = await c.statuses()
    served = sum(int(st.details["lease_reads"]) for st in statuses.values() if st is not None)
    print(f"leaders paused: {paused}; reads served from a lease: {served}")
    assert len(paused) >= 3 and served > 0
