"""One range's multi-version store: committed versions by HLC timestamp, and write intents.

CockroachDB's storage layer ("Storage Layer" and "Transaction Layer" architecture docs;
the MVCC design of RFC "MVCC and intents", ``pkg/storage/mvcc.go``) keeps, per key:

* committed *versions*, each stamped with the HLC timestamp of the transaction that wrote
  it (``protocols.clocks.hlc``), newest first; a read at ``ts`` sees the newest version at
  or below ``ts`` (a snapshot "as of" ``ts``); a deletion is a version too (a tombstone);
* at most one *write intent*: a provisional value plus the writing transaction's header
  (``TxnMeta``: id, epoch, write timestamp, and the key of its record). An intent is both
  a value and a lock: nobody else may write the key until it is resolved, and a reader at
  or above its timestamp cannot know whether it committed, so it stops and asks
  (``WriteIntentError``: the caller looks the record up, pushes or waits).

Time is uncertain. Clocks are synchronized only within ``max_offset`` ("Living Without
Atomic Clocks", Cockroach Labs blog, 2016): a version stamped a little *above* a read's
timestamp may have been written before the read began, on a node whose clock runs ahead.
So a read at ``t`` that finds a version in its *uncertainty interval*, the half-open
``(t, t + max_offset]``, cannot tell which came first and must restart above it
(``ReadWithinUncertaintyIntervalError``). Spanner (Corbett et al., OSDI 2012, §4.1.2)
avoids this by *waiting out* the uncertainty at commit ("commit wait", TrueTime's ε);
CockroachDB, without atomic clocks, makes the reader pay instead, and only when a
version actually falls in the window. ``t + max_offset`` adds ``max_offset`` to the wall
time and keeps the logical part, as CockroachDB's ``ReadTimestamp.Add(maxOffset, 0)``.

Writes cannot rewrite the past: a write at ``ts`` over a committed version at or above
``ts`` fails (``WriteTooOldError``: the caller retries above it). Reads are not recorded
here; the timestamp cache (``tscache.py``) pushes a write above a served read.

Everything is sans-IO and in memory: the replica above applies these operations from its
Raft log, in log order, on every replica alike.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field, replace

from protocols.clocks.hlc import MAX_LOGICAL, HLCTimestamp
from protocols.common.errors import InvalidRequest, ProtocolError
from protocols.txnkv.record import TxnStatus  # a record's status is what resolves an intent

__all__ = ["Intent", "Key", "MVCCStore", "ReadBelowGCThresholdError",
           "ReadWithinUncertaintyIntervalError", "TxnMeta", "Value", "Version",
           "WriteIntentError", "WriteTooOldError", "next_ts", "uncertainty_limit"]

Key = str
Value = bytes  # None where a value may be absent: a tombstone, or no version at all


def next_ts(ts: HLCTimestamp) -> HLCTimestamp:
    """The smallest timestamp above ``ts``: where a pushed write or a restarted read goes."""
    if ts.logical < MAX_LOGICAL:
        return HLCTimestamp(ts.wall, ts.logical + 1)
    return HLCTimestamp(ts.wall + 1, 0)


def uncertainty_limit(ts: HLCTimestamp, max_offset: int) -> HLCTimestamp:
    """The top of a read's uncertainty interval ``(ts, ts + max_offset]`` (inclusive)."""
    if max_offset < 0:
        raise InvalidRequest(f"max_offset must be >= 0, got {max_offset}")
    return HLCTimestamp(ts.wall + max_offset, ts.logical)


@dataclass(frozen=True, slots=True)
class TxnMeta:
    """What an intent says about its writer (CockroachDB's ``enginepb.TxnMeta``).

    ``epoch`` grows when the transaction restarts (its earlier epochs' intents are then
    garbage); ``write_ts`` is where it writes now; ``anchor`` is the key whose range holds
    its transaction record (where a reader that meets the intent goes to push it).
    """

    id: str
    epoch: int
    write_ts: HLCTimestamp
    anchor: Key | None = None
    seq: int = 0  # which of the transaction's writes (a status resolution asks for it)


@dataclass(frozen=True, slots=True)
class Intent:
    """A provisional value (``None``: a provisional deletion) and its writer."""

    key: Key
    txn: TxnMeta
    value: Value | None

    @property
    def ts(self) -> HLCTimestamp:
        return self.txn.write_ts


