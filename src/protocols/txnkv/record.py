"""Transaction records and parallel commits' status resolution (recovery), pure and sans-IO.

Sources: CockroachDB RFC 20180324 "Parallel Commits" (docs/RFCS/20180324_parallel_commit.md)
and its TLA+ model (docs/tla-plus/ParallelCommits/ParallelCommits.tla). Names from the
TLA+ model are quoted in the docstrings (``ImplicitCommit``, ``PreventWrites``,
``RecoverRecord``, ...) so the two can be read side by side.

A transaction's *record* lives on the range of its first key and says what became of it:

* ``PENDING``: the transaction is running; its coordinator heartbeats the record.
* ``STAGING``: the coordinator sent its last batch of writes (the *in-flight* writes) and
  this record in parallel: one consensus round for the commit instead of two.
* ``COMMITTED`` / ``ABORTED``: finalized; a finalized record never changes again.

The point of parallel commits is that a transaction is committed *before* its record
says so: it is **implicitly committed** once the record is STAGING and every in-flight
write it names is present at the record's epoch and timestamp (``ImplicitCommit``). The
coordinator may acknowledge the client then (``ack_allowed``) and write COMMITTED later.

If the coordinator dies in between, whoever finds the STAGING record runs **status
resolution** (``Recovery``, the TLA+ model's ``preventer`` process): it queries each
in-flight write and, for a missing one, *prevents* it (``WriteSlot.query_and_prevent``:
a timestamp-cache marker so the write, if it arrives later, is refused at that
timestamp). All found: the transaction was implicitly committed, so recovery commits the
record. One prevented: the transaction can never become implicitly committed at that
timestamp, so recovery aborts it. Never both: a write is either found or prevented,
atomically, on its key (``WriteSlot`` is that race, on one key).

Everything here is a value or a small object driven by calls: timestamps are passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import Enum

from protocols.clocks.hlc import HLCTimestamp

__all__ = ["IllegalTransition", "Intent", "QueryOutcome", "Recovery", "TxnRecord",
           "TxnStatus", "Write", "WriteOutcome", "WriteSlot", "abort", "ack_allowed",
           "commit", "counts", "expired", "heartbeat", "implicitly_committed", "stage"]


class TxnStatus(Enum):
    """A record's status (the TLA+ model's ``RecordStatuses``)."""

    PENDING = "pending"
    STAGING = "staging"
    COMMITTED = "committed"
    ABORTED = "aborted"

    @property
    def finalized(self) -> bool:
        """COMMITTED or ABORTED (``RecordFinalized``): the record never changes again."""
        return self in (TxnStatus.COMMITTED, TxnStatus.ABORTED)


class IllegalTransition(ValueError):
    """A move the record's rules forbid; the record is unchanged (records are values)."""


@dataclass(frozen=True, slots=True, order=True)
class Write:
    """An in-flight write as a STAGING record names it: a key and the transaction's
    sequence number of that write (the RFC's ``InFlightWrites``)."""

    key: str
    seq: int


@dataclass(frozen=True, slots=True)
class Intent:
    """A provisional write as its key holds it: which write, at which epoch and
    timestamp (what the TLA+ model keeps in ``intent_writes[k]``)."""

    key: str
    seq: int
    epoch: int
    ts: HLCTimestamp


