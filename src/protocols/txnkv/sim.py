r"""txnkv in the simulator: the properties of CockroachDB's TLA+ model of parallel commits
checked after every event, Raft's safety in every range, and the 2PC store's bank and
list-append workloads judged by the same checkers.

The properties (``ParallelCommitProperties``; the model's names in brackets) are checked
on the ranges' committed state: each range is read at its most advanced replica (what a
replica has applied, its Raft group committed), which is the state a recovery would find.

* a finalized record never changes (``RecordFinalized => []RecordFinalized``), on any
  replica, across crashes;
* an implicitly committed transaction is never aborted (the safety half of
  ``ImplicitCommit ~> ExplicitCommit``): once a STAGING record and every write it names
  (an intent of its epoch, at or below its timestamp) are committed in their ranges, its
  record may only become COMMITTED;
* a transaction acknowledged to its client is never aborted (``AckClient``'s assertion,
  ``ImplicitCommit \/ ExplicitCommit``, kept forever after);
* a recovery that prevented a write never lets that transaction commit at that attempt
  (its epoch and timestamp): no record COMMITTED at an attempt a replica prevented a
  write of (``Replica.prevented``), unless it was COMMITTED already when the write was
  prevented (a recovery from a stale view may query a write the commit had resolved).

The rest is judged on the final state, once the workload's final read has met (and so
pushed, recovered and resolved) every intent left on its keys (``final_state_violations``,
part of each workload's verdict): every COMMITTED record has each write it named in place
(atomicity: a recovery that committed without checking is caught here), and no STAGING
record is left implicitly committed (``ImplicitCommit ~> ExplicitCommit``, the liveness
half; with the safety half above, a transaction acknowledged to its client ends
COMMITTED).

The workloads are 2PC's (``protocols.twopc.sim``), with txnkv's shape: every node
coordinates, and keys are placed round-robin over the ranges (``RangeDescriptor.key_in``).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from protocols.check.invariants import InvariantViolation
from protocols.check.raft import RaftSafety
from protocols.clocks.hlc import HLCTimestamp
from protocols.common.ids import NodeId
from protocols.sim.api import SimAdapter, Verdict, WorkloadFactory, WorkloadParams
from protocols.sim.nemesis import NemesisAction
from protocols.twopc.sim import BankWorkload, ListAppendWorkload
from protocols.txnkv.core import TxnKvCore
from protocols.txnkv.messages import Split
from protocols.txnkv.mvcc import MVCCStore
from protocols.txnkv.ranges import range_of, spread
from protocols.txnkv.record import Intent, TxnRecord, TxnStatus, implicitly_committed
from protocols.txnkv.replica import Replica
from protocols.txnkv.spec import SPEC

if TYPE_CHECKING:
    from protocols.sim.world import World

__all__ = ["ADAPTER", "ParallelCommitProperties", "TxnKvAdapter", "TxnKvBank",
           "TxnKvListAppend", "atomicity_violations", "committed_state",
           "final_state_violations"]


def _cores(world: World) -> dict[str, TxnKvCore]:
    return {n: c for n in world.up_nodes() if isinstance(c := world.core(n), TxnKvCore)}


def committed_state(world: World) -> dict[str, Replica]:
    """Each range's most advanced replica among the live nodes (its applied state is
    the longest committed prefix seen)."""
    best: dict[str, Replica] = {}
    for core in _cores(world).values():
        for rid, replica in core.replicas.items():
            current = best.get(rid)
            if current is None or replica.raft.last_applied > current.raft.last_applied:
                best[rid] = replica
    return best


def holder(state: Mapping[str, Replica], key: str) -> Replica | None:
    """The replica in ``state`` that holds ``key``: of those whose range contains it,
    the latest-starting (a range that split keeps its left part)."""
    found = [r for r in state.values() if r.desc.contains(key)]
    return max(found, key=lambda r: r.desc.start) if found else None


def _found(state: Mapping[str, Replica], record: TxnRecord) -> list[Intent]:
    out = []
    for w in record.in_flight:
        replica = holder(state, w.key)
        mvcc: MVCCStore | None = replica.machine.mvcc if replica is not None else None
        intent = mvcc.intent(w.key) if mvcc is not None else None
        if intent is not None and intent.txn.id == record.txn_id:
            out.append(Intent(w.key, intent.txn.seq, intent.txn.epoch, intent.ts))
    return out


def _committed_at(state: Mapping[str, Replica], txn_id: str, epoch: int,
                  ts: HLCTimestamp) -> bool:
    """The attempt's record is COMMITTED already. A recovery working from a stale view
    may query a write after the commit resolved it (its intent gone): its "prevention"
    then comes too late to matter, and is not one the property is about."""
    return any(r is not None and r.status is TxnStatus.COMMITTED
               and (r.epoch, r.write_ts) == (epoch, ts)
               for replica in state.values() for r in (replica.machine.records.get(txn_id),))


class ParallelCommitProperties:
    """The TLA+ model's safety properties, after every event (see the module)."""

    def __init__(self) -> None:
        self.final: dict[str, TxnRecord] = {}
        self.implicit: dict[str, TxnRecord] = {}  # txn -> the STAGING record seen implicit
        self.acked: set[str] = set()
        self.prevented: set[tuple[str, int, HLCTimestamp]] = set()  # attempts
        self.safety: dict[str, RaftSafety] = {}

    def __call__(self, world: World) -> None:
        cores = _cores(world)
        if not cores:
            return
        state = committed_state(world)
        for core in cores.values():
            self.acked |= core.coordinator.acked.keys()
            for replica in core.replicas.values():
                for t, e, ts, _ in replica.prevented:
                    if (t, e, ts) not in self.prevented and not _committed_at(state, t, e, ts):
                        self.prevented.add((t, e, ts))
        self._raft(world)
        for core in cores.values():
            for replica in core.replicas.values():
                for record in replica.machine.records.values():
                    self._not_prevented(record)
                    self._never_changes(record)
        for replica in state.values():
            for record in replica.machine.records.values():
                if (record.status is TxnStatus.STAGING and record.txn_id not in self.implicit
                        and implicitly_committed(record, _found(state, record))):
                    self.implicit[record.txn_id] = record
        for txn_id, record in self.final.items():
            if record.status is TxnStatus.ABORTED and txn_id in self.implicit:
                raise InvariantViolation(
                    f"implicitly committed, then aborted: {txn_id} (STAGING at "
                    f"{self.implicit[txn_id].write_ts!r} with every write in place)")
            if record.status is TxnStatus.ABORTED and txn_id in self.acked:
                raise InvariantViolation(f"acknowledged to its client, then aborted: "
                                         f"{txn_id}")

    def _not_prevented(self, record: TxnRecord) -> None:
        """A recovery that prevented a write never lets that attempt commit."""
        if (record.status is TxnStatus.COMMITTED
                and (record.txn_id, record.epoch, record.write_ts) in self.prevented):
            raise InvariantViolation(
                f"committed at an attempt whose write a recovery prevented: {record.txn_id} "
                f"(epoch {record.epoch}, {record.write_ts!r})")

    def _never_changes(self, record: TxnRecord) -> None:
        """A replica that has not applied as far may still show it live: not a change."""
        if not record.status.finalized:
            return
        seen = self.final.setdefault(record.txn_id, record)
        if record != seen:
            raise InvariantViolation(f"a finalized record changed: {seen!r} -> {record!r}")

    def _raft(self, world: World) -> None:
        groups: dict[str, dict[str, tuple[int, Any]]] = {}
        for n, node in world.nodes.items():
            if node.up and isinstance(node.core, TxnKvCore):
                for rid, replica in node.core.replicas.items():
                    groups.setdefault(rid, {})[n] = (node.incarnation, replica.raft)
        for rid, nodes in groups.items():
            self.safety.setdefault(rid, RaftSafety()).observe(nodes)


