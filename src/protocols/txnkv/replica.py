"""One replica of a range: its Raft group's state machine, and, on the leaseholder, the
evaluation of every request (CockroachDB's ``Replica``: "evaluate at the leaseholder,
replicate the effects"; docs: Replication Layer, "Leases"; Transaction Layer).

* ``RangeMachine`` is what the range's Raft log drives (``ReplicatedMachine``): the MVCC
  store, the transaction records anchored here, and the lease. Every replica applies the
  same commands in the same order: a ``RequestLease``, or a ``WriteBatch`` of effects
  (an intent laid, an intent resolved, a record written) evaluated by the leaseholder.
* A ``SplitRange`` command splits the range at a key (CockroachDB's split trigger):
  every replica, applying it, keeps the keys below it and hands the rest, their intents,
  the records anchored there and a copy of the lease to a new ``RangeMachine``
  (``born``), which the node makes a range of its own: a new Raft group of the same
  replicas. A batch evaluated before a split and applied after it is refused if it
  touches what moved (``range-mismatch``), so nothing lands on the wrong side.
* ``Replica`` is the leaseholder's side. The lease (an HLC interval, itself a Raft
  command) says who may serve: the Raft leader acquires it once the previous one has
  expired, and extends it while it leads. The leaseholder evaluates a batch against the
  applied state and its **timestamp cache** (a write below a served read is pushed above
  it), answers reads at once and proposes the effects of writes, answering once applied.
  **Latches** make a batch wait while another one touching the same keys is in Raft, so
  an evaluation never reads state that a proposed command is about to change.

Why the lease's timestamps matter: reads are served by the leaseholder alone, so its
timestamp cache is in its memory only. A new holder's lease starts after the old one
expired, and its cache's low-water mark is that start: a write it evaluates goes above
every read the old holder served. A lease stops serving ``max_offset`` before it expires
(CockroachDB's stasis period), since another node's clock may be that far ahead.
"""

from __future__ import annotations

import itertools
import pickle
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from protocols.clocks.hlc import HLCTimestamp
from protocols.common.errors import InvalidRequest, Unavailable
from protocols.contract import Answer, Deferred
from protocols.raft.core import RaftCore, Role
from protocols.txnkv import record as rec
from protocols.txnkv.messages import (
    BatchRequest,
    BatchResponse,
    EndTxn,
    Err,
    Get,
    Header,
    Heartbeat,
    Lease,
    Push,
    Put,
    PutIntentEffect,
    PutRecordEffect,
    PutResult,
    QueryIntent,
    Recover,
    RequestLease,
    Resolve,
    ResolveEffect,
    Split,
    SplitRange,
    WriteBatch,
    decode,
    routing_key,
)
from protocols.txnkv.mvcc import (
    MVCCStore,
    ReadWithinUncertaintyIntervalError,
    TxnMeta,
    WriteIntentError,
    next_ts,
)
from protocols.txnkv.ranges import RangeDescriptor
from protocols.txnkv.record import TxnRecord, TxnStatus
from protocols.txnkv.tscache import TimestampCache

__all__ = ["RangeMachine", "Replica", "ReplicaSettings", "record_latch"]


def record_latch(txn_id: str) -> str:
    """The latch a request on ``txn_id``'s record takes (no user key starts with NUL)."""
    return f"\x00txn/{txn_id}"


def after(ts: HLCTimestamp, ms: int) -> HLCTimestamp:
    return HLCTimestamp(ts.wall + ms, 0)