@dataclass(frozen=True, slots=True)
class TxnRecord:
    """One transaction's record. Immutable: every transition returns a new record.

    ``epoch`` counts the transaction's restarts (a restart rewrites all its writes);
    ``write_ts`` is the timestamp it commits at; ``in_flight`` is what a STAGING record
    waits for; ``last_heartbeat`` tells others whether the coordinator is alive."""

    txn_id: str
    status: TxnStatus = TxnStatus.PENDING
    epoch: int = 0
    write_ts: HLCTimestamp = field(default_factory=HLCTimestamp)
    in_flight: tuple[Write, ...] = ()
    last_heartbeat: HLCTimestamp = field(default_factory=HLCTimestamp)

    def __post_init__(self) -> None:
        if self.epoch < 0:
            raise ValueError(f"negative epoch {self.epoch}")
        if self.status is TxnStatus.PENDING and self.in_flight:
            raise ValueError("a PENDING record names no in-flight writes (only STAGING does)")
        if self.status is TxnStatus.STAGING and not self.in_flight:
            # with nothing in flight there is nothing to wait for: commit explicitly
            raise ValueError("a STAGING record names its in-flight writes (none given)")

    @classmethod
    def begin(cls, txn_id: str, write_ts: HLCTimestamp, now: HLCTimestamp) -> TxnRecord:
        """A new transaction's record: PENDING at epoch 0, heartbeat ``now``."""
        return cls(txn_id, TxnStatus.PENDING, 0, write_ts, (), now)


# ---------------------------------------------------------------- transitions

def _refuse_if_finalized(record: TxnRecord, move: str) -> None:
    """``[](RecordCommitted => []RecordCommitted)``, and the same for ABORTED."""
    if record.status.finalized:
        raise IllegalTransition(f"{move}: txn {record.txn_id} is already "
                                f"{record.status.name}; a finalized record never changes")


def stage(record: TxnRecord, in_flight: Iterable[Write], *, epoch: int | None = None,
          write_ts: HLCTimestamp | None = None, now: HLCTimestamp | None = None) -> TxnRecord:
    """PENDING -> STAGING with the last batch's in-flight writes (the TLA+ model's
    ``StageWrites``), or STAGING -> STAGING re-staged by its coordinator after a refresh.

    Epoch and timestamp never go down (``[][record'.epoch >= record.epoch]_record``, and
    the same for ``ts``); a re-stage must move one of them up, since it is a new attempt
    that a recovery of the old one must be able to tell apart (``legal_change``)."""
    _refuse_if_finalized(record, "stage")
    epoch = record.epoch if epoch is None else epoch
    write_ts = record.write_ts if write_ts is None else write_ts
    if epoch < record.epoch or write_ts < record.write_ts:
        raise IllegalTransition(
            f"stage: epoch/timestamp only grow: ({record.epoch}, {record.write_ts!r}) -> "
            f"({epoch}, {write_ts!r}) refused")
    if record.status is TxnStatus.STAGING and (epoch, write_ts) == (record.epoch,
                                                                    record.write_ts):
        raise IllegalTransition(
            "stage: a STAGING record is re-staged only at a higher epoch or timestamp "
            f"(a refresh); got the same ({epoch}, {write_ts!r})")
    writes = tuple(in_flight)
    if not writes:
        raise IllegalTransition("stage: a STAGING record names at least one in-flight "
                                "write (with none, commit explicitly)")
    beat = record.last_heartbeat if now is None else max(record.last_heartbeat, now)
    return replace(record, status=TxnStatus.STAGING, epoch=epoch, write_ts=write_ts,
                   in_flight=writes, last_heartbeat=beat)


def commit(record: TxnRecord) -> TxnRecord:
    """-> COMMITTED: from STAGING (making an implicit commit explicit: the caller has
    seen it implicitly committed, as the TLA+ model asserts before ``record.status :=
    "committed"``), or from PENDING (the plain two-round commit, all writes acked)."""
    _refuse_if_finalized(record, "commit")
    return replace(record, status=TxnStatus.COMMITTED)


def abort(record: TxnRecord) -> TxnRecord:
    """-> ABORTED: from PENDING (a rollback, or a pusher finding it abandoned), or from
    STAGING (only by one who proved a write can never land: ``Recovery`` after a
    prevent, or the coordinator after a write was refused)."""
    _refuse_if_finalized(record, "abort")
    return replace(record, status=TxnStatus.ABORTED)


def heartbeat(record: TxnRecord, now: HLCTimestamp) -> TxnRecord:
    """The coordinator is alive at ``now``: a live (not finalized) record's heartbeat
    moves forward, never back."""
    _refuse_if_finalized(record, "heartbeat")
    return replace(record, last_heartbeat=max(record.last_heartbeat, now))


