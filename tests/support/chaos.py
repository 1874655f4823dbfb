"""Chaos on real processes, for any protocol: a workload, a nemesis, a checker.

``run_chaos(cluster, workload, checker, ...)`` is the harness (``chaos_test`` builds the
cluster from a protocol name first): the workload's clients issue operations against the
real cluster, recording a ``History``, while a seeded nemesis (cluster/nemesis.py)
partitions, kills, pauses and slows the processes; then everything heals, the workload's
``final_reads`` run (reads that must see every acknowledged write), and the checker turns
the history into a ``Verdict``. On a violation the history, the checker's own artifacts
(a timeline, a full anomaly report) and the space-time diagram are written to the
test's tmp dir, and the test fails with the verdict's summary.

A protocol plugs in a workload (``ChaosWorkload``: ``run``, ``final_reads``, ``history``,
``stats``, ``t0``) and a checker (``Checker``: a name, ``__call__(history) -> Verdict``,
``artifacts``). The KV workloads and checkers are here: ``chaos_run`` (KvWorkload,
linearizability per key, then every node converges to one commit index), used by the
Raft and Multi-Paxos chaos tests, ``Serializable`` (``protocols.check.elle``) for
``cluster.workload.ListAppendWorkload``'s transactions, and ``SetFull``
(``protocols.check.setfull``) for Dynamo's set-full (``cluster.workload_dynamo``).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import pytest

from cluster.diagrams import wall_operations, write_diagrams
from cluster.nemesis import random_schedule
from cluster.pytest_plugin import wait_until
from cluster.runner import LocalCluster
from cluster.workload import KvWorkload, WorkloadStats
from protocols.check import CheckResult, check_history, render_timeline
from protocols.check.bank import BankResult, check_bank
from protocols.check.elle import ElleResult, check_list_append
from protocols.check.history import History
from protocols.check.setfull import SetFullResult, check_set_full
from protocols.kv.client import KvClient
from protocols.registry import load_spec
from protocols.sim.api import Verdict

__all__ = ["ALL_FAULTS", "TARGETED_FAULTS", "BankConsistent", "ChaosWorkload", "Checker",
           "Linearizable", "Serializable", "SetFull", "chaos_run", "chaos_test",
           "commit_indexes", "converged", "pause_stale_leader", "run_chaos"]

ALL_FAULTS = ("partition_halves", "isolate", "partition_one_way", "kill", "pause",
              "latency", "unreliable")
# armed at random from the protocol's spec (cluster/nemesis.py): opt-in
TARGETED_FAULTS = ("crash_point", "hook", "disk_pause")

Shade = list[tuple[float, float, str]]  # fault intervals, seconds on the history's clock


class ChaosWorkload(Protocol):
    """Clients against a real cluster, recording what they saw."""

    history: History
    stats: WorkloadStats

    @property
    def t0(self) -> float:
        """``time.monotonic()`` at the history's time 0."""
        ...

    async def run(self, duration_s: float) -> History: ...

    async def final_reads(self, duration_s: float) -> None: ...


class Checker(Protocol):
    """History -> Verdict; ``artifacts`` explains a violation in files (may be none)."""

    name: str

    def __call__(self, history: History) -> Verdict: ...

    def artifacts(self, history: History, out: Path, shade: Shade) -> list[Path]: ...


class Linearizable:
    """Linearizability per key (``protocols.check.check_history``), with its timeline."""

    name = "linearizability"

    def __init__(self, timeout_s: float = 60.0) -> None:
        self.timeout_s = timeout_s
        self.result: CheckResult | None = None

    def __call__(self, history: History) -> Verdict:
        self.result = check_history(history, timeout_s=self.timeout_s)
        return Verdict(self.name, self.result.verdict, self.result.summary())

    def artifacts(self, history: History, out: Path, shade: Shade) -> list[Path]:
        assert self.result is not None
        return [render_timeline(history, self.result, out / "timeline.html", shade)]


class Serializable:
    """Strict serializability of list-append transactions (``protocols.check.elle``)."""

    name = "strict-serializability"

    def __init__(self) -> None:
        self.result: ElleResult | None = None

    def __call__(self, history: History) -> Verdict:
        self.result = check_list_append(history)
        return Verdict(self.name, self.result.verdict, self.result.summary())

    def artifacts(self, history: History, out: Path, shade: Shade) -> list[Path]:
        assert self.result is not None
        path = out / "anomalies.txt"
        path.write_text("\n\n".join(a.render() for a in self.result.anomalies) + "\n")
        return [path]


class BankConsistent:
    """Jepsen's bank (``protocols.check.bank``): totals kept, nothing negative, no
    transfer torn, aborted-but-applied or lost."""

    name = "bank"

    def __init__(self, initial: Callable[[], Mapping[str, int]]) -> None:
        self.initial = initial  # known once the workload opened the accounts
        self.result: BankResult | None = None

    def __call__(self, history: History) -> Verdict:
        self.result = check_bank(history, self.initial())
        return Verdict(self.name, "ok" if self.result.valid else "violation",
                       self.result.summary())

    def artifacts(self, history: History, out: Path, shade: Shade) -> list[Path]:
        assert self.result is not None
        path = out / "bank-anomalies.txt"
        path.write_text("\n\n".join(a.render() for a in self.result.anomalies) + "\n")
        return [path]