def final_state_violations(world: World) -> list[str]:
    """Atomicity and the liveness half of the model's properties, on the final state."""
    cores = _cores(world)
    if not cores:
        return ["no live node to judge the final state on"]
    state = committed_state(world)
    out = atomicity_violations(world)
    for replica in state.values():
        for record in replica.machine.records.values():
            if record.status is TxnStatus.STAGING and implicitly_committed(
                    record, _found(state, record)):
                out.append(f"liveness: {record.txn_id} is implicitly committed and its "
                           f"record still STAGING after the final read")
    return out


def atomicity_violations(world: World) -> list[str]:
    """Every COMMITTED record's writes are in place (as its intents or resolved): true
    in every state, so the explorer checks it in each."""
    state = committed_state(world)
    return [f"atomicity: {record.txn_id} is COMMITTED at {record.write_ts!r} without "
            f"its write of {w.key!r}"
            for replica in state.values() for record in replica.machine.records.values()
            if record.status is TxnStatus.COMMITTED
            for w in record.in_flight if not _in_place(state, record, w.key)]


def _in_place(state: Mapping[str, Replica], record: TxnRecord, key: str) -> bool:
    """The write is there: still an intent of the record's epoch (at or below its
    timestamp), or resolved into a version at the record's timestamp."""
    replica = holder(state, key)
    if replica is None:
        return False
    mvcc = replica.machine.mvcc
    if any(v.ts == record.write_ts for v in mvcc.versions(key)):
        return True  # resolved (a stale copy landing later may sit above it: discarded)
    intent = mvcc.intent(key)
    return (intent is not None and intent.txn.id == record.txn_id
            and intent.txn.epoch == record.epoch and intent.ts <= record.write_ts)


