"""The CockroachDB-style store as a model for the explorer (``protocols.explore``).

The issue's small configuration: 3 nodes, 2 keys, one crash, messages lost and
reordered. To keep it finite and small the model trims what the commit protocol does not
need (each trim is a bound, said here, not a change to the cores):

* each range has **one replica** (``replication=1``): ``r1`` (keys below ``h``) on n1,
  ``r2`` on n2, n3 hosts none. A range is still a Raft group (its election, its log,
  its lease written through it, its WAL replayed after a crash); what a single replica
  does not explore is a lease moving between replicas (the simulator's nemesis does);
* **no clock checks** (``clock_check_ticks`` beyond the bounds): the HLCs still move with
  every message; Ann's node's clock runs 30 ms ahead, within ``max_offset_ms`` (100 ms),
  so her timestamp is above the leases' starts, and Bob's read may find her writes in
  its uncertainty interval and restart;
* **time is the ticks**: a tick stands for 10 ms of the node's clock; a record without a
  heartbeat for more than 10 ms is abandoned, and the coordinator's heartbeat is every
  30 ms, so a reader may find a live transaction's record abandoned and push it (abort
  or recover it) while its coordinator is still at work: the races the recovery
  protocol exists for;
* a node's timer is a move only while it does something (``armed``): a range not yet
  serving (its election, its lease), or a coordinator with a transaction open or a retry
  due.

The clients: **Ann** writes ``a`` (on r1, her record's range) and ``k`` (on r2) in one
transaction at n3 (a parallel commit: the STAGING record and both writes in one round);
**Bob** reads ``a`` and ``k`` at n1: he meets Ann's intents and pushes her record, and
when he finds it STAGING and abandoned, he recovers it (query each write, prevent a
missing one, then commit or abort).

Checked in every state:

* the simulator's invariants (``ParallelCommitProperties``: the properties of
  CockroachDB's TLA+ model of parallel commits): a finalized record never changes; an
  implicitly committed transaction is never aborted; one acknowledged to its client is
  never aborted; and Raft's safety in each range;
* **atomicity** (``atomicity_violations``): a COMMITTED record's every write is in place
  (a recovery that commits without checking breaks it);
* **Bob reads atomically** (all or nothing of Ann's transaction), and **nothing
  acknowledged is lost**: if Ann was told "committed" before Bob asked, Bob sees both of
  her writes.

Sometimes (the model reaches what it is for): Ann's commit acknowledged; her
transaction aborted by a push; Bob sees her writes; a STAGING record recovered.

Models (``scripts/check-models txnkv``; each ``small`` or ``full``):

* ``recovery``: Ann's coordinator (n3) crashes once, at any point after she asked, and
  never comes back; ``full`` adds a lost message and timeouts;
* ``store``: no crash (the races of pushes, aborts and recovery alone); ``full``: one
  crash of any node, which restarts from its WAL, and one lost message.

The whole space of either is out of reach here (about 300 states/s; every message
carries an HLC, and each range's log and lease are state): ``check-models`` stops each
after ``MAX_STATES`` (its row says "bounded"), and the tests walk the first states
depth first, which go deep first: a coordinator killed in the middle of its commit and
the recovery after it. The planted blind recovery (commit a STAGING record without
checking its writes) is found in its first thousand states
(``tests/explore/test_txnkv_model.py``).
"""

from __future__ import annotations

from typing import Any

from protocols.check.history import Event
from protocols.common.ids import NodeId
from protocols.explore import Always, Bounds, ExploreAdapter, Sometimes, System
from protocols.twopc.messages import MicroOp, Transact
from protocols.txnkv.core import TxnKvCore
from protocols.txnkv.record import TxnStatus
from protocols.txnkv.sim import ADAPTER, atomicity_violations, committed_state
from protocols.txnkv.spec import SPEC

__all__ = ["MODELS", "OPTIONS"]

OPTIONS: dict[str, Any] = {
    "splits": ["h"], "replication": 1,
    "election_timeout_min_ticks": 2, "election_timeout_max_ticks": 3,
    "heartbeat_interval_ticks": 1, "clock_check_ticks": 1_000_000,
    "max_offset_ms": 100, "lease_ms": 1_000_000, "txn_timeout_ms": 1_000_000,
    "txn_ttl_ms": 10, "heartbeat_ms": 30, "backoff_ticks": 1, "fsync": True}
# Ann's node's clock runs 30 ms ahead (within max_offset_ms): her timestamp is above the
# leases' starts (else a new lease's timestamp cache pushes her, and she restarts)
NODE_OPTIONS = {"n3": {"clock_offset_ms": 30}}
ANN = Transact((MicroOp("w", "a", 1), MicroOp("w", "k", 1)))
BOB = Transact((MicroOp("r", "a"), MicroOp("r", "k")))
# not state: counters for status, what every node has alike from its options
IGNORE = frozenset({
    "TxnKvCore.clock_refusals", "TxnKvCore.options", "TxnKvCore.ranges", "TxnKvCore.peers",
    "TxnKvCore.offsets", "TxnKvCore.tick_s", "Coordinator.stats", "Coordinator.settings",
    "RangeMachine.transitions",
    "Coordinator.ranges", "Replica.settings", "RaftCore.options"})


def _cores(system: System) -> dict[str, TxnKvCore]:
    return {n: c for n in system.up_nodes() if isinstance(c := system.core(n), TxnKvCore)}