# ============================================================================ the machine
class RangeMachine:
    """The replicated state of one range (``protocols.kv.rsm.ReplicatedMachine``)."""

    serves = "RequestLease and WriteBatch"

    def __init__(self, desc: RangeDescriptor) -> None:
        self.desc = desc  # replicated: a split narrows it
        self.mvcc = MVCCStore()
        self.records: dict[str, TxnRecord] = {}
        self.anchors: dict[str, str] = {}  # txn -> the key its record is anchored at
        self.lease = Lease()
        self.split_off: tuple[RangeDescriptor, ...] = ()  # the ranges split from this one
        self.proposals: dict[int, tuple[Any, Any, Any]] = {}
        self.transitions: list[TxnRecord] = []  # records applied that changed (observed.py)
        self.born: list[RangeMachine] = []  # right-hand sides of splits applied, for the node

    @property
    def state_machine(self) -> RangeMachine:
        return self

    @staticmethod
    def accepts(command: Any) -> bool:
        return isinstance(command, RequestLease | WriteBatch | SplitRange)

    def propose(self, slot: int, token: Any, request_id: Any, decoded: Any = None) -> None:
        self.proposals[slot] = (request_id, token, decoded)

    def apply(self, slot: int, token: Any, command: bytes, answers: list[Answer]) -> Any:
        waiting = self.proposals.get(slot)
        decoded = waiting[2] if waiting is not None and waiting[1] == token else None
        result = self.execute(decoded if decoded is not None else decode(command))
        self.settle(slot, token, result, answers)
        return result

    def execute(self, command: RequestLease | WriteBatch | SplitRange) -> Any:
        """Apply one command; what it returns answers its proposer."""
        if isinstance(command, RequestLease):
            return self._install_lease(command)
        if command.lease_sequence != self.lease.sequence:
            # evaluated under a lease no longer in force: its reads may be stale
            return Err("not-leaseholder", "the lease changed before the batch applied",
                       hint=self.lease.holder)
        if isinstance(command, SplitRange):
            return self._split(command)
        outside = [k for k in map(_effect_key, command.effects) if k and not self.desc.contains(k)]
        if outside:  # evaluated before a split that has applied since: all or nothing
            return self.mismatch(outside[0])
        for effect in command.effects:
            match effect:
                case PutIntentEffect(key=key, value=value, txn=txn):
                    self.mvcc.put(key, value, txn)
                case ResolveEffect(key=key, txn_id=txn_id, status=status, commit_ts=ts,
                                   epoch=epoch):
                    self.mvcc.resolve(key, txn_id, status, ts, epoch)
                case PutRecordEffect(record=record, anchor=anchor):
                    if anchor:
                        self.anchors.setdefault(record.txn_id, anchor)
                    held = self.records.get(record.txn_id)
                    if held is None or replace(held, last_heartbeat=record.last_heartbeat) \
                            != record:  # not a mere heartbeat
                        self.transitions.append(record)
                    self.records[record.txn_id] = record
        return "ok"

    def mismatch(self, key: str) -> Err:
        """A key this range does not hold (any more): what it knows of where it went."""
        return Err("range-mismatch", f"{key!r} is not in {self.desc.describe()}",
                   descriptors=(self.desc, *self.split_off))

    def _split(self, command: SplitRange) -> Any:
        """Keep ``[start, key)``; the rest goes to a new machine (see the module)."""
        key, desc = command.key, self.desc
        if not desc.contains(key) or key == desc.start:
            return Err("illegal", f"cannot split {desc.describe()} at {key!r}")
        # named at apply, so two splits proposed together get two names ("r2-1", "r2-2";
        # then "r2-1-1" for one of r2-1's)
        new_id = f"{desc.range_id}-{len(self.split_off) + 1}"
        right = RangeMachine(RangeDescriptor(new_id, key, desc.end, desc.replicas))
        self.desc = replace(desc, end=key)
        right.mvcc = self.mvcc.split_off(key)
        for txn_id, anchor in list(self.anchors.items()):
            if right.desc.contains(anchor):
                del self.anchors[txn_id]
                right.anchors[txn_id] = anchor
                if txn_id in self.records:
                    right.records[txn_id] = self.records.pop(txn_id)
                    # noted on the new side: its record's life goes on there
                    right.transitions.append(right.records[txn_id])
        right.lease = self.lease  # the same holder serves both sides until it expires
        self.split_off = (*self.split_off, right.desc)
        self.born.append(right)
        return right.desc

    def _install_lease(self, request: RequestLease) -> Lease | Err:
        """A lease is installed only on current knowledge (the sequence it replaces), and
        a new holder's lease starts after the old one expires: the two never overlap."""
        old, new = self.lease, request.lease
        if request.prev_sequence != old.sequence:
            return Err("illegal", f"lease request on sequence {request.prev_sequence}, "
                                  f"now {old.sequence}")
        if new.holder == old.holder:  # an extension: the same lease, later expiration
            self.lease = replace(old, expiration=max(old.expiration, new.expiration))
        elif new.start <= old.expiration:
            return Err("illegal", f"a lease for {new.holder} from {new.start!r} overlaps "
                                  f"{old.holder}'s until {old.expiration!r}")
        else:
            self.lease = replace(new, sequence=old.sequence + 1)
        return self.lease

    def settle(self, slot: int, token: Any, result: Any, answers: list[Answer]) -> None:
        waiting = self.proposals.pop(slot, None)
        if waiting is None:
            return
        request_id, proposed, _ = waiting
        if proposed == token:
            answers.append(Answer(request_id, result))
        else:
            answers.append(Answer(request_id, error=Unavailable(
                "leadership lost before the proposal was decided")))

    def abandon(self, leader_hint: str | None, answers: list[Answer]) -> None:
        for request_id, _, _ in self.proposals.values():
            answers.append(Answer(request_id, error=Unavailable(
                f"leadership lost before the proposal was decided (hint: {leader_hint})")))
        self.proposals.clear()

    def read(self, key: str) -> Any:
        raise InvalidRequest("a range is read through its leaseholder, not Raft")

    def snapshot(self) -> bytes:
        return pickle.dumps((self.desc, self.mvcc, self.records, self.anchors, self.lease,
                             self.split_off))

    def restore(self, blob: bytes) -> None:
        (self.desc, self.mvcc, self.records, self.anchors, self.lease,
         self.split_off) = pickle.loads(blob)  # our own disk's bytes