@dataclass(frozen=True, slots=True)
class Version:
    """A committed version: ``value`` is ``None`` for a tombstone."""

    ts: HLCTimestamp
    value: Value | None


# ============================================================================ errors
class WriteIntentError(ProtocolError):
    """Another transaction's intent is in the way: resolve it (push its record, or wait
    for it) and retry. ``intents``: every one met (a scan collects them all at once)."""

    refused = True

    def __init__(self, intents: list[Intent]) -> None:
        self.intents = tuple(intents)
        self.intent = self.intents[0]
        super().__init__(f"conflicting write intent(s) of "
                         f"{sorted({i.txn.id for i in self.intents})} on "
                         f"{[i.key for i in self.intents]}: push or wait, then retry")


class ReadWithinUncertaintyIntervalError(ProtocolError):
    """A value at ``value_ts`` in ``(read_ts, read_ts + max_offset]``: it may have been
    written before the read began. Restart the read at ``next_ts(value_ts)`` or above."""

    refused = True

    def __init__(self, key: Key, read_ts: HLCTimestamp, value_ts: HLCTimestamp) -> None:
        self.key = key
        self.read_ts = read_ts
        self.value_ts = value_ts
        super().__init__(f"read of {key!r} at {read_ts!r} found a value at {value_ts!r} "
                         "within its uncertainty interval: restart above it")


class WriteTooOldError(ProtocolError):
    """A committed version at ``existing_ts`` >= the write's timestamp: a write cannot
    slip under it. Retry at ``retry_ts`` (just above it) or later."""

    refused = True

    def __init__(self, key: Key, write_ts: HLCTimestamp, existing_ts: HLCTimestamp) -> None:
        self.key = key
        self.write_ts = write_ts
        self.existing_ts = existing_ts
        self.retry_ts = next_ts(existing_ts)
        super().__init__(f"write of {key!r} at {write_ts!r} is at or below the committed "
                         f"version at {existing_ts!r}: retry at {self.retry_ts!r} or later")


class ReadBelowGCThresholdError(ProtocolError):
    """An operation at a timestamp below the GC threshold: the versions it would need
    may be gone, so it is refused rather than answered wrongly."""

    refused = True

    def __init__(self, ts: HLCTimestamp, threshold: HLCTimestamp) -> None:
        self.ts = ts
        self.threshold = threshold
        super().__init__(f"timestamp {ts!r} is below the GC threshold {threshold!r}")


# ============================================================================ the store
@dataclass(slots=True)
class _History:
    """One key: committed versions in ascending timestamp order, and at most one intent.

    Invariant: an intent's timestamp is above every committed version's (a write under a
    committed version is refused; nothing commits while the intent holds the key).
    """

    stamps: list[HLCTimestamp] = field(default_factory=list)
    values: list[Value | None] = field(default_factory=list)
    intent: Intent | None = None

    def newest_at_or_below(self, ts: HLCTimestamp) -> int:
        """Index of the newest version at or below ``ts``; -1 if none."""
        return bisect.bisect_right(self.stamps, ts) - 1