def _armed(system: System, n: str) -> bool:
    core = system.core(n)
    assert isinstance(core, TxnKvCore)
    now = core.hlc.current
    pump = system.nodes[NodeId(n)].pump
    if any(not r.serving(now) for r in core.replicas.values()):
        # setting up (an election, a lease): a tick moves it on once the last write is in
        return pump is None or pump.writing is None
    return core.coordinator.busy()


def _set_up_first(system: System) -> bool:
    """The clients come once every range has its lease (or after a crash): a request
    that finds no leaseholder only retries, and its retries spend the ticks."""
    if not system.submitted or system.crashes:
        return True
    return all(r.machine.lease.holder for c in _cores(system).values()
               for r in c.replicas.values())


def _answer(system: System, index: int) -> Event | None:
    return system.answers().get(index)


def _reads(event: Event) -> dict[str, Any]:
    """What each read saw: Ann's value, or None (never written)."""
    return {r.key: (r.values[-1] if r.present and r.values else None)
            for r in event.value or ()}


def _atomic(system: System) -> str | None:
    problems = atomicity_violations(system)  # type: ignore[arg-type]
    return "; ".join(problems) or None


def _bob_reads_atomically(system: System) -> str | None:
    bob = _answer(system, 1)
    if bob is None or bob.type != "ok":
        return None
    seen = _reads(bob)
    if len({seen.get("a"), seen.get("k")}) != 1:
        return f"Bob read half of Ann's transaction: {seen}"
    ann = _answer(system, 0)
    events = system.history.events
    asked = next(i for i, e in enumerate(events) if e.type == "invoke" and e.process == 1)
    if (ann is not None and ann.type == "ok" and events.index(ann) < asked
            and seen.get("a") != 1):
        return f"Ann's commit was acknowledged before Bob asked, and Bob read {seen}"
    return None


def _ann_committed(system: System) -> bool:
    ann = _answer(system, 0)
    return ann is not None and ann.type == "ok"


def _ann_aborted(system: System) -> bool:
    return any(r.status is TxnStatus.ABORTED
               for replica in committed_state(system).values()  # type: ignore[arg-type]
               for r in replica.machine.records.values())


def _bob_sees_ann(system: System) -> bool:
    bob = _answer(system, 1)
    return bob is not None and bob.type == "ok" and _reads(bob).get("a") == 1


def _recovered(system: System) -> bool:
    return any(c.coordinator.stats["recoveries"] for c in _cores(system).values())


def _crashed(system: System) -> bool:
    return system.crashes > 0


# checked in every state (with the simulator's invariants, which the adapter adds)
_CHECKED = (Always("atomicity", _atomic),
            Always("Bob reads atomically, nothing acknowledged lost", _bob_reads_atomically))
MAX_STATES = 100_000  # scripts/check-models' default bound (the whole space is far larger)


def _only_n3_crashes(system: System) -> bool:
    """n3 alone crashes, once Ann is under way."""
    if system.crashes and 0 not in system.submitted:
        return False
    return _set_up_first(system) and all(system.nodes[n].up for n in system.ids
                                         if n != "n3")


def recovery(size: str = "small") -> ExploreAdapter:
    """Ann's coordinator (n3) crashes once, at any point after she asked, and never
    comes back: Bob finds what it left, and pushes, aborts or recovers it. "full": one
    message may also be lost, and a request may time out."""
    full = size == "full"
    return ExploreAdapter(
        "recovery", SPEC, nodes=3, options=OPTIONS, node_options=NODE_OPTIONS,
        bounds=Bounds(depth=60, ticks=7, crashes=1, drops=1 if full else 0, duplicates=0,
                      timeouts=full, restarts=False, in_flight=6, persist_moves=True),
        commands=(ANN, BOB), targets=(("n3",), ("n1",)),
        properties=(*_CHECKED,
                    Sometimes("Ann's commit acknowledged", _ann_committed),
                    Sometimes("Bob sees Ann's writes", _bob_sees_ann),
                    Sometimes("a STAGING record recovered", _recovered)),
        symmetric=False, ignore=IGNORE, sim=ADAPTER, armed=_armed,
        within=_only_n3_crashes, closures=True, max_states=MAX_STATES,
        summary="txnkv: Ann's coordinator dies for good; Bob recovers what it left"
                + ("; one lost message, timeouts" if full else ""))


def store(size: str = "small") -> ExploreAdapter:
    """"small": no crash, no loss (the races of pushes and recovery alone); "full": one
    crash of any node (restarting from its WAL) and one lost message."""
    full = size == "full"
    return ExploreAdapter(
        "store", SPEC, nodes=3, options=OPTIONS,
        bounds=Bounds(depth=60, ticks=7, crashes=1 if full else 0, drops=1 if full else 0,
                      duplicates=0, timeouts=full, in_flight=6, persist_moves=True),
        commands=(ANN, BOB), targets=(("n3",), ("n1",)),
        properties=(*_CHECKED,
                    Sometimes("Ann's commit acknowledged", _ann_committed),
                    Sometimes("Ann's transaction aborted by a push", _ann_aborted),
                    Sometimes("Bob sees Ann's writes", _bob_sees_ann),
                    Sometimes("a STAGING record recovered", _recovered),
                    *((Sometimes("a crash", _crashed),) if full else ())),
        node_options=NODE_OPTIONS,
        symmetric=False, ignore=IGNORE, sim=ADAPTER, armed=_armed, within=_set_up_first,
        closures=True, max_states=MAX_STATES,
        summary="txnkv: Ann's parallel commit across two ranges, Bob's read pushing and "
                "recovering it" + ("; one crash, one lost message" if full else ""))


MODELS = {"store": store, "recovery": recovery}
