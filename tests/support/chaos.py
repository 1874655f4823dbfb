"""Chaos on a real KV cluster, shared by every protocol that serves the Kv service (Raft,
Multi-Paxos): concurrent KvClients and a seeded nemesis, then three properties:

1. the recorded history is linearizable (protocols.check, per key; an HTML timeline is
   written to the test's tmp dir on a violation);
2. no acknowledged write is lost: after healing, a final read of every key sees a value
   the history allows (covered by 1, since the final reads are in the history);
3. after heal every node converges to the same commit index (its ``commit_index`` detail).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from cluster.diagrams import wall_operations, write_diagrams
from cluster.nemesis import random_schedule
from cluster.pytest_plugin import wait_until
from cluster.runner import LocalCluster
from cluster.workload import KvWorkload
from protocols.check import check_history, render_timeline
from protocols.kv.client import KvClient

__all__ = ["ALL_FAULTS", "chaos_run", "commit_indexes", "converged", "pause_stale_leader"]

ALL_FAULTS = ("partition_halves", "isolate", "partition_one_way", "kill", "pause",
              "latency", "unreliable")


async def chaos_run(c: LocalCluster, seed: int, duration_s: float, tmp_path: Path,
                    kinds: tuple[str, ...],
                    alongside: Callable[[float, KvWorkload], Awaitable[None]] | None = None,
                    ) -> None:
    """``alongside(duration_s, workload)`` runs beside the workload and the nemesis: a
    protocol's own faults (a reconfiguration, leader pauses), free to add operations to
    ``workload.history`` (``KvWorkload.read_from``)."""
    print(f"seed={seed} nodes={len(c.ids)} duration={duration_s}s kinds={kinds}")
    schedule = random_schedule(seed, list(c.ids), duration_s, kinds=kinds,
                               fault_s=(1.0, 2.5), calm_s=(0.5, 1.0))
    workload = KvWorkload(c.client_addresses, clients=5, keys=4, seed=seed,
                          op_deadline_s=4.0, attempt_timeout_s=0.5)
    t0 = time.monotonic()
    workload._t0 = t0
    wall0 = time.time()
    extra = [alongside(duration_s, workload)] if alongside is not None else []
    await asyncio.gather(workload.run(duration_s), c.nemesis.run_schedule(schedule), *extra)
    await c.nemesis.clear()
    # final reads of every key, after the faults are gone
    final = KvWorkload(c.client_addresses, clients=1, keys=4, seed=seed, read_ratio=1.0,
                       history=workload.history, op_deadline_s=15.0)
    final._t0 = t0
    await final.run(2.0, max_ops_per_client=8)
    result = check_history(workload.history, timeout_s=60)
    print(result.summary())
    print(f"ops: {workload.stats.ok} ok, {workload.stats.fail} fail, "
          f"{workload.stats.info} info; faults: {[f.action for f in schedule]}")
    if result.verdict != "ok":
        shade = [(s - wall0, e - wall0, label) for s, e, label in c.nemesis.intervals()]
        path = render_timeline(workload.history, result, tmp_path / "timeline.html", shade)
        (tmp_path / "history.jsonl").write_text(workload.history.to_jsonl())
        diagrams = write_diagrams(c.dir, faults=c.nemesis.intervals(), result=result,
                                  operations=wall_operations(workload.history, t0),
                                  title=f"chaos seed {seed}: not linearizable")
        pytest.fail(f"history not linearizable ({result.verdict}); timeline: {path}; "
                    f"space-time diagram (with event_log=True): {diagrams and diagrams[0]}\n"
                    f"{result.summary()}")
    assert workload.stats.ok > 20, "the workload made almost no progress"
    await wait_until(lambda: converged(c), 20, describe=lambda: commit_indexes(c),
                     what="every node at the same commit index")


async def pause_stale_leader(c: LocalCluster, leader: str, rng: random.Random,
                             workload: KvWorkload, probe: int) -> None:
    """The fault that breaks careless leader leases: ``leader`` is paused (SIGSTOP) and
    cut off from its peers for longer than its lease and an election timeout, then
    resumed still cut off, so it runs believing it leads while the others moved on; in
    that window reads are sent to it alone (``probe`` is their process number in the
    history). A lease read it answers from stale state makes the history
    non-linearizable."""
    await c.nemesis.pause(leader)
    await c.nemesis.isolate(leader)
    await asyncio.sleep(rng.uniform(0.6, 1.5))  # how long the faults last
    await c.nemesis.resume(leader)
    await workload.read_from(leader, rng.uniform(0.3, 0.6), probe)
    await c.nemesis.heal()
    await asyncio.sleep(rng.uniform(0.3, 0.8))


async def commit_indexes(c: LocalCluster) -> dict[str, int]:
    """Commit index of every member of the leader's configuration (a server removed
    from the cluster rightly stops hearing from it)."""
    out: dict[str, int] = {}
    members: list[str] = list(c.ids)
    for n in c.ids:
        st = await c.status(n)
        out[n] = int(st.details["commit_index"]) if st is not None else -1
        if st is not None and st.role == "leader" and "voters" in st.details:
            members = [m for m in (st.details["voters"] + "," + st.details["learners"])
                       .split(",") if m]
    return {n: ci for n, ci in out.items() if n in members}


async def converged(c: LocalCluster) -> bool:
    async with KvClient(c.client_addresses, deadline_s=10) as kv:
        await kv.put("__barrier__", str(time.time()))  # commits a current-term entry
    seen = await commit_indexes(c)
    return len(set(seen.values())) == 1 and -1 not in seen.values()


