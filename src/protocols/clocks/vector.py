"""Vector clocks: one counter per process (Fidge 1988; Mattern 1989).

C. J. Fidge, "Timestamps in Message-Passing Systems That Preserve the Partial Ordering",
11th Australian Computer Science Conference, 1988; F. Mattern, "Virtual Time and Global
States of Distributed Systems", Parallel and Distributed Algorithms, 1989. Process ``i``
keeps a vector ``V``; ``V[j]`` counts the events of ``j`` that ``i`` has heard of:

* a local or send event increments ``V[i]`` (``tick``); a message carries ``V``;
* a receive takes the pointwise maximum with the message's vector, then ticks
  (``receive`` = ``merge`` + ``tick``).

What it can tell you: exactly whether ``a -> b`` — ``a -> b`` if and only if
``V(a) < V(b)`` (every entry ``<=``, one ``<``), and ``a`` and ``b`` are concurrent if and
only if neither vector is ``<=`` the other (both papers prove it). What it costs: one
entry per process that ever ticked, carried on every message.

The same structure, with one entry per *replica* and ticked per *write*, is a *version
vector* (Parker et al. 1983): ``dvv.py`` builds the key-value store siblings on it.
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, Mapping
from typing import Any

from protocols.clocks.ordering import Ordering

__all__ = ["VectorClock"]


class VectorClock:
    """An immutable vector clock over string node ids; absent nodes count 0. Counters
    are ints (a float or a bool is a ``TypeError``: ``1.5`` events is no count).

    Entries equal to zero are dropped, so equal clocks have equal entries (canonical).
    ``<=`` and ``<`` are the partial order of causality (``a < b``: ``a`` happened before
    ``b``); ``compare`` names the relation. Nothing mutates a clock: every event returns a
    new one, and clocks are hashable.

    Speed: the entries live in a private dict that is never mutated once the clock
    exists, so ``merge`` may return an input unchanged when it already dominates, and
    each clock keeps the sum of its counters. Since ``a < b`` implies
    ``sum(a) < sum(b)``, ``compare`` knows which single direction can hold before it
    looks at any entry, and checks it in one pass that stops at the first counter-example.
    """

    __slots__ = ("_entries", "_hash", "_total")

    _entries: dict[str, int]
    _total: int
    _hash: int

    def __init__(self, entries: Mapping[str, int] | None = None) -> None:
        clean: dict[str, int] = {}
        if entries:
            for node, count in entries.items():
                if type(count) is not int:  # not a float, a bool or an int subclass
                    raise TypeError(f"counter of {node!r} must be an int, got {count!r}")
                if not isinstance(node, str):
                    raise TypeError(f"node ids are strings, got {node!r}")
                if count < 0:
                    raise ValueError(f"counter of {node!r} is negative: {count}")
                if count:
                    clean[node] = count
        _set_entries(self, clean)
        _set_total(self, sum(clean.values()))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"VectorClock is immutable: cannot set {name!r}")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"VectorClock is immutable: cannot delete {name!r}")

    # -- events ---------------------------------------------------------------------

    def tick(self, node: str) -> VectorClock:
        """A local or send event at ``node``: its own entry goes up by one."""
        entries = self._entries.copy()
        entries[node] = entries.get(node, 0) + 1
        return _make(entries, self._total + 1)

    def merge(self, other: VectorClock) -> VectorClock:
        """The pointwise maximum (the least upper bound); no entry is ticked.

        Iterates the smaller clock against a copy of the larger one. A merge that
        raises no counter leaves the sum unchanged: then the larger input already
        dominates, and is returned as it is (clocks are immutable).
        """
        big, small = (self, other) if len(self._entries) >= len(other._entries) else (other, self)
        merged = big._entries.copy()
        get = merged.get
        for node, count in small._entries.items():
            if count > get(node, 0):
                merged[node] = count
        total = sum(merged.values())
        return big if total == big._total else _make(merged, total)

    def receive(self, node: str, other: VectorClock) -> VectorClock:
        """``node`` receives a message stamped ``other``: merge, then tick ``node``."""
        return self.merge(other).tick(node)

    # -- order ----------------------------------------------------------------------

    def compare(self, other: VectorClock) -> Ordering:
        """``BEFORE`` if ``self < other``, ``AFTER`` if ``self > other``, ``EQUAL``, or
        ``CONCURRENT`` when neither is ``<=`` the other."""
        mine, theirs = self._total, other._total
        if mine < theirs:
            return Ordering.BEFORE if _covered(self._entries, other._entries) else _CONC
        if mine > theirs:
            return Ordering.AFTER if _covered(other._entries, self._entries) else _CONC
        return Ordering.EQUAL if self._entries == other._entries else _CONC

    def __le__(self, other: VectorClock) -> bool:
        return self._total <= other._total and _covered(self._entries, other._entries)

    def __lt__(self, other: VectorClock) -> bool:
        return self._total < other._total and _covered(self._entries, other._entries)

    def __ge__(self, other: VectorClock) -> bool:
        return other.__le__(self)

    def __gt__(self, other: VectorClock) -> bool:
        return other.__lt__(self)

    def dominates(self, other: VectorClock) -> bool:
        """``self >= other``: everything ``other`` has seen, ``self`` has seen."""
        return other._total <= self._total and _covered(other._entries, self._entries)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VectorClock):
            return NotImplemented
        return self._total == other._total and self._entries == other._entries

    def __hash__(self) -> int:
        try:
            return self._hash
        except AttributeError:
            value = hash(frozenset(self._entries.items()))
            _set_hash(self, value)
            return value

    # -- reading --------------------------------------------------------------------

    def __getitem__(self, node: str) -> int:
        return self._entries.get(node, 0)

    def __len__(self) -> int:
        """The number of nodes with a non-zero counter."""
        return len(self._entries)

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __contains__(self, node: object) -> bool:
        return node in self._entries

    def items(self) -> ItemsView[str, int]:
        """``(node, counter)`` for every non-zero counter (a read-only view)."""
        return self._entries.items()

    def as_dict(self) -> dict[str, int]:
        """A fresh dict of the non-zero counters."""
        return self._entries.copy()

    @property
    def total(self) -> int:
        """The sum of all counters: the number of events this clock has seen."""
        return self._total

    def __repr__(self) -> str:
        inner = ",".join(f"{node}:{count}" for node, count in sorted(self._entries.items()))
        return f"VC{{{inner}}}"

    def __reduce__(self) -> tuple[Any, ...]:
        return (VectorClock, (self._entries,))


_CONC = Ordering.CONCURRENT
# the slots' own setters: they bypass the __setattr__ that keeps clocks immutable
_set_entries = VectorClock.__dict__["_entries"].__set__
_set_total = VectorClock.__dict__["_total"].__set__
_set_hash = VectorClock.__dict__["_hash"].__set__
_new = object.__new__


def _make(entries: dict[str, int], total: int) -> VectorClock:
    """A clock over ``entries`` (owned from now on, all positive) whose sum is ``total``."""
    clock: VectorClock = _new(VectorClock)
    _set_entries(clock, entries)
    _set_total(clock, total)
    return clock


def _covered(small: dict[str, int], big: dict[str, int]) -> bool:
    """Every counter of ``small`` is ``<=`` the same node's counter in ``big``."""
    if len(small) > len(big):
        return False
    get = big.get
    for node, count in small.items():  # noqa: SIM110 - a plain loop: all(genexpr) is ~2x slower
        if count > get(node, 0):
            return False
    return True