class MVCCStore:
    """The versions and intents of one range's keys. Keys are strings, ordered as such."""

    def __init__(self) -> None:
        self._keys: list[Key] = []  # sorted: a scan walks them in order
        self._history: dict[Key, _History] = {}
        self.gc_threshold = HLCTimestamp()  # operations below it are refused

    # ------------------------------------------------------------------ reads
    def get(self, key: Key, ts: HLCTimestamp, txn: TxnMeta | None = None,
            max_offset: int = 0) -> Value | None:
        """The newest committed value of ``key`` at or below ``ts`` (None: no version, or
        a tombstone); ``txn``'s own intent of the same epoch instead, at any timestamp.

        Raises ``WriteIntentError`` for another transaction's intent at or below ``ts``,
        and ``ReadWithinUncertaintyIntervalError`` for a committed version or another's
        intent in ``(ts, uncertainty_limit(ts, max_offset)]`` (the newest such)."""
        self._check_gc(ts)
        limit = uncertainty_limit(ts, max_offset)
        history = self._history.get(key)
        if history is None:
            return None
        conflict, value = self._read(key, history, ts, limit, txn)
        if conflict is not None:
            raise WriteIntentError([conflict])
        return value

    def scan(self, start: Key, end: Key, ts: HLCTimestamp, txn: TxnMeta | None = None,
             max_offset: int = 0) -> list[tuple[Key, Value]]:
        """Every key in ``[start, end)`` with a value at ``ts``, in key order, by ``get``'s
        rules; another's intents are collected and raised together (one resolution
        round for the whole span), an uncertain value raises at once."""
        self._check_gc(ts)
        limit = uncertainty_limit(ts, max_offset)
        found: list[tuple[Key, Value]] = []
        conflicts: list[Intent] = []
        lo, hi = bisect.bisect_left(self._keys, start), bisect.bisect_left(self._keys, end)
        for key in self._keys[lo:hi]:
            conflict, value = self._read(key, self._history[key], ts, limit, txn)
            if conflict is not None:
                conflicts.append(conflict)
            elif value is not None:
                found.append((key, value))
        if conflicts:
            raise WriteIntentError(conflicts)
        return found

    def _read(self, key: Key, history: _History, ts: HLCTimestamp, limit: HLCTimestamp,
              txn: TxnMeta | None) -> tuple[Intent | None, Value | None]:
        """(another's conflicting intent, None) or (None, the value read)."""
        intent = history.intent
        if intent is not None and txn is not None and intent.txn.id == txn.id:
            if intent.txn.epoch > txn.epoch:
                raise InvalidRequest(f"{txn.id} reads {key!r} at epoch {txn.epoch} below "
                                     f"its intent's epoch {intent.txn.epoch}: a stale read")
            if intent.txn.epoch == txn.epoch:
                return None, intent.value  # read your own writes
            intent = None  # an earlier epoch's intent: not this attempt's write
        if intent is not None:
            if intent.ts <= ts:
                return intent, None  # it may commit below us: ask its record
            if intent.ts <= limit:
                raise ReadWithinUncertaintyIntervalError(key, ts, intent.ts)
        i = history.newest_at_or_below(limit)
        if i >= 0 and history.stamps[i] > ts:
            raise ReadWithinUncertaintyIntervalError(key, ts, history.stamps[i])
        return None, (history.values[i] if i >= 0 else None)

    def intent(self, key: Key) -> Intent | None:
        """The intent on ``key``, if any (what a status resolution checks for)."""
        history = self._history.get(key)
        return history.intent if history is not None else None

    def intent_count(self) -> int:
        """How many keys hold an intent (for status pages)."""
        return sum(1 for h in self._history.values() if h.intent is not None)

    def versions(self, key: Key) -> list[Version]:
        """``key``'s committed versions, newest first."""
        history = self._history.get(key)
        if history is None:
            return []
        return [Version(t, v) for t, v in zip(reversed(history.stamps),
                                              reversed(history.values), strict=True)]

    # ------------------------------------------------------------------ writes
    def put(self, key: Key, value: Value | None, txn: TxnMeta) -> Intent:
        """Write an intent of ``value`` at ``txn.write_ts``, or replace ``txn``'s own.

        Raises ``WriteIntentError`` for another's intent, ``WriteTooOldError`` if a
        committed version is at or above the write's timestamp. Its own intent is replaced
        at the same or a higher epoch, never moved down (a reader may have pushed it)."""
        self._check_gc(txn.write_ts)
        history = self._history.get(key) or _History()
        ts = txn.write_ts
        old = history.intent
        if old is not None and old.txn.id != txn.id:
            raise WriteIntentError([old])
        if old is not None:
            if txn.epoch < old.txn.epoch:
                raise InvalidRequest(f"{txn.id} writes {key!r} at epoch {txn.epoch} below "
                                     f"its intent's epoch {old.txn.epoch}: a stale write")
            if txn.epoch == old.txn.epoch:
                ts = max(ts, old.ts)
        if history.stamps and history.stamps[-1] >= ts:
            raise WriteTooOldError(key, ts, history.stamps[-1])
        history.intent = Intent(key, replace(txn, write_ts=ts), value)
        self._remember(key, history)
        return history.intent

    def delete(self, key: Key, txn: TxnMeta) -> Intent:
        """A provisional tombstone: ``put`` of nothing, by the same rules."""
        return self.put(key, None, txn)

    def resolve(self, key: Key, txn_id: str, status: TxnStatus, commit_ts: HLCTimestamp,
                epoch: int | None = None) -> bool:
        """Settle ``txn_id``'s intent on ``key`` by its record's ``status``.

        COMMITTED: the intent becomes a committed version at ``commit_ts`` (at or above
        the intent's timestamp: a pushed transaction commits higher); an intent of an
        epoch below ``epoch`` is removed instead (the final epoch did not rewrite it).
        ABORTED: removed. PENDING: a push, the intent moves up to ``commit_ts``.
        No intent of ``txn_id`` there: nothing happens (resolution may run twice).
        ``epoch=None`` matches any epoch. Returns whether anything changed."""
        history = self._history.get(key)
        intent = history.intent if history is not None else None
        if history is None or intent is None or intent.txn.id != txn_id:
            return False  # already resolved, or never written
        if epoch is not None and intent.txn.epoch > epoch:
            return False  # a later epoch's intent: this resolution is stale
        if status is TxnStatus.PENDING:
            return self._push(history, intent, commit_ts)
        if status is not TxnStatus.COMMITTED and status is not TxnStatus.ABORTED:
            raise InvalidRequest(f"resolve with {status!r}: a STAGING record is not final "
                                 "(recover its status first)")
        commit = status is TxnStatus.COMMITTED and (epoch is None or intent.txn.epoch == epoch)
        if commit and commit_ts < intent.ts:
            raise InvalidRequest(f"commit of {txn_id} at {commit_ts!r} below its intent on "
                                 f"{key!r} at {intent.ts!r}: a push is never undone")
        history.intent = None  # committed below, or removed (aborted, or a stale epoch's)
        if commit:
            self._insert(history, commit_ts, intent.value)
        self._forget_if_empty(key, history)
        return True

    @staticmethod
    def _push(history: _History, intent: Intent, ts: HLCTimestamp) -> bool:
        if ts <= intent.ts:
            return False
        history.intent = replace(intent, txn=replace(intent.txn, write_ts=ts))
        return True

    # ------------------------------------------------------------------ GC
    def gc(self, threshold: HLCTimestamp) -> int:
        """Drop the versions no read at or above ``threshold`` can see: all below the
        newest at or below it (and that one too if it is a tombstone). Reads and writes
        below the threshold are refused from now on. Returns how many were dropped."""
        self.gc_threshold = max(self.gc_threshold, threshold)
        dropped = 0
        for key in list(self._keys):
            history = self._history[key]
            keep_from = history.newest_at_or_below(self.gc_threshold)
            if keep_from >= 0 and history.values[keep_from] is None:
                keep_from += 1  # a tombstone hides nothing below it: absence says the same
            keep_from = max(keep_from, 0)
            dropped += keep_from
            del history.stamps[:keep_from], history.values[:keep_from]
            self._forget_if_empty(key, history)
        return dropped

    # ------------------------------------------------------------------ helpers
    def all_keys(self) -> list[Key]:
        """Every key with a version or an intent, in order."""
        return list(self._keys)

    def split_off(self, key: Key) -> MVCCStore:
        """Move every key at or above ``key``, with its versions and intent, to a new
        store (a range split: the right-hand side's)."""
        right = MVCCStore()
        right.gc_threshold = self.gc_threshold
        i = bisect.bisect_left(self._keys, key)
        right._keys, self._keys = self._keys[i:], self._keys[:i]
        for k in right._keys:
            right._history[k] = self._history.pop(k)
        return right

    def _check_gc(self, ts: HLCTimestamp) -> None:
        if ts < self.gc_threshold:
            raise ReadBelowGCThresholdError(ts, self.gc_threshold)

    @staticmethod
    def _insert(history: _History, ts: HLCTimestamp, value: Value | None) -> None:
        i = bisect.bisect_left(history.stamps, ts)
        assert i == len(history.stamps) or history.stamps[i] != ts, "two versions at one ts"
        history.stamps.insert(i, ts)
        history.values.insert(i, value)

    def _remember(self, key: Key, history: _History) -> None:
        if key not in self._history:
            self._history[key] = history
            bisect.insort(self._keys, key)

    def _forget_if_empty(self, key: Key, history: _History) -> None:
        if not history.stamps and history.intent is None:
            del self._history[key]
            self._keys.pop(bisect.bisect_left(self._keys, key))
