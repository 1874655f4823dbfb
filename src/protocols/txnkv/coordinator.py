"""The transaction coordinator (CockroachDB's ``TxnCoordSender``): it runs a client's
transaction against the ranges' leaseholders and commits it.

A transaction (``Transact``: Jepsen's micro-ops ``r``, ``w``, ``append``, ``add``, as the
2PC store takes them) runs in *attempts*, each with its own id and HLC timestamp:

1. **Reads.** Every key an op needs is read at the attempt's timestamp, one batch per
   range, in parallel. A read that meets another transaction's intent **pushes** that
   transaction's record: a final record tells how to resolve the intent; an abandoned
   one is aborted (PENDING) or **recovered** (STAGING: status resolution, below); a live
   one is waited for. A value in the read's uncertainty interval restarts the reads
   above it.
2. **Writes and the commit.** The ops are applied to what was read; the written keys'
   intents go to their ranges, and the transaction record to the range of the first one
   (its *anchor*), all in parallel. With **parallel commits** (the default) the record
   is written STAGING, naming every write as in flight: once every intent is acknowledged
   at or below the record's timestamp, the transaction *is* committed (implicitly) and
   the client is answered, one consensus round after the reads; the record is then made
   COMMITTED and the intents resolved. The **two-round commit** (``commit="two-round"``)
   writes the record PENDING beside the intents, then COMMITTED, then answers: one round
   more.
3. **Restarts.** An intent pushed above the timestamp (a later read was served there: the
   timestamp cache) or above a committed version newer than the read (``too_old``: a
   lost update) means the reads may be stale: under serializable isolation the attempt is
   aborted (its record ABORTED, its intents removed) and a new one starts. Under snapshot
   isolation a push is accepted: the record is re-staged at the higher timestamp (only
   ``too_old`` restarts, first committer wins), which is what lets write skew through.

**Status resolution** (RFC "Parallel Commits"; ``record.Recovery``): a transaction that
finds a STAGING record abandoned asks each in-flight write's range whether the intent is
there, *preventing* it if not (the range's timestamp cache is raised, so the late write
lands above the record's timestamp and can never count), then commits the record if every
write was found, else aborts it; the record's range refuses to change a record that was
re-staged meanwhile. A coordinator that dies at any step thus leaves a transaction that
others finish, the same way every time.
"""

from __future__ import annotations

import functools
import itertools
import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from protocols.clocks.hlc import HLCTimestamp
from protocols.common.errors import Aborted, InvalidRequest, Unavailable
from protocols.twopc.messages import MicroOp, Read
from protocols.txnkv import record as rec
from protocols.txnkv.messages import (
    BatchRequest,
    BatchResponse,
    EndTxn,
    Err,
    Get,
    Header,
    Heartbeat,
    Push,
    Put,
    PutResult,
    QueryIntent,
    Recover,
    Resolve,
    Split,
    routing_key,
)
from protocols.txnkv.mvcc import Intent, TxnMeta, next_ts
from protocols.txnkv.observed import ack_note
from protocols.txnkv.ranges import RangeDescriptor, learn, range_of
from protocols.txnkv.record import TxnRecord, TxnStatus, Write

__all__ = ["Coordinator", "CoordinatorSettings", "decode_value", "encode_value"]


