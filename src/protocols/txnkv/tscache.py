"""The timestamp cache: the highest timestamp at which each key and span was read.

CockroachDB's ``pkg/kv/kvserver/tscache`` (the "Transaction Layer" architecture doc,
"Timestamp cache"). A serializable store must not let a write slip *under* a read that
has already been served: if T1 read ``k`` at 10 (and saw the version below 10), a write
of ``k`` at 9 by T2 would change what T1 read, after the fact. Locking ``k`` on read
would prevent it, at the price of read locks. CockroachDB records reads instead: the
leaseholder remembers, per key and per scanned span, the highest read timestamp, and a
write at or below it is *pushed* to just above it (the writer's transaction then commits
higher, or refreshes its reads there). Reads take no locks and never wait for writers
they do not meet; MVCC (``mvcc.py``) serves them at their timestamp.

Two refinements, as CockroachDB has them:

* each entry remembers *which* transaction read at its timestamp, so a transaction is not
  pushed by its own reads (it may write where it read); two transactions at the same
  highest timestamp leave the entry with no owner (``None``): both are pushed;
* memory is bounded by a *low-water mark*: entries at or below it are forgotten, and every
  lookup answers at least the low-water mark, owned by no one. Forgetting only makes the
  cache more conservative (more pushes), never wrong. A new leaseholder starts with the
  low-water mark at its lease start: it cannot know what the previous one served.

The cost of the lookup here is linear in the spans recorded (a reference, not CockroachDB's
interval B-tree); points are a dictionary.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.clocks.hlc import HLCTimestamp
from protocols.common.errors import InvalidRequest
from protocols.txnkv.mvcc import Key, next_ts

__all__ = ["ReadStamp", "TimestampCache"]


@dataclass(frozen=True, slots=True)
class ReadStamp:
    """The highest read timestamp and the one transaction that read there (``None``: no
    transaction, several, or the low-water mark)."""

    ts: HLCTimestamp
    txn_id: str | None

    def merge(self, other: ReadStamp) -> ReadStamp:
        """The higher of two; at a tie, one owner only if both agree."""
        if self.ts != other.ts:
            return self if self.ts > other.ts else other
        return self if self.txn_id == other.txn_id else ReadStamp(self.ts, None)


@dataclass(frozen=True, slots=True)
class _Span:
    start: Key
    end: Key  # exclusive
    read: ReadStamp


class TimestampCache:
    """Reads by key and span; ``pushed_ts`` is the rule a write obeys."""

    def __init__(self, low_water: HLCTimestamp | None = None,
                 max_entries: int | None = None) -> None:
        if max_entries is not None and max_entries < 1:
            raise InvalidRequest(f"max_entries must be >= 1, got {max_entries}")
        self.low_water = low_water if low_water is not None else HLCTimestamp()
        self.max_entries = max_entries
        self._points: dict[Key, ReadStamp] = {}
        self._spans: list[_Span] = []

    def __len__(self) -> int:
        return len(self._points) + len(self._spans)

    # ------------------------------------------------------------------ recording reads
    def add(self, key: Key, ts: HLCTimestamp, txn_id: str | None) -> None:
        """``txn_id`` (None: a non-transactional read) read ``key`` at ``ts``."""
        if ts <= self.low_water:
            return  # the low-water mark already answers this much
        read = ReadStamp(ts, txn_id)
        old = self._points.get(key)
        self._points[key] = read if old is None else old.merge(read)
        self._bound()

    def add_span(self, start: Key, end: Key, ts: HLCTimestamp, txn_id: str | None) -> None:
        """``txn_id`` scanned ``[start, end)`` at ``ts``: every key in it, present or not
        (a write that inserts a key into a scanned span would be a phantom)."""
        if start >= end:
            raise InvalidRequest(f"an empty span [{start!r}, {end!r})")
        if ts <= self.low_water:
            return
        self._spans.append(_Span(start, end, ReadStamp(ts, txn_id)))
        self._bound()

    # ------------------------------------------------------------------ lookups
    def get_max(self, key: Key) -> ReadStamp:
        """The highest read of ``key`` (by a point or a covering span), at least the
        low-water mark."""
        best = ReadStamp(self.low_water, None)
        point = self._points.get(key)
        if point is not None:
            best = best.merge(point)
        for span in self._spans:
            if span.start <= key < span.end:
                best = best.merge(span.read)
        return best

    def pushed_ts(self, key: Key, ts: HLCTimestamp, txn_id: str) -> HLCTimestamp:
        """Where ``txn_id``'s write of ``key`` at ``ts`` may go: ``ts`` if no other read
        is at or above it, else just above the highest read.

        Above every other transaction's read, always. When the highest read is the
        writer's own, the write goes at least there (other reads, lower, hide under it;
        a write at or above its own reads, as a transaction's always is, stays put)."""
        read = self.get_max(key)
        if read.txn_id == txn_id:
            return max(ts, read.ts)
        return ts if ts > read.ts else next_ts(read.ts)

    # ------------------------------------------------------------------ memory
    def forget_below(self, ts: HLCTimestamp) -> None:
        """Raise the low-water mark to ``ts``; entries at or below it are dropped."""
        if ts <= self.low_water:
            return
        self.low_water = ts
        self._points = {k: r for k, r in self._points.items() if r.ts > ts}
        self._spans = [s for s in self._spans if s.read.ts > ts]

    def _bound(self) -> None:
        """Over ``max_entries``: forget the older half (CockroachDB rotates out its
        oldest page), raising the low-water mark to the newest timestamp forgotten."""
        if self.max_entries is None or len(self) <= self.max_entries:
            return
        stamps = sorted([r.ts for r in self._points.values()]
                        + [s.read.ts for s in self._spans])
        self.forget_below(stamps[(len(stamps) - 1) // 2])