class SetFull:
    """Jepsen's set-full (``protocols.check.setfull``): no acknowledged add missing from
    the final reads (lost), none duplicated or invented; stale reads allowed."""

    name = "set-full"

    def __init__(self) -> None:
        self.result: SetFullResult | None = None

    def __call__(self, history: History) -> Verdict:
        self.result = check_set_full(history)
        return Verdict(self.name, self.result.verdict, self.result.summary())

    def artifacts(self, history: History, out: Path, shade: Shade) -> list[Path]:
        assert self.result is not None
        path = out / "set-full-anomalies.txt"
        path.write_text("\n\n".join(a.render() for a in self.result.anomalies) + "\n")
        return [path]


async def run_chaos(c: LocalCluster, workload: ChaosWorkload, checker: Checker, *, seed: int,
                    duration_s: float, tmp_path: Path, kinds: tuple[str, ...],
                    alongside: Callable[[float, Any], Awaitable[None]] | None = None,
                    min_ok: int = 20, final_s: float = 2.0) -> Verdict:
    """Run ``workload`` on ``c`` under a seeded nemesis for ``duration_s``, heal, run its
    final reads, and check the history; fail the test unless the verdict is ok.
    ``alongside(duration_s, workload)`` runs beside them: a protocol's own faults (a
    reconfiguration, leader pauses), free to add operations to ``workload.history``."""
    print(f"{c.protocol}: seed={seed} nodes={len(c.ids)} duration={duration_s}s "
          f"kinds={kinds} checker={checker.name}")
    schedule = random_schedule(seed, list(c.ids), duration_s, kinds=kinds,
                               fault_s=(1.0, 2.5), calm_s=(0.5, 1.0),
                               spec=load_spec(c.protocol))
    extra = [alongside(duration_s, workload)] if alongside is not None else []
    await asyncio.gather(workload.run(duration_s), c.nemesis.run_schedule(schedule), *extra)
    await c.nemesis.clear()
    await workload.final_reads(final_s)
    verdict = checker(workload.history)
    stats = workload.stats
    print(verdict.summary)
    print(f"ops: {stats.ok} ok, {stats.fail} fail, {stats.info} info; faults: "
          f"{[f.action for f in schedule]}")
    if verdict.status != "ok":
        wall0 = time.time() - (time.monotonic() - workload.t0)  # the history's time 0
        shade = [(s - wall0, e - wall0, label) for s, e, label in c.nemesis.intervals()]
        (tmp_path / "history.jsonl").write_text(workload.history.to_jsonl())
        files = checker.artifacts(workload.history, tmp_path, shade)
        lin = checker.result if isinstance(checker, Linearizable) else None
        diagrams = write_diagrams(c.dir, faults=c.nemesis.intervals(), result=lin,
                                  operations=wall_operations(workload.history, workload.t0),
                                  title=f"chaos seed {seed}: {checker.name} violated")
        pytest.fail(f"{checker.name}: {verdict.status}; see {[str(f) for f in files]}; "
                    f"space-time diagram (with event_log=True): {diagrams and diagrams[0]}\n"
                    f"{verdict.summary}")
    assert stats.ok > min_ok, f"the workload made almost no progress ({stats.ok} ok)"
    return verdict


async def chaos_test(cluster: Callable[..., Awaitable[LocalCluster]], protocol: str,
                     workload: Callable[[LocalCluster, int], ChaosWorkload], checker: Checker,
                     *, seed: int, tmp_path: Path, nodes: int = 3, duration_s: float = 12.0,
                     kinds: tuple[str, ...] = ALL_FAULTS,
                     options: Mapping[str, Any] | None = None,
                     ) -> tuple[LocalCluster, Verdict]:
    """``run_chaos`` on a fresh cluster of ``protocol`` (the ``cluster`` fixture), with
    the workload ``workload(cluster, seed)``."""
    c = await cluster(protocol, nodes=nodes, event_log=True, seed=seed,
                      options=dict(options or {}))
    verdict = await run_chaos(c, workload(c, seed), checker, seed=seed,
                              duration_s=duration_s, tmp_path=tmp_path, kinds=kinds)
    return c, verdict


async def chaos_run(c: LocalCluster, seed: int, duration_s: float, tmp_path: Path,
                    kinds: tuple[str, ...],
                    alongside: Callable[[float, KvWorkload], Awaitable[None]] | None = None,
                    ) -> None:
    """The KV chaos test of every protocol that serves Kv (Raft, Multi-Paxos): five
    KvClients on four keys, linearizable per key (no acknowledged write lost: the final
    reads are in the history), then every node converges to one commit index."""
    workload = KvWorkload(c.client_addresses, clients=5, keys=4, seed=seed,
                          op_deadline_s=4.0, attempt_timeout_s=0.5, tls=c.client_tls)
    workload._t0 = time.monotonic()
    await run_chaos(c, workload, Linearizable(), seed=seed, duration_s=duration_s,
                    tmp_path=tmp_path, kinds=kinds, alongside=alongside)
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
        if st is not None and st.leading and "voters" in st.details:
            members = [m for m in (st.details["voters"] + "," + st.details["learners"])
                       .split(",") if m]
    return {n: ci for n, ci in out.items() if n in members}


async def converged(c: LocalCluster) -> bool:
    async with KvClient(c.client_addresses, deadline_s=10, tls=c.client_tls) as kv:
        await kv.put("__barrier__", str(time.time()))  # commits a current-term entry
    seen = await commit_indexes(c)
    return len(set(seen.values())) == 1 and -1 not in seen.values()


