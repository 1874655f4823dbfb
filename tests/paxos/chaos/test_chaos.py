"""The Raft chaos runs, unchanged, against Multi-Paxos: the same KvClients, the same
seeded nemesis (partitions incl. one-way, kill -9 + restart, pause, latency, message
loss and duplication), the same checks (``tests/support/chaos.py``): the history is
linearizable, no acknowledged write is lost, the replicas converge after heal."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from cluster.nemesis import random_schedule
from cluster.runner import LocalCluster
from cluster.waiting import WaitTimeout
from cluster.workload import KvWorkload
from protocols.check import check_history
from tests.support.chaos import ALL_FAULTS, chaos_run, pause_stale_leader

Factory = Callable[..., Awaitable[LocalCluster]]


# seed 2 runs with --run-slow: the default suite's chaos time goes to the harness's other
# checkers (list-append, targeted faults, TLS) and the simulator's sweeps
@pytest.mark.parametrize("seed", [1, pytest.param(2, marks=pytest.mark.slow)])
async def test_chaos_3_nodes(cluster: Factory, tmp_path: Path, seed: int) -> None:
    c = await cluster("paxos", nodes=3, event_log=True, seed=seed)
    await chaos_run(c, seed, 12.0, tmp_path, ALL_FAULTS)


# slow: suite time (#33's explorer tests); the simulator covers it in the default suite
@pytest.mark.slow
async def test_chaos_5_nodes(cluster: Factory, tmp_path: Path) -> None:
    c = await cluster("paxos", nodes=5, event_log=True, seed=3)
    await chaos_run(c, 3, 12.0, tmp_path, ALL_FAULTS)


# slow: suite time (#33's explorer tests); the simulator covers it in the default suite
@pytest.mark.slow
async def test_chaos_with_snapshots(cluster: Factory, tmp_path: Path) -> None:
    """Small snapshots: nodes that were killed, paused or cut off catch up from one."""
    c = await cluster("paxos", nodes=3, event_log=True, seed=5, options={"snapshot_threshold": 25})
    await chaos_run(c, 5, 12.0, tmp_path, ALL_FAULTS)
    slots = {n: int(st.details["snapshot_slot"])
             for n, st in (await c.statuses()).items() if st is not None}
    assert all(v > 1 for v in slots.values()), f"no snapshot taken: {slots}"


# slow: suite time (#33's explorer tests); the simulator covers it in the default suite
@pytest.mark.slow
async def test_chaos_flexible_quorums(cluster: Factory, tmp_path: Path) -> None:
    c = await cluster("paxos", nodes=5, event_log=True, seed=8,
                      options={"phase1_quorum": 4, "phase2_quorum": 2})
    await chaos_run(c, 8, 10.0, tmp_path, ALL_FAULTS)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(100, 110))
async def test_chaos_soak(cluster: Factory, tmp_path: Path, seed: int) -> None:
    c = await cluster("paxos", nodes=5, event_log=True, seed=seed)
    await chaos_run(c, seed, 60.0, tmp_path, ALL_FAULTS)


# 18 s: tests/paxos/sim/test_lease.py covers leases by default, Raft's lease chaos stays
@pytest.mark.slow
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


# the slow suite (suite time, 17 s each): the default suite keeps Paxos on processes under
# the nemesis (test_chaos_3_nodes) and lease reads under faults in the simulator
# (tests/paxos/sim/test_lease.py); the stall this pins is driven step by step in
# tests/paxos/unit/test_schedules.py
@pytest.mark.slow
@pytest.mark.parametrize("read_mode", ["log", "lease"])
async def test_progress_once_the_faults_heal(cluster: Factory, tmp_path: Path,
                                             read_mode: str) -> None:
    """The run that once stalled for good (../shared/repros/paxos-stall): five nodes,
    twelve clients on three keys, pauses of the leader above all, short and long, and
    partitions. Once everything heals, every operation any client starts is answered,
    within its deadline: a leader never holds a slot open forever."""
    c = await cluster("paxos", nodes=5, event_log=True, seed=36,
                      options={"read_mode": read_mode})
    schedule = random_schedule(36, list(c.ids), 14.0, kinds=("pause", "partition_halves",
                                                             "isolate", "pause"),
                               fault_s=(0.3, 3.0), calm_s=(0.2, 0.8))
    workload = KvWorkload(c.client_addresses, clients=12, keys=3, seed=36,
                          op_deadline_s=4.0, attempt_timeout_s=0.3)
    workload._t0 = time.monotonic()
    await asyncio.gather(workload.run(14.0), c.nemesis.run_schedule(schedule))
    await c.nemesis.clear()
    healed = KvWorkload(c.client_addresses, clients=12, keys=3, seed=37,
                        op_deadline_s=8.0, attempt_timeout_s=0.5, history=workload.history)
    healed._t0 = workload.t0
    await healed.run(3.0, max_ops_per_client=20)
    statuses = {n: (st.role, st.details.get("slot_out"), st.details.get("slot_in"))
                for n, st in (await c.statuses()).items() if st is not None}
    during, after = workload.stats, healed.stats
    print(f"faults: {[f.action for f in schedule]}; during: {during.ok} ok, {during.fail} "
          f"fail, {during.info} info; after heal: {after.ok} ok; nodes: {statuses}")
    assert after.ok >= 12, f"almost nothing answered after the heal: {statuses}"
    assert after.fail == after.info == 0, \
        f"{after.fail} failed and {after.info} unanswered after the heal: {statuses}"
    result = check_history(workload.history, timeout_s=60)
    assert result.verdict == "ok", result.summary()
