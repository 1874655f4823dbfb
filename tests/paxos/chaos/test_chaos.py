"""The Raft chaos runs, unchanged, against Multi-Paxos: the same KvClients, the same
seeded nemesis (partitions incl. one-way, kill -9 + restart, pause, latency, message
loss and duplication), the same checks (``tests/support/chaos.py``): the history is
linearizable, no acknowledged write is lost, the replicas converge after heal."""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from cluster.runner import LocalCluster
from cluster.waiting import WaitTimeout
from cluster.workload import KvWorkload
from tests.support.chaos import ALL_FAULTS, chaos_run, pause_stale_leader

Factory = Callable[..., Awaitable[LocalCluster]]


@pytest.mark.parametrize("seed", [1, 2])
async def test_chaos_3_nodes(cluster: Factory, tmp_path: Path, seed: int) -> None:
    c = await cluster("paxos", nodes=3, event_log=True, seed=seed)
    await chaos_run(c, seed, 12.0, tmp_path, ALL_FAULTS)


async def test_chaos_5_nodes(cluster: Factory, tmp_path: Path) -> None:
    c = await cluster("paxos", nodes=5, event_log=True, seed=3)
    await chaos_run(c, 3, 12.0, tmp_path, ALL_FAULTS)


async def test_chaos_with_snapshots(cluster: Factory, tmp_path: Path) -> None:
    """Small snapshots: nodes that were killed, paused or cut off catch up from one."""
    c = await cluster("paxos", nodes=3, event_log=True, seed=5, options={"snapshot_threshold": 25})
    await chaos_run(c, 5, 12.0, tmp_path, ALL_FAULTS)
    slots = {n: int(st.details["snapshot_slot"])
             for n, st in (await c.statuses()).items() if st is not None}
    assert all(v > 1 for v in slots.values()), f"no snapshot taken: {slots}"


async def test_chaos_flexible_quorums(cluster: Factory, tmp_path: Path) -> None:
    c = await cluster("paxos", nodes=5, event_log=True, seed=8,
                      options={"phase1_quorum": 4, "phase2_quorum": 2})
    await chaos_run(c, 8, 10.0, tmp_path, ALL_FAULTS)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(100, 110))
async def test_chaos_soak(cluster: Factory, tmp_path: Path, seed: int) -> None:
    c = await cluster("paxos", nodes=5, event_log=True, seed=seed)
    await chaos_run(c, seed, 60.0, tmp_path, ALL_FAULTS)


async def test_chaos_lease_reads_with_leader_pauses(cluster: Factory, tmp_path: Path) -> None:
    """Leader leases (read_mode=lease) under the faults that break careless ones
    (``pause_stale_leader``: a leader paused and cut off past its lease, resumed still
    cut off, and read from directly). The history stays linearizable and reads were
    served from leases."""
    c = await cluster("paxos", nodes=3, event_log=True, seed=9, options={"read_mode": "lease"})
    rng = random.Random(9)
    paused: list[str] = []

    async def pause_leaders(duration_s: float, workload: KvWorkload) -> None:
        end = time.monotonic() + duration_s
        while time.monotonic() < end - 1.0:
            try:
                leader = await c.wait_for_leader(deadline_s=5)
            except WaitTimeout:
                continue
            paused.append(leader)
            await pause_stale_leader(c, leader, rng, workload, probe=100 + len(paused))

    await chaos_run(c, 9, 14.0, tmp_path, ("latency",), alongside=pause_leaders)
    served = sum(int(st.details["lease_reads"])
                 for st in (await c.statuses()).values() if st is not None)
    print(f"leaders paused: {paused}; reads served from a lease: {served}")
    assert len(paused) >= 3 and served > 0