def expired(record: TxnRecord, now: HLCTimestamp, ttl: int) -> bool:
    """No heartbeat for more than ``ttl`` (wall-clock units): others may push it
    (abort a PENDING record, recover a STAGING one). Only a hint: recovery is safe
    even against a coordinator that is merely slow."""
    return not record.status.finalized and now.wall - record.last_heartbeat.wall > ttl


# ---------------------------------------------------------------- implicit commit

def counts(record: TxnRecord, write: Write, intent: Intent | None) -> bool:
    """Does ``intent`` stand for ``write`` at the record's attempt? The TLA+ model's
    ``ImplicitCommit`` per key, and the test its ``QueryIntent`` makes:

    * same key, and a sequence at least the write's (a later write of the same
      transaction to the key keeps the earlier one in the intent's history);
    * the record's epoch: an intent of an earlier epoch belongs to an attempt the
      transaction restarted, and is rewritten;
    * a timestamp at most the record's: an intent above it was pushed, and cannot commit
      at the record's timestamp. One below counts (a refresh moves the record's
      timestamp up without rewriting the intents; resolution moves them up too)."""
    return _stands_for(intent, write, record.epoch, record.write_ts)


def _stands_for(intent: Intent | None, write: Write, epoch: int, ts: HLCTimestamp) -> bool:
    return (intent is not None and intent.key == write.key and intent.seq >= write.seq
            and intent.epoch == epoch and intent.ts <= ts)


def implicitly_committed(record: TxnRecord, found_writes: Iterable[Intent]) -> bool:
    """STAGING, and every in-flight write present at the record's epoch and timestamp
    among ``found_writes`` (``ImplicitCommit``): committed, though the record does not
    say so yet."""
    if record.status is not TxnStatus.STAGING:
        return False
    found = list(found_writes)
    return all(any(counts(record, w, i) for i in found) for w in record.in_flight)


def ack_allowed(record: TxnRecord, acked_writes: Iterable[Intent]) -> bool:
    """May the coordinator tell the client "committed"? When the record is COMMITTED,
    or STAGING with every in-flight write acknowledged at its epoch and timestamp
    (the TLA+ model's ``AckClient``: ``assert ImplicitCommit \\/ ExplicitCommit``).
    ``record`` is the STAGING record whose write was acknowledged, not a guess."""
    return (record.status is TxnStatus.COMMITTED
            or implicitly_committed(record, acked_writes))


# ---------------------------------------------------------------- the race on a key

class QueryOutcome(Enum):
    FOUND = "found"          # the write is there: it cannot be prevented any more
    PREVENTED = "prevented"  # it was not: it can never land at that timestamp


class WriteOutcome(Enum):
    OK = "ok"
    REFUSED = "refused"  # at or below a prevented (read) timestamp, or of a stale epoch


@dataclass(slots=True)
class WriteSlot:
    """One key as a recovery and a late in-flight write race over it. Each call is
    atomic on the key (as a command on its range is), so one of the two wins:

    * ``query_and_prevent`` first: the write is absent, the key's timestamp cache is
      raised to the queried timestamp (``tscache[key] := prevent_ts``), and the write,
      arriving later at that timestamp or below, is refused;
    * ``write`` first: the intent is there and the query finds it.

    ``prevented_to`` is that timestamp-cache marker (None: never raised)."""

    key: str
    intent: Intent | None = None
    prevented_to: HLCTimestamp | None = None

    def query_and_prevent(self, seq: int, epoch: int, ts: HLCTimestamp) -> QueryOutcome:
        """``PreventWrites``' ``QueryIntent`` for the write (``seq``, ``epoch``) of a
        record at ``ts``: found, or prevented from now on."""
        if _stands_for(self.intent, Write(self.key, seq), epoch, ts):  # same rule as counts
            return QueryOutcome.FOUND
        self._prevent(ts)
        return QueryOutcome.PREVENTED

    def _prevent(self, ts: HLCTimestamp) -> None:
        """The timestamp cache only grows (``TemporalTSCacheProperties``)."""
        if self.prevented_to is None or self.prevented_to < ts:
            self.prevented_to = ts

    def write(self, seq: int, epoch: int, ts: HLCTimestamp) -> WriteOutcome:
        """The coordinator's write lands as an intent, unless a read (a prevent) was
        served at ``ts`` or above (the write would change what that read saw), or the
        key holds an intent of a later epoch (this write is of an abandoned attempt)."""
        if self.prevented_to is not None and ts <= self.prevented_to:
            return WriteOutcome.REFUSED
        if self.intent is not None and self.intent.epoch > epoch:
            return WriteOutcome.REFUSED
        self.intent = Intent(self.key, seq, epoch, ts)
        return WriteOutcome.OK


