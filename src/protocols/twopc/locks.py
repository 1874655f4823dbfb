"""Strict two-phase locking on a participant's keys (BHG ch. 3).

Shared locks for reads, exclusive ones for writes; a transaction keeps every lock until
its outcome is known (strict: nobody reads or overwrites what may still be undone).
A transaction asks for every lock of its share at once, when its PREPARE arrives, and
gets all of them or none (conservative 2PL, BHG §3.4): no deadlock can form on one shard.
Across shards one can (T1 holds x on one shard and waits for y on another, where T2
holds y and waits for x), so conflicts are settled by *wait-die* (Rosenkrantz, Stearns &
Lewis 1978): each transaction carries its age (its coordinator's timestamp); an older
one waits for younger ones, a younger one that meets an older one dies (votes NO, and
its client may retry). Waits go from older to younger only, so no cycle of waits can
form anywhere. A waiting transaction also gives up after the lock timeout.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["Age", "LockTable"]

Age = tuple[int, str]  # (the coordinator's timestamp, the transaction id): lower is older


@dataclass(slots=True)
class _Lock:
    exclusive: str = ""  # the transaction holding it exclusively
    shared: set[str] = field(default_factory=set)


class LockTable:
    """Who holds which key, and who waits (in arrival order) for their whole set."""

    def __init__(self) -> None:
        self.locks: dict[str, _Lock] = {}
        self.held: dict[str, tuple[frozenset[str], frozenset[str]]] = {}  # txn -> r, w
        self.waiting: list[str] = []  # txns waiting for their whole set, in arrival order
        self.wanted: dict[str, tuple[frozenset[str], frozenset[str]]] = {}
        self.ages: dict[str, Age] = {}

    def request(self, txn: str, age: Age, reads: Iterable[str], writes: Iterable[str]
                ) -> str:
        """Every lock ``txn`` needs, at once: "granted"; "wait" (older than everyone in
        its way: the holders and the waiters ahead of it, which it does not overtake);
        or "die" (younger than one of them: wait-die)."""
        w = frozenset(writes)
        r = frozenset(reads) - w
        if txn in self.held:
            return "granted"
        if txn not in self.waiting:
            in_way = self._in_way(txn, r, w)
            if any(self.ages.get(o, age) < age for o in in_way):
                return "die"
            self.wanted[txn], self.ages[txn] = (r, w), age
            self.waiting.append(txn)
        return "granted" if txn in self.grant_waiting() else "wait"

    def _in_way(self, txn: str, r: frozenset[str], w: frozenset[str]) -> set[str]:
        """Who holds a lock ``txn`` conflicts with, or waits ahead for one of its keys."""
        out = set()
        for key in r | w:
            lock = self.locks.get(key)
            if lock is not None:
                if lock.exclusive:
                    out.add(lock.exclusive)
                if key in w:
                    out |= lock.shared
        for other in self.waiting:
            wr, ww = self.wanted[other]
            if (w & (wr | ww)) or (r & ww):
                out.add(other)
        return out - {txn}

    def release(self, txn: str) -> list[str]:
        """``txn``'s outcome is known (or it gave up waiting): free what it held; returns
        the waiting transactions granted now, in order."""
        if txn in self.waiting:
            self.waiting.remove(txn)
            del self.wanted[txn]
        self.ages.pop(txn, None)
        r, w = self.held.pop(txn, (frozenset(), frozenset()))
        for key in r | w:
            lock = self.locks[key]
            lock.shared.discard(txn)
            if lock.exclusive == txn:
                lock.exclusive = ""
            if not lock.exclusive and not lock.shared:
                del self.locks[key]
        return self.grant_waiting()

    def grant_waiting(self) -> list[str]:
        """Grant, in arrival order, every waiting set that is free; a set that is not
        blocks the ones behind it that want any of its keys (no overtaking)."""
        granted, blocked = [], set[str]()
        for txn in list(self.waiting):
            r, w = self.wanted[txn]
            if not (r | w) & blocked and self._free(txn, r, w):
                self._take(txn, r, w)
                self.waiting.remove(txn)
                del self.wanted[txn]
                granted.append(txn)
            else:
                blocked |= r | w
        return granted

    def holds(self, txn: str) -> bool:
        return txn in self.held

    def _free(self, txn: str, r: frozenset[str], w: frozenset[str]) -> bool:
        for key in w:
            lock = self.locks.get(key)
            if lock is not None and ((lock.exclusive and lock.exclusive != txn) or
                                     lock.shared - {txn}):
                return False
        for key in r:
            lock = self.locks.get(key)
            if lock is not None and lock.exclusive and lock.exclusive != txn:
                return False
        return True

    def take(self, txn: str, age: Age, reads: Iterable[str], writes: Iterable[str]) -> None:
        """Recovery: a prepared transaction takes its locks back, unconditionally (the
        prepared ones held them together before the crash)."""
        w = frozenset(writes)
        self._take(txn, frozenset(reads) - w, w)
        self.ages[txn] = age

    def _take(self, txn: str, r: frozenset[str], w: frozenset[str]) -> None:
        for key in w:
            self.locks.setdefault(key, _Lock()).exclusive = txn
        for key in r:
            self.locks.setdefault(key, _Lock()).shared.add(txn)
        self.held[txn] = (r, w)