def _effect_key(effect: Any) -> str:
    """The key an effect touches (a record's: its anchor; "" if it has none)."""
    match effect:
        case PutIntentEffect(key=k) | ResolveEffect(key=k):
            return k
        case PutRecordEffect(anchor=a):
            return a
    return ""


# ============================================================================ the leaseholder
@dataclass(frozen=True, slots=True)
class ReplicaSettings:
    max_offset_ms: int  # the clocks' bound: the uncertainty interval and the stasis period
    lease_ms: int  # a lease's length; extended when half is left
    txn_ttl_ms: int  # a record without a heartbeat this long is abandoned
    queue_ticks: int = 200  # a batch waiting this long for a lease is refused


class _Refused(Exception):
    """An evaluation's early exit, carrying its Err."""

    def __init__(self, err: Err) -> None:
        self.err = err


@dataclass(slots=True)
class _Waiting:
    request: BatchRequest
    reply: Deferred
    keys: frozenset[str]
    since: int  # the tick it arrived at


class Replica:
    """A range's replica on one node: its Raft core, and the leaseholder's evaluation."""

    def __init__(self, node_id: str, raft: RaftCore, machine: RangeMachine,
                 settings: ReplicaSettings) -> None:
        self.node_id, self.raft, self.machine = node_id, raft, machine
        self.settings = settings
        self.tscache: TimestampCache | None = None  # built when it starts serving
        self.serving_sequence = -1  # the lease sequence the tscache is good for
        self.latched: Counter[str] = Counter()
        self.queue: deque[_Waiting] = deque()
        self.inflight: dict[Any, tuple[_Waiting, tuple[Any, ...]]] = {}
        self.lease_request: Any = None  # our lease proposal in Raft, if any
        self.replies: list[tuple[Deferred, BatchResponse]] = []
        # the attempts whose write a query prevented here: (txn, epoch, ts, key), latest
        self.prevented: deque[tuple[str, int, HLCTimestamp, str]] = deque(maxlen=4096)
        self.prevented_count = 0  # ever (the node notes the ones it has not yet)
        self.noted_prevented = 0
        # this node's clock is out of bounds (the core's ClockCheck): serve nothing
        self.out_of_sync: Callable[[], bool] = lambda: False
        self.ticks = 0
        self._ids = itertools.count(1)
        self.trace: list[str] = []

    @property
    def desc(self) -> RangeDescriptor:
        """The range as its applied log says (a split narrows it)."""
        return self.machine.desc

    # ------------------------------------------------------------------ the lease
    def serving(self, now: HLCTimestamp) -> bool:
        """May this replica evaluate requests now? It leads the Raft group, has applied
        an entry of its term (so every earlier proposal is applied or gone), and holds the
        lease outside its stasis period."""
        lease = self.machine.lease
        raft = self.raft
        return (not self.out_of_sync() and raft.role is Role.LEADER
                and lease.holder == self.node_id
                and raft.log.term_at(raft.last_applied) == raft.current_term
                and now < HLCTimestamp(lease.expiration.wall - self.settings.max_offset_ms,
                                       lease.expiration.logical))

    def maybe_acquire(self, now: HLCTimestamp) -> None:
        """The Raft leader takes the lease once the old one has expired, and extends its
        own when half of it is left."""
        raft = self.raft
        if (self.out_of_sync() or raft.role is not Role.LEADER or self.lease_request is not None
                or raft.log.term_at(raft.last_applied) != raft.current_term):
            return
        lease, ms = self.machine.lease, self.settings.lease_ms
        if lease.holder == self.node_id:
            if lease.expiration.wall - now.wall >= ms // 2:
                return
            wanted = Lease(self.node_id, lease.start, after(now, ms), lease.sequence)
        elif now > lease.expiration:
            start = max(now, next_ts(lease.expiration))
            wanted = Lease(self.node_id, start, after(start, ms), lease.sequence + 1)
        else:
            return  # another's lease is in force: wait for it to expire
        self.lease_request = ("lease", self.desc.range_id, next(self._ids))
        self.raft.submit(self.lease_request, RequestLease(wanted, lease.sequence))

    def _timestamp_cache(self) -> TimestampCache:
        """The cache for the lease in force. A lease we acquired in this process starts
        its cache at the lease's start (``on_answers``); one found on starting (we held it
        before a crash, and may have served reads under it) starts at its expiration."""
        lease = self.machine.lease
        if self.tscache is None or self.serving_sequence != lease.sequence:
            self.tscache = TimestampCache(low_water=lease.expiration, max_entries=4096)
            self.serving_sequence = lease.sequence
        return self.tscache

    # ------------------------------------------------------------------ requests
    def on_request(self, request: BatchRequest, reply: Deferred, now: HLCTimestamp) -> None:
        keys = frozenset(latch_keys(request))
        outside = self._outside(request)
        if outside is not None:  # it split: route again
            self._reply(reply, outside, now)
            return
        if any(isinstance(op, Split) for op in request.ops) and len(request.ops) > 1:
            self._reply(reply, Err("illegal", "a Split goes alone in its batch"), now)
            return
        if self.raft.role is not Role.LEADER:
            self._reply(reply, self._not_leaseholder(), now)
            return
        self.queue.append(_Waiting(request, reply, keys, self.ticks))
        self.pump(now)

    def _not_leaseholder(self) -> Err:
        hint = self.raft.leader_id or self.machine.lease.holder
        return Err("not-leaseholder", f"{self.node_id} does not hold {self.desc.range_id}'s "
                                      f"lease", hint=hint if hint != self.node_id else "")

    def pump(self, now: HLCTimestamp) -> None:
        """Evaluate what waits, in arrival order; a batch whose keys are latched (or
        wanted by an earlier waiting batch) keeps waiting."""
        if not self.serving(now):
            self.maybe_acquire(now)
            if self.raft.role is not Role.LEADER:
                while self.queue:
                    self._reply(self.queue.popleft().reply, self._not_leaseholder(), now)
            return
        blocked: set[str] = set()
        for waiting in list(self.queue):
            if waiting.keys & blocked or any(self.latched[k] for k in waiting.keys):
                blocked |= waiting.keys
                continue
            self.queue.remove(waiting)
            self._evaluate(waiting, now)

    def tick(self, now: HLCTimestamp) -> None:
        self.ticks += 1
        while self.queue and self.ticks - self.queue[0].since > self.settings.queue_ticks:
            self._reply(self.queue.popleft().reply, self._not_leaseholder(), now)
        self.maybe_acquire(now)
        self.pump(now)

    def _reply(self, to: Deferred, what: Err | tuple[Any, ...], now: HLCTimestamp) -> None:
        response = (BatchResponse(error=what, now=now) if isinstance(what, Err)
                    else BatchResponse(results=what, now=now))
        self.replies.append((to, response))

    def _outside(self, request: BatchRequest) -> Err | None:
        """A ``range-mismatch`` if an operation's key is not (or no longer) ours."""
        for op in request.ops:
            key = routing_key(op)
            if key and not self.desc.contains(key):
                return self.machine.mismatch(key)
        return None

    def _evaluate(self, waiting: _Waiting, now: HLCTimestamp) -> None:
        outside = self._outside(waiting.request)  # a split applied while it waited
        if outside is not None:
            self._reply(waiting.reply, outside, now)
            return
        op = waiting.request.ops[0] if waiting.request.ops else None
        if isinstance(op, Split):
            self._propose_split(waiting, op.key)
            return
        effects: list[Any] = []
        try:
            results = tuple(self._eval(op, waiting.request.header, effects, now)
                            for op in waiting.request.ops)
        except _Refused as refused:
            self._reply(waiting.reply, refused.err, now)
            return
        if not effects:
            self._reply(waiting.reply, results, now)
            return
        rid = ("batch", self.desc.range_id, next(self._ids))
        for key in waiting.keys:
            self.latched[key] += 1
        self.inflight[rid] = (waiting, results)
        self.raft.submit(rid, WriteBatch(self.machine.lease.sequence, tuple(effects)))

    def _propose_split(self, waiting: _Waiting, key: str) -> None:
        """Propose the split; its applying answers (the new range's descriptor)."""
        rid = ("split", self.desc.range_id, next(self._ids))
        for k in waiting.keys:
            self.latched[k] += 1
        self.inflight[rid] = (waiting, ())
        self.raft.submit(rid, SplitRange(key, self.machine.lease.sequence))

    def on_answers(self, answers: list[Answer], now: HLCTimestamp) -> list[Answer]:
        """Our proposals' outcomes (from the Raft core's Ready); returns the others."""
        rest = []
        for answer in answers:
            if answer.request_id == self.lease_request and self.lease_request is not None:
                self.lease_request = None
                lease = answer.result
                if isinstance(lease, Lease) and lease.holder == self.node_id \
                        and lease.sequence != self.serving_sequence:
                    self.tscache = TimestampCache(low_water=lease.start, max_entries=4096)
                    self.serving_sequence = lease.sequence
                    self.trace.append(f"{self.desc.range_id}: lease {lease.sequence} from "
                                      f"{lease.start!r} to {lease.expiration!r}")
            elif answer.request_id in self.inflight:
                waiting, results = self.inflight.pop(answer.request_id)
                for key in waiting.keys:
                    self.latched[key] -= 1
                    if not self.latched[key]:
                        del self.latched[key]
                if answer.error is not None:  # may still commit under the next leader
                    self._reply(waiting.reply, Err("unavailable", str(answer.error)), now)
                elif isinstance(answer.result, Err):
                    self._reply(waiting.reply, answer.result, now)
                elif isinstance(answer.result, RangeDescriptor):  # a split applied
                    self._reply(waiting.reply, (answer.result,), now)
                else:
                    self._reply(waiting.reply, results, now)
            else:
                rest.append(answer)
        self.pump(now)
        return rest

    # ------------------------------------------------------------------ one operation
    def _eval(self, op: Any, h: Header, effects: list[Any], now: HLCTimestamp) -> Any:
        match op:
            case Get():
                return self._get(op, h)
            case Put():
                return self._put(op, h, effects)
            case EndTxn():
                return self._end_txn(op, effects, now)
            case Heartbeat(txn_id=txn_id):
                current = self.machine.records.get(txn_id)
                if current is None or current.status.finalized:
                    return current
                return self._write_record(rec.heartbeat(current, now), effects)
            case Push(pushee=pushee):
                return self._push(pushee, effects, now)
            case QueryIntent():
                return self._query_intent(op)
            case Resolve():
                return self._resolve(op, effects)
            case Recover():
                return self._recover(op, effects)
        raise _Refused(Err("illegal", f"unknown operation {type(op).__name__}"))

    def _get(self, op: Get, h: Header) -> bytes | None:
        tscache = self._timestamp_cache()
        try:
            value = self.machine.mvcc.get(op.key, h.read_ts, h.txn, self.settings.max_offset_ms)
        except WriteIntentError as e:
            raise _Refused(Err("write-intent", str(e), intents=e.intents)) from e
        except ReadWithinUncertaintyIntervalError as e:
            raise _Refused(Err("uncertainty", str(e), ts=e.value_ts)) from e
        tscache.add(op.key, h.read_ts, h.txn.id if h.txn else None)
        return value

    def _put(self, op: Put, h: Header, effects: list[Any]) -> PutResult:
        """The intent goes at the transaction's write timestamp, pushed above any read
        another transaction was served there (the timestamp cache) and above the newest
        committed version; ``too_old`` if that version is above the transaction's read
        timestamp (someone committed a write it did not read: a lost update)."""
        txn = h.txn
        if txn is None:
            raise _Refused(Err("illegal", "a Put outside a transaction"))
        ts = self._timestamp_cache().pushed_ts(op.key, txn.write_ts, txn.id)
        mvcc = self.machine.mvcc
        intent = mvcc.intent(op.key)
        if intent is not None and intent.txn.id != txn.id:
            raise _Refused(Err("write-intent", f"{intent.txn.id}'s intent on {op.key!r}",
                               intents=(intent,)))
        if intent is not None and intent.txn.epoch > txn.epoch:
            raise _Refused(Err("illegal", f"{txn.id} writes {op.key!r} below its epoch"))
        versions = mvcc.versions(op.key)
        too_old = bool(versions) and versions[0].ts > h.read_ts
        if intent is not None and intent.txn.epoch == txn.epoch:
            if intent.txn.seq >= op.seq:
                # a replay (the reply was lost, the request resent): it landed already, and
                # must not move, or it would stop counting for a STAGING record that may
                # already be implicitly committed (CockroachDB: idempotent replays)
                return PutResult(intent.ts, too_old)
            ts = max(ts, intent.ts)  # a later write of ours to the key: never moved down
        if versions and versions[0].ts >= ts:
            ts = next_ts(versions[0].ts)
        effects.append(PutIntentEffect(op.key, op.value, replace(txn, write_ts=ts, seq=op.seq)))
        return PutResult(ts, too_old)

    def _write_record(self, record: TxnRecord, effects: list[Any], anchor: str = ""
                      ) -> TxnRecord:
        anchor = self.machine.anchors.get(record.txn_id, anchor)
        effects.append(PutRecordEffect(record, anchor))
        return record

    def _end_txn(self, op: EndTxn, effects: list[Any], now: HLCTimestamp) -> TxnRecord:
        """The record's transitions (``record.py``), idempotent for a retried request."""
        current = self.machine.records.get(op.txn_id)
        fresh = TxnRecord.begin(op.txn_id, op.write_ts, now)
        fresh = replace(fresh, epoch=op.epoch)
        if current is not None and current.status is TxnStatus.ABORTED:
            if op.status is TxnStatus.ABORTED:
                return current
            raise _Refused(Err("txn-aborted", f"{op.txn_id} was aborted", record=current))
        if current is not None and current.status is TxnStatus.COMMITTED:
            if op.status is TxnStatus.COMMITTED or op.status is TxnStatus.ABORTED:
                return current  # committed (by a recovery, maybe): the caller learns it
            raise _Refused(Err("illegal", f"{op.txn_id} is committed", record=current))
        try:
            match op.status:
                case TxnStatus.PENDING:
                    if current is not None:
                        return current
                    return self._write_record(fresh, effects, op.anchor)
                case TxnStatus.STAGING:
                    if (current is not None and current.status is TxnStatus.STAGING
                            and (current.epoch, current.write_ts, current.in_flight)
                            == (op.epoch, op.write_ts, op.in_flight)):
                        return current  # a retry
                    return self._write_record(rec.stage(
                        current or fresh, op.in_flight, epoch=op.epoch,
                        write_ts=op.write_ts, now=now), effects, op.anchor)
                case TxnStatus.COMMITTED:
                    if current is None:
                        raise _Refused(Err("illegal", f"commit of {op.txn_id}: no record"))
                    return self._write_record(rec.commit(current), effects, op.anchor)
                case TxnStatus.ABORTED:
                    return self._write_record(rec.abort(current or fresh), effects, op.anchor)
        except rec.IllegalTransition as e:
            raise _Refused(Err("illegal", str(e), record=current)) from e
        raise _Refused(Err("illegal", f"EndTxn to {op.status}"))

    def _push(self, pushee: TxnMeta, effects: list[Any], now: HLCTimestamp
              ) -> TxnRecord | None:
        """What the pusher should do about ``pushee``'s intent: its record if final (to
        resolve the intent) or STAGING (to recover it once abandoned); an abandoned
        PENDING or missing record is aborted here and now; None: alive, wait."""
        current = self.machine.records.get(pushee.id)
        ttl = self.settings.txn_ttl_ms
        if current is None:
            if now.wall - pushee.write_ts.wall > ttl:  # no record, and no sign of life
                aborted = rec.abort(replace(TxnRecord.begin(pushee.id, pushee.write_ts,
                                                            pushee.write_ts),
                                            epoch=pushee.epoch))
                return self._write_record(aborted, effects, pushee.anchor or "")
            return None
        if current.status is TxnStatus.PENDING and rec.expired(current, now, ttl):
            return self._write_record(rec.abort(current), effects)
        return current

    def _query_intent(self, op: QueryIntent) -> bool:
        """Found, or prevented from now on (``record.WriteSlot.query_and_prevent``)."""
        intent = self.machine.mvcc.intent(op.write.key)
        found = None
        if intent is not None and intent.txn.id == op.txn_id:
            found = rec.Intent(op.write.key, intent.txn.seq, intent.txn.epoch, intent.ts)
        staged = TxnRecord(op.txn_id, TxnStatus.STAGING, op.epoch, op.ts, (op.write,))
        if rec.counts(staged, op.write, found):
            return True
        self._timestamp_cache().add(op.write.key, op.ts, None)  # the late write goes above
        # for the TLA+ model's "a prevented write never lets its attempt commit" (sim.py's
        # invariant reads it after every event; the node notes it for observed.py)
        self.prevented.append((op.txn_id, op.epoch, op.ts, op.write.key))
        self.prevented_count += 1
        return False

    def _resolve(self, op: Resolve, effects: list[Any]) -> bool:
        intent = self.machine.mvcc.intent(op.key)
        if intent is None or intent.txn.id != op.txn_id or intent.txn.epoch > op.epoch:
            return False
        status = op.status
        if (status is TxnStatus.COMMITTED and intent.txn.epoch == op.epoch
                and op.commit_ts < intent.ts):
            # an intent above its committed record: a write that landed after its
            # transaction committed (a request resent after its reply was lost, or a
            # delayed copy). Every write was in place at the record's timestamp when it
            # committed, so this one is a stale copy of one already resolved: discarded
            status = TxnStatus.ABORTED
        effects.append(ResolveEffect(op.key, op.txn_id, status, op.commit_ts, op.epoch))
        return True

    def _recover(self, op: Recover, effects: list[Any]) -> TxnRecord | None:
        current = self.machine.records.get(op.txn_id)
        if (current is None or current.status is not TxnStatus.STAGING
                or (current.epoch, current.write_ts) != (op.epoch, op.ts)):
            return current  # finalized or re-staged meanwhile: nothing to do here
        done = rec.commit(current) if op.commit else rec.abort(current)
        return self._write_record(done, effects)


def latch_keys(request: BatchRequest) -> list[str]:
    keys: list[str] = []
    for op in request.ops:
        match op:
            case Get(key=k) | Put(key=k) | Resolve(key=k):
                keys.append(k)
            case QueryIntent(write=w):
                keys.append(w.key)
            case EndTxn(txn_id=t) | Heartbeat(txn_id=t) | Recover(txn_id=t):
                keys.append(record_latch(t))
            case Push(pushee=p):
                keys.append(record_latch(p.id))
    return keys