# ---------------------------------------------------------------- status resolution

class Recovery:
    """Status resolution of one STAGING record, sans-IO (the TLA+ model's ``preventer``:
    ``PushRecord`` has found the record STAGING; then ``PreventWrites``, then
    ``RecoverRecord``). Drive it so:

    1. ``pending()``: the in-flight writes still to query (the caller queries each on
       its key, with ``WriteSlot.query_and_prevent`` or the range's equivalent);
    2. ``on_write(key, seq, outcome)`` for each answer;
    3. ``decision()``: COMMITTED once every write was found, ABORTED as soon as one was
       prevented, None before;
    4. ``finish(current)``: the record as it should now be, given the record as it is
       now (it may have moved on while we queried)."""

    def __init__(self, record: TxnRecord) -> None:
        if record.status is not TxnStatus.STAGING:
            raise IllegalTransition(f"recovery is for a STAGING record; txn "
                                    f"{record.txn_id} is {record.status.name}")
        self.record = record
        self.found: set[Write] = set()
        self.prevented: set[Write] = set()

    def pending(self) -> list[Write]:
        """The in-flight writes not answered yet (none once one was prevented: the
        decision is taken)."""
        if self.prevented:
            return []
        return [w for w in self.record.in_flight if w not in self.found]

    def on_write(self, key: str, seq: int, outcome: QueryOutcome) -> None:
        write = Write(key, seq)
        if write not in self.record.in_flight:
            raise ValueError(f"{write} is not an in-flight write of {self.record.txn_id}")
        (self.found if outcome is QueryOutcome.FOUND else self.prevented).add(write)

    def decision(self) -> TxnStatus | None:
        """ABORTED if any write was prevented: it can never land at this timestamp, so
        this attempt is not, and will never be, implicitly committed. COMMITTED if all
        were found: it is implicitly committed, whatever the coordinator does next."""
        if self.prevented:
            return TxnStatus.ABORTED
        if self.found >= set(self.record.in_flight):
            return TxnStatus.COMMITTED
        return None

    def finish(self, current: TxnRecord) -> TxnRecord:
        """``RecoverRecord``: apply the decision to the record as it is now.

        Finalized meanwhile: nothing to do. Re-staged at another epoch or timestamp
        (the coordinator refreshed): our answers are about an attempt that no longer
        exists, so the record is returned unchanged, still STAGING: run a new
        ``Recovery`` on it (the model's ``goto PreventLoop``)."""
        decided = self.decision()
        if decided is None:
            raise IllegalTransition(f"finish: writes still unanswered: {self.pending()}")
        if current.txn_id != self.record.txn_id:
            raise ValueError(f"finish: record of {current.txn_id}, recovering "
                             f"{self.record.txn_id}")
        if current.status.finalized:
            return current
        if current.status is not TxnStatus.STAGING:
            raise IllegalTransition("finish: a STAGING record never goes back to PENDING")
        if (current.epoch, current.write_ts) != (self.record.epoch, self.record.write_ts):
            return current
        return commit(current) if decided is TxnStatus.COMMITTED else abort(current)