def encode_value(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def decode_value(raw: bytes | None) -> Any:
    return None if raw is None else json.loads(raw)


@dataclass(frozen=True, slots=True)
class CoordinatorSettings:
    commit: str = "parallel"  # or "two-round"
    isolation: str = "serializable"  # or "snapshot"
    txn_ttl_ms: int = 1000
    heartbeat_ms: int = 250
    max_attempts: int = 8  # a transaction restarted this often is refused (Aborted)
    # no attempt starts, and no wait goes on, this long after the client asked: a client
    # that gave up must not see its transaction begin again behind its back
    txn_timeout_ms: int = 1500
    max_waits: int = 60  # rounds waiting on a live transaction's intent before giving up
    backoff_ticks: int = 5  # the first wait; it doubles up to 8x, with jitter
    route_tries: int = 12  # sends to a range (leaseholder changes, timeouts) per request
    max_silences: int = 4  # ... of which without any reply (each waits a whole deadline)
    tick_ms: int = 10  # what one tick stands for
    # fault injection: hold a parallel commit's explicit commit this long after the client
    # is answered (the window in which a dead coordinator leaves a STAGING record)
    explicit_commit_delay_ms: int = 0


Done = Callable[[BatchResponse], None]


@dataclass(slots=True)
class _Attempt:
    txn_id: str
    epoch: int
    read_ts: HLCTimestamp
    write_ts: HLCTimestamp
    anchor: str | None = None
    writes: dict[str, Any] = field(default_factory=dict)  # key -> final value
    record_written: bool = False
    last_heartbeat: int = 0  # tick


@dataclass(slots=True)
class _Txn:
    request_id: Any
    ops: tuple[MicroOp, ...]
    attempts: int = 0
    waits: int = 0
    attempt: _Attempt | None = None
    reads: dict[str, Any] = field(default_factory=dict)  # key -> value read
    results: tuple[Read, ...] = ()
    answered: bool = False
    generation: int = 0  # bumps with every restart: stale callbacks are dropped
    submitted_ms: int = 0  # the coordinator's clock (wall, ms) when the client asked


class Coordinator:
    """Runs transactions for one node. Sans-IO: ``send(node, request, done)`` is the
    core's, which calls ``done(response)`` or ``done(None)`` (no reply in time)."""

    def __init__(self, node_id: str, ranges: Sequence[RangeDescriptor],
                 now: Callable[[], HLCTimestamp], rng: random.Random,
                 settings: CoordinatorSettings,
                 send: Callable[[str, BatchRequest, Callable[[BatchResponse | None], None]],
                                None],
                 answer: Callable[[Any, Any, Exception | None], None],
                 trace: Callable[[str], None]) -> None:
        self.node_id, self.ranges, self.now, self.rng = node_id, tuple(ranges), now, rng
        self.settings, self._send, self._answer, self.trace = settings, send, answer, trace
        self.leaseholders: dict[str, str] = {}  # range -> who answered last
        self.txns: dict[Any, _Txn] = {}
        self.ticks = 0
        self._timers: list[tuple[int, Callable[[], None]]] = []
        self._ids = itertools.count(1)
        self._nonce = rng.getrandbits(24)  # txn ids stay unique across restarts
        self.stats = {"committed": 0, "writes_committed": 0, "aborted": 0, "restarts": 0,
                      "recoveries": 0,
                      "uncertain": 0}  # reads restarted by a value in their uncertainty
        # the latest attempts with writes acknowledged as committed (the simulator's
        # properties collect them after every event; bounded, for a long-lived node)
        self.acked: dict[str, None] = {}

    # ------------------------------------------------------------------ time
    def tick(self) -> None:
        self.ticks += 1
        due = [cb for t, cb in self._timers if t <= self.ticks]
        self._timers = [(t, cb) for t, cb in self._timers if t > self.ticks]
        for cb in due:
            cb()
        for txn in list(self.txns.values()):
            self._maybe_heartbeat(txn)

    def busy(self) -> bool:
        """A transaction open or a retry due: its ticks do something."""
        return bool(self.txns or self._timers)

    def _later(self, ticks: int, cb: Callable[[], None]) -> None:
        self._timers.append((self.ticks + max(1, ticks), cb))

    def _backoff(self, n: int) -> int:
        base = self.settings.backoff_ticks * (1 << min(n, 3))
        return base + self.rng.randrange(base + 1)

    # ------------------------------------------------------------------ routing
    def call(self, rd: RangeDescriptor, ops: tuple[Any, ...], header: Callable[[], Header],
             done: Done, tries: int = 0, silences: int = 0) -> None:
        """Send ``ops`` to ``rd``'s leaseholder, finding it: a redirect or a silence moves
        on to the hinted or the next replica. Requests are idempotent, so a retry after a
        silence is safe; after ``route_tries`` sends, or ``max_silences`` sends that got
        no reply at all, the caller gets ``unavailable``."""
        if tries >= self.settings.route_tries or silences >= self.settings.max_silences:
            done(BatchResponse(error=Err("unavailable", f"no leaseholder of {rd.range_id} "
                                                        f"answered in {tries} tries")))
            return
        node = self.leaseholders.get(rd.range_id, rd.replicas[tries % len(rd.replicas)])

        def on_reply(resp: BatchResponse | None) -> None:
            if resp is not None and resp.error is not None \
                    and resp.error.kind == "range-mismatch":
                self.learn(resp.error.descriptors)  # the range split: route again
                self._reroute(rd, ops, header, done, tries + 1, resp)
                return
            if resp is None or (resp.error is not None
                                and resp.error.kind == "not-leaseholder"):
                hint = resp.error.hint if resp is not None and resp.error else ""
                if hint and hint in rd.replicas and hint != node:
                    self.leaseholders[rd.range_id] = hint
                else:
                    following = rd.replicas[(rd.replicas.index(node) + 1) % len(rd.replicas)]
                    self.leaseholders[rd.range_id] = following
                self._later(1 + tries, lambda: self.call(rd, ops, header, done, tries + 1,
                                                         silences + (resp is None)))
                return
            self.leaseholders[rd.range_id] = node
            done(resp)

        self._send(node, BatchRequest(rd.range_id, header(), ops), on_reply)

    def _reroute(self, rd: RangeDescriptor, ops: tuple[Any, ...], header: Callable[[], Header],
                 done: Done, tries: int, refused: BatchResponse) -> None:
        """After a split: send each operation to the range that holds its key now, as
        one batch per range, and answer as one (the first error, else the results in
        order). An operation without a key (a push of a writer with no anchor) stays."""
        groups: dict[str, list[int]] = {}
        for i, op in enumerate(ops):
            key = routing_key(op)
            groups.setdefault(self._range_of(key).range_id if key else rd.range_id,
                              []).append(i)
        if list(groups) == [rd.range_id]:  # the range did not learn it moved: try later
            self._later(1 + tries, lambda: self.call(rd, ops, header, done, tries))
            return
        if tries >= self.settings.route_tries:
            done(refused)
            return
        results: list[Any] = [None] * len(ops)
        waiting = set(groups)
        failed: list[BatchResponse] = []

        def part(rid: str, idx: list[int], resp: BatchResponse) -> None:
            waiting.discard(rid)
            if resp.error is not None:
                failed.append(resp)
            else:
                for i, r in zip(idx, resp.results, strict=True):
                    results[i] = r
            if not waiting:
                done(failed[0] if failed else BatchResponse(results=tuple(results),
                                                            now=resp.now))

        for rid, idx in groups.items():
            self.call(self._range(rid), tuple(ops[i] for i in idx), header,
                      functools.partial(part, rid, idx), tries)

    def learn(self, descriptors: Sequence[RangeDescriptor]) -> None:
        """New range descriptors (a split applied here, or a range's mismatch answer)."""
        self.ranges = learn(self.ranges, descriptors)

    def split(self, request_id: Any, key: str) -> None:
        """An admin command: split ``key``'s range at ``key`` (its leaseholder proposes
        it); the client gets the new range's descriptor."""
        def done(resp: BatchResponse) -> None:
            if resp.error is not None:
                self._answer(request_id, None, InvalidRequest(
                    f"split at {key!r} refused: {resp.error.kind}: {resp.error.detail}")
                    if resp.error.kind == "illegal" else Unavailable(
                    f"split at {key!r}: {resp.error.kind}: {resp.error.detail}"))
                return
            self.learn(resp.results)
            self._answer(request_id, resp.results[0], None)

        self.call(self._range_of(key), (Split(key),), self._plain, done)

    def _plain(self) -> Header:
        return Header(self.now())

    # ------------------------------------------------------------------ a transaction
    def submit(self, request_id: Any, ops: tuple[MicroOp, ...]) -> None:
        txn = _Txn(request_id, ops, submitted_ms=self.now().wall)
        self.txns[request_id] = txn
        self._begin(txn)

    def _begin(self, txn: _Txn) -> None:
        txn.attempts += 1
        txn.generation += 1
        if txn.attempts > self.settings.max_attempts:
            self._finish(txn, error=Aborted(f"restarted {self.settings.max_attempts} times "
                                            f"(conflicts): gave up, nothing written"))
            return
        if self._overdue(txn):
            return
        ts = self.now()
        txn.attempt = _Attempt(f"{self.node_id}.{self._nonce:06x}.{next(self._ids)}", 0, ts, ts)
        txn.reads = {}
        self._read(txn)

    def _overdue(self, txn: _Txn) -> bool:
        """Past its time (``txn_timeout_ms``), between attempts or while waiting (so no
        attempt of it is open): it did not happen, and never will."""
        if self.now().wall - txn.submitted_ms <= self.settings.txn_timeout_ms:
            return False
        self._finish(txn, error=Aborted(f"not committed within {self.settings.txn_timeout_ms}"
                                        f" ms: gave up, nothing written"))
        return True

    def _live(self, txn: _Txn, generation: int) -> bool:
        return not txn.answered and txn.generation == generation

    def _header(self, txn: _Txn) -> Callable[[], Header]:
        a = txn.attempt
        assert a is not None
        meta = TxnMeta(a.txn_id, a.epoch, a.write_ts, a.anchor)
        return lambda: Header(self.now(), meta, a.read_ts)

    # ------------------------------------------------------------------ 1. reads
    def _read(self, txn: _Txn) -> None:
        keys = list(dict.fromkeys(op.key for op in txn.ops if op.f != "w"))
        by_range = self._by_range(keys)
        if not by_range:
            self._compute(txn)
            return
        generation, pending = txn.generation, set(by_range)
        for rid, range_keys in by_range.items():
            rd = self._range(rid)
            self._read_range(txn, generation, rd, range_keys, pending)

    def _read_range(self, txn: _Txn, generation: int, rd: RangeDescriptor,
                    keys: list[str], pending: set[str]) -> None:
        def done(resp: BatchResponse) -> None:
            if not self._live(txn, generation):
                return
            err = resp.error
            if err is None:
                txn.reads.update(zip(keys, (decode_value(v) for v in resp.results),
                                     strict=True))
                pending.discard(rd.range_id)
                if not pending:
                    self._compute(txn)
            elif err.kind == "write-intent":
                self._on_conflict(txn, err.intents, lambda: self._read_range(
                    txn, generation, rd, keys, pending))
            elif err.kind == "uncertainty" and err.ts is not None:
                assert txn.attempt is not None  # a value may precede us: read above it
                txn.attempt.read_ts = txn.attempt.write_ts = max(txn.attempt.read_ts,
                                                                 next_ts(err.ts))
                txn.generation += 1
                txn.reads = {}
                self.stats["uncertain"] += 1
                self.trace(f"{txn.attempt.txn_id}: uncertain value at {err.ts!r}: reads "
                           f"restart at {txn.attempt.read_ts!r}")
                self._read(txn)
            else:  # nothing was written yet: it did not happen
                self._finish(txn, error=Aborted(f"read refused: {err.kind}: {err.detail}"))

        self.call(rd, tuple(Get(k) for k in keys), self._header(txn), done)

    # ------------------------------------------------------------------ conflicts
    def _on_conflict(self, txn: _Txn, intents: Sequence[Intent], retry: Callable[[], None]
                     ) -> None:
        """Push the intent's transaction; then retry (after resolving what was final, or
        after waiting for a live one)."""
        txn.waits += 1
        if self._overdue(txn):
            return
        if txn.waits > self.settings.max_waits:
            self._finish(txn, error=Aborted("waited too long on another transaction's "
                                            "intent: nothing written"))
            return
        intent = intents[0]
        generation = txn.generation

        def resumed() -> None:
            if self._live(txn, generation):
                retry()

        self.resolve_intent(intent, resumed, lambda: self._later(self._backoff(txn.waits),
                                                                 resumed))

    def resolve_intent(self, intent: Intent, resolved: Callable[[], None],
                       wait: Callable[[], None]) -> None:
        """Push ``intent``'s writer: once its record is final, resolve the intent and call
        ``resolved``; if it is alive, call ``wait``."""
        pushee = intent.txn
        anchor = self._range_of(pushee.anchor or intent.key)

        def pushed(resp: BatchResponse) -> None:
            if resp.error is not None:
                wait()
                return
            record = resp.results[0]
            if record is None or record.status is TxnStatus.PENDING:
                wait()
            elif record.status.finalized:
                self._resolve_keys(record, [intent.key], resolved)
            elif rec.expired(record, self.now(), self.settings.txn_ttl_ms):
                self.recover(record, lambda final: self._resolve_keys(final, [intent.key],
                                                                      resolved), wait)
            else:
                wait()

        self.call(anchor, (Push(pushee),), self._plain, pushed)

    def _resolve_keys(self, record: TxnRecord, keys: Sequence[str],
                      then: Callable[[], None] | None) -> None:
        by_range = self._by_range(list(keys))
        pending = set(by_range)
        for rid, range_keys in by_range.items():
            ops = tuple(Resolve(k, record.txn_id, record.status, record.write_ts,
                                record.epoch) for k in range_keys)

            def done(resp: BatchResponse, rid: str = rid) -> None:
                pending.discard(rid)
                if not pending and then is not None:
                    then()

            self.call(self._range(rid), ops, self._plain, done)

    # ------------------------------------------------------------------ status resolution
    def recover(self, record: TxnRecord, finished: Callable[[TxnRecord], None],
                failed: Callable[[], None]) -> None:
        """RFC "Parallel Commits", status resolution of an abandoned STAGING record: query
        (and prevent) each in-flight write, then commit the record if all were found, else
        abort it; the record's range refuses if it was re-staged meanwhile."""
        self.stats["recoveries"] += 1
        self.trace(f"recovering {record.txn_id} (STAGING at {record.write_ts!r}, "
                   f"{len(record.in_flight)} in flight)")

        def decided(commit: bool) -> None:
            def recovered(resp: BatchResponse) -> None:
                final = resp.results[0] if resp.error is None else None
                if final is None or not final.status.finalized:
                    failed()  # re-staged meanwhile, or no answer: try again later
                else:
                    self.trace(f"recovered {record.txn_id}: {final.status.name}")
                    finished(final)

            self.call(self._range_of_txn(record), (Recover(record.txn_id, record.epoch,
                                                           record.write_ts, commit,
                                                           record.in_flight[0].key),),
                      self._plain, recovered)

        self._prevent(record, decided, failed)

    def _range_of_txn(self, record: TxnRecord) -> RangeDescriptor:
        # a record lives in the range of its first in-flight write (its anchor)
        return self._range_of(record.in_flight[0].key)

    # ------------------------------------------------------------------ 2. writes, commit
    def _compute(self, txn: _Txn) -> None:
        """Apply the ops to what was read: the reads to answer, the values to write."""
        a = txn.attempt
        assert a is not None
        state = dict(txn.reads)
        written: dict[str, Any] = {}
        results: list[Read] = []
        for op in txn.ops:
            current = state.get(op.key)
            if op.f == "r":
                results.append(_as_read(op.key, current))
                continue
            if op.f == "w":
                new: Any = op.value
            elif op.f == "add":
                new = (current or 0) + op.value
                if new < 0:
                    self._finish(txn, error=Aborted(f"{op.key} would go below zero: "
                                                    f"nothing written"))
                    return
            else:  # append
                new = [*(current if isinstance(current, list) else
                         ([] if current is None else [current])), op.value]
            state[op.key] = written[op.key] = new
        txn.results = tuple(results)
        if not written:  # read-only: the reads are the answer
            self._finish(txn, result=txn.results)
            return
        if self._overdue(txn):  # the point of no return: nothing written yet
            return
        a.writes, a.anchor = written, next(iter(written))
        self._write(txn)

    def _in_flight(self, a: _Attempt) -> tuple[Write, ...]:
        return tuple(Write(k, i + 1) for i, k in enumerate(a.writes))

    def _write(self, txn: _Txn) -> None:
        a = txn.attempt
        assert a is not None and a.anchor is not None
        parallel = self.settings.commit == "parallel"
        in_flight = self._in_flight(a)
        by_range = self._by_range(list(a.writes))
        anchor_range = self._range_of(a.anchor).range_id
        by_range.setdefault(anchor_range, [])
        generation, pending = txn.generation, set(by_range)
        results: dict[str, PutResult] = {}
        errors: list[Err] = []
        record = EndTxn(a.txn_id, TxnStatus.STAGING if parallel else TxnStatus.PENDING,
                        a.epoch, a.write_ts, in_flight if parallel else (), a.anchor)
        a.record_written, a.last_heartbeat = True, self.ticks
        seq = {w.key: w.seq for w in in_flight}
        for rid, keys in by_range.items():
            ops: tuple[Any, ...] = tuple(Put(k, encode_value(a.writes[k]), seq[k]) for k in keys)
            if rid == anchor_range:
                ops = (*ops, record)

            def done(resp: BatchResponse, keys: list[str] = keys, rid: str = rid) -> None:
                if not self._live(txn, generation):
                    return
                if resp.error is not None:
                    errors.append(resp.error)
                else:
                    results.update(zip(keys, resp.results, strict=False))
                pending.discard(rid)
                if not pending:
                    self._written(txn, results, errors)

            self.call(self._range(rid), ops, self._header(txn), done)

    def _written(self, txn: _Txn, results: dict[str, PutResult], errors: list[Err]) -> None:
        a = txn.attempt
        assert a is not None
        if errors:
            self._abandon(txn, why=", ".join(sorted({e.kind for e in errors})),
                          conflicts=[i for e in errors for i in e.intents])
            return
        top = max(r.ts for r in results.values())
        if any(r.too_old for r in results.values()):
            self._abandon(txn, why="a newer committed write (lost update)")
            return
        if top > a.write_ts:
            if self.settings.isolation == "serializable":
                self._abandon(txn, why=f"pushed to {top!r}: reads may be stale")
                return
            a.write_ts = top  # snapshot isolation: commit higher, reads stay where they were
            if self.settings.commit == "parallel":
                self._restage(txn)
                return
        if self.settings.commit == "parallel":
            self._implicitly_committed(txn)
        else:
            self._commit_record(txn, answer_after=True)

    def _restage(self, txn: _Txn) -> None:
        a = txn.attempt
        assert a is not None and a.anchor is not None
        generation = txn.generation

        def done(resp: BatchResponse) -> None:
            if not self._live(txn, generation):
                return
            if resp.error is not None:
                self._abandon(txn, why=f"re-stage refused: {resp.error.kind}")
            else:
                self._implicitly_committed(txn)

        self.call(self._range_of(a.anchor), (EndTxn(a.txn_id, TxnStatus.STAGING, a.epoch,
                                                    a.write_ts, self._in_flight(a),
                                                    a.anchor),),
                  self._header(txn), done)

    def _implicitly_committed(self, txn: _Txn) -> None:
        """Every in-flight write is acknowledged at or below the STAGING record's
        timestamp: committed (``record.ack_allowed``). Answer, then make it explicit."""
        self._finish(txn, result=txn.results)
        delay = self.settings.explicit_commit_delay_ms // self.settings.tick_ms
        if delay:
            self._later(delay, lambda: self._commit_record(txn, answer_after=False))
        else:
            self._commit_record(txn, answer_after=False)

    def _commit_record(self, txn: _Txn, answer_after: bool, tries: int = 0) -> None:
        """Make the commit explicit: the record COMMITTED, then the intents resolved.
        After parallel commits it is committed already: a failed try is tried again, and
        after a few the coordinator stops heartbeating, so that a reader that meets an
        intent recovers the record (and finds every write) instead of waiting forever."""
        a = txn.attempt
        assert a is not None and a.anchor is not None

        def done(resp: BatchResponse) -> None:
            record = resp.results[0] if resp.error is None else None
            if record is None or record.status is not TxnStatus.COMMITTED:
                if answer_after:  # the two-round commit's second round failed
                    if resp.error is not None and resp.error.kind == "txn-aborted":
                        self._abandon(txn, why="aborted by a pusher")
                    else:
                        self._finish(txn, error=Unavailable("the commit's outcome is "
                                                            "unknown"))
                elif tries < 2:
                    self._later(self._backoff(tries), lambda: self._commit_record(
                        txn, answer_after, tries + 1))
                else:  # left to a recovery: stop keeping the record alive
                    a.record_written = False
                    self.txns.pop(txn.request_id, None)
                return
            a.record_written = False
            if answer_after:
                self._finish(txn, result=txn.results)
            self._resolve_keys(record, list(a.writes), None)
            self.txns.pop(txn.request_id, None)

        self.call(self._range_of(a.anchor), (EndTxn(a.txn_id, TxnStatus.COMMITTED, a.epoch,
                                                    a.write_ts, anchor=a.anchor),),
                  self._header(txn), done)

    def _abandon(self, txn: _Txn, why: str, conflicts: Sequence[Intent] = ()) -> None:
        """Abort this attempt and start the next one.

        A PENDING record (the two-round commit) is never implicitly committed: it is
        aborted outright. A STAGING one may be, if every write landed after all (a reply
        lost, a delayed duplicate): the coordinator may abort it only once a write can
        never land, so it resolves its own attempt's status as a recovery would: query
        and prevent each write, then commit if all were there, else abort. Either way
        the record is final before the intents are touched. An attempt stopped by
        another's intent pushes it before the next one (a blind write reads nothing, so
        nothing else would ever resolve an abandoned transaction's intent in its way)."""
        a = txn.attempt
        assert a is not None and a.anchor is not None
        txn.generation += 1
        generation = txn.generation
        self.stats["restarts"] += 1
        self.trace(f"{a.txn_id}: abort attempt {txn.attempts}: {why}")

        def final(record: TxnRecord | None) -> None:
            if not self._live(txn, generation):
                return
            if record is None:
                self._finish(txn, error=Unavailable(f"the attempt's outcome is unknown "
                                                    f"({why}; no answer while aborting)"))
                return
            a.record_written = False
            self._resolve_keys(record, list(a.writes), None)
            if record.status is TxnStatus.COMMITTED:  # every write was there after all
                self._finish(txn, result=txn.results)
                return
            def restart() -> None:
                if self._live(txn, generation):
                    self._begin(txn)

            if conflicts:
                self._on_conflict(txn, conflicts, restart)
            else:
                self._later(self._backoff(txn.attempts), restart)

        if self.settings.commit == "parallel":
            staged = TxnRecord(a.txn_id, TxnStatus.STAGING, a.epoch, a.write_ts,
                               self._in_flight(a))
            self._prevent(staged, lambda commit: self._end(txn, commit, final),
                          lambda: final(None))
        else:
            self._end(txn, False, final)

    def _prevent(self, staged: TxnRecord, decided: Callable[[bool], None],
                 failed: Callable[[], None]) -> None:
        """Query (and prevent) every in-flight write of ``staged``; ``decided(True)`` if
        all are there, ``decided(False)`` once one is prevented."""
        recovery = rec.Recovery(staged)
        done = False

        def queried(resp: BatchResponse, w: Write) -> None:
            nonlocal done
            if done:
                return
            if resp.error is not None:
                done = True
                failed()
                return
            recovery.on_write(w.key, w.seq, rec.QueryOutcome.FOUND if resp.results[0]
                              else rec.QueryOutcome.PREVENTED)
            outcome = recovery.decision()
            if outcome is not None:
                done = True
                decided(outcome is TxnStatus.COMMITTED)

        for w in recovery.pending():
            def answered(resp: BatchResponse, w: Write = w) -> None:
                queried(resp, w)

            self.call(self._range_of(w.key), (QueryIntent(staged.txn_id, w, staged.epoch,
                                                          staged.write_ts),), self._plain,
                      answered)

    def _end(self, txn: _Txn, commit: bool, final: Callable[[TxnRecord | None], None]
             ) -> None:
        """Finalize this attempt's record: COMMITTED (``Recover``: only if still STAGING
        at this attempt's timestamp) or ABORTED; ``final`` gets the record as it ends."""
        a = txn.attempt
        assert a is not None and a.anchor is not None
        key, anchor = a.anchor, self._range_of(a.anchor)

        def aborted(resp: BatchResponse) -> None:
            err = resp.error
            final(resp.results[0] if err is None else
                  err.record if err.kind == "txn-aborted" else None)

        def recovered(resp: BatchResponse) -> None:
            if resp.error is not None:  # no answer: it may be committed; we cannot tell
                final(None)
                return
            record = resp.results[0]
            if record is None:  # the STAGING record never landed: abort (creates it)
                self.call(anchor, (EndTxn(a.txn_id, TxnStatus.ABORTED, a.epoch,
                                          a.write_ts, anchor=key),),
                          self._header(txn), aborted)
            else:
                final(record if record.status.finalized else None)

        if commit:
            self.call(anchor, (Recover(a.txn_id, a.epoch, a.write_ts, True, a.anchor),),
                      self._plain,
                      recovered)
        else:
            self.call(anchor, (EndTxn(a.txn_id, TxnStatus.ABORTED, a.epoch, a.write_ts,
                                      anchor=a.anchor),),
                      self._header(txn), aborted)

    def _maybe_heartbeat(self, txn: _Txn) -> None:
        a = txn.attempt
        if a is None or not a.record_written or a.anchor is None:
            return
        if (self.ticks - a.last_heartbeat) * self.settings.tick_ms < self.settings.heartbeat_ms:
            return
        a.last_heartbeat = self.ticks
        self.call(self._range_of(a.anchor), (Heartbeat(a.txn_id, a.anchor),), self._plain,
                  lambda resp: None)

    def _finish(self, txn: _Txn, result: Any = None, error: Exception | None = None) -> None:
        if txn.answered:
            return
        txn.answered = True
        if error is None:
            self.stats["committed"] += 1
            if txn.attempt is not None and txn.attempt.writes:
                self.stats["writes_committed"] += 1
                self.acked[txn.attempt.txn_id] = None
                self.trace(ack_note(txn.attempt.txn_id))
                if len(self.acked) > 4096:
                    del self.acked[next(iter(self.acked))]
        else:
            self.stats["aborted"] += 1
        if error is not None or txn.attempt is None or not txn.attempt.record_written:
            self.txns.pop(txn.request_id, None)
        self._answer(txn.request_id, result, error)

    # ------------------------------------------------------------------ helpers
    def _range(self, range_id: str) -> RangeDescriptor:
        return next(r for r in self.ranges if r.range_id == range_id)

    def _range_of(self, key: str) -> RangeDescriptor:
        return range_of(self.ranges, key)

    def _by_range(self, keys: list[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for k in keys:
            out.setdefault(self._range_of(k).range_id, []).append(k)
        return out


def _as_read(key: str, value: Any) -> Read:
    if value is None:
        return Read(key)
    if isinstance(value, list):
        return Read(key, tuple(value), True, True)
    return Read(key, (value,), True, False)