# ====================================================================== workloads
class _TxnKvShape:
    """2PC's workloads on txnkv: every node coordinates; keys go round-robin over the
    ranges; the final read may start once every node is up and every range serves."""

    world: World
    shards: tuple[str, ...]

    def discover(self) -> tuple[list[str], tuple[str, ...]]:
        cores = _cores(self.world)
        if not cores:
            raise ValueError("txnkv workloads need a live node")
        self._ranges = next(iter(cores.values())).ranges
        return sorted(self.world.ids), tuple(r.range_id for r in self._ranges)

    def place(self, names: Sequence[str]) -> list[str]:
        return spread(self._ranges, names)

    def shard_name(self, key: str) -> str:
        return range_of(self._ranges, key).range_id

    def bank_placement(self) -> Callable[[Sequence[str]], list[str]] | None:
        return self.place

    def is_settled(self) -> bool:
        """Every node up, and every range (those split off too) serving."""
        if len(self.world.up_nodes()) != len(self.world.ids):
            return False
        serving, ranges = set(), set()
        for core in _cores(self.world).values():
            now = core.hlc.current
            serving |= {rid for rid, r in core.replicas.items() if r.serving(now)}
            ranges |= set(core.replicas)
        return serving == ranges


    def judged(self, verdict: Verdict) -> Verdict:
        """The checker's verdict, and the final state's (``final_state_violations``)."""
        problems = final_state_violations(self.world)
        if not problems:
            return verdict
        shown = "; ".join(problems[:5]) + (f"; ... {len(problems) - 5} more"
                                            if len(problems) > 5 else "")
        return Verdict(verdict.check, "violation", f"{verdict.summary}; {shown}")


class TxnKvBank(_TxnKvShape, BankWorkload):
    """Jepsen's bank over the ranges (``protocols.twopc.sim.BankWorkload``)."""

    def verdict(self) -> Verdict:
        return self.judged(super().verdict())


class TxnKvListAppend(_TxnKvShape, ListAppendWorkload):
    """Elle's list-append over the ranges, strict serializable by default."""

    def verdict(self) -> Verdict:
        return self.judged(super().verdict())


def bank_workload(world: World, params: WorkloadParams) -> TxnKvBank:
    return TxnKvBank(world, params)


def list_append_workload(world: World, params: WorkloadParams) -> TxnKvListAppend:
    return TxnKvListAppend(world, params)


def skew_clock(world: World, rng: random.Random) -> str | None:
    """A nemesis action: one node's clock jumps by a multiple of ``max_offset_ms``
    (within the bound: a half; beyond it: 1.5 or 3 times, ahead or behind) for half a
    second to two and a half; a restart brings the node back with its configured clock.
    Within the bound the uncertainty interval absorbs it; beyond it, ClockCheck finds the
    node out of sync and it stops serving until its clock is back."""
    cores = _cores(world)
    if not cores:
        return None
    n = rng.choice(sorted(cores))
    core = cores[n]
    factor = rng.choice((0.5, 1.5, 3.0)) * rng.choice((1, -1))
    skew = int(factor * core.options.max_offset_ms)
    core.skew_ms = core.options.clock_offset_ms + skew

    def back() -> None:
        if world.nodes[NodeId(n)].core is core:  # not restarted meanwhile
            core.skew_ms = core.options.clock_offset_ms

    world.at(rng.randrange(500, 2500), back)
    return f"skew {n} {skew:+d} ms"


def split_range(world: World, rng: random.Random) -> str | None:
    """A nemesis action: split a range while traffic runs, at one of the keys it holds
    (not its first), asked of a live node as a client would (``Split``): the range's
    leaseholder proposes it; its keys, intents and records move with the split."""
    cores = _cores(world)
    if not cores:
        return None
    n = rng.choice(sorted(cores))
    candidates = sorted((rid, k) for rid, r in cores[n].replicas.items()
                        for k in r.machine.mvcc.all_keys() if k > r.desc.start)
    if not candidates:
        return None
    rid, key = rng.choice(candidates)
    world.submit(rng.choice(sorted(cores)), Split(key))
    return f"split {rid} at {key!r}"


class TxnKvAdapter(SimAdapter):
    name = "txnkv"
    spec = SPEC
    rpc_timeout_ms = 1000  # a write's response waits for its range's Raft commit

    def invariants(self) -> Sequence[Callable[[World], None]]:
        return [ParallelCommitProperties()]

    def workloads(self) -> Mapping[str, WorkloadFactory]:
        return {"bank": bank_workload, "list-append": list_append_workload}

    def nemesis_actions(self) -> Mapping[str, NemesisAction]:
        return {"skew": skew_clock, "split": split_range}


ADAPTER = TxnKvAdapter()
