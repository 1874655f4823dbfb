"""Dotted version vectors: causality for a replicated key's concurrent values (siblings).

N. Preguiça, C. Baquero, P. S. Almeida, V. Fonte, R. Gonçalves, "Dotted Version Vectors:
Logical Clocks for Optimistic Replication", arXiv:1011.5808, 2010, and "Brief
Announcement: Efficient Causality Tracking in Distributed Storage Systems with Dotted
Version Vectors", PODC 2012. The compact set form is R. Gonçalves, P. S. Almeida,
C. Baquero, V. Fonte, "Dotted Version Vectors: Efficient Causality Tracking for
Distributed Key-Value Stores", DAIS 2015 — ``dvvset.erl``
(github.com/ricardobcl/Dotted-Version-Vectors), which Riak 2.0 adopted.

The setting: a key-value store whose *replicas* (not clients, which are many and
short-lived) own the clock entries. A client reads the values and a *context* (a version
vector), and later writes a new value with that context through some replica. The write
must replace exactly the values the client had seen and keep the others as *siblings*.

**Why dots fix sibling explosion.** With one version vector per object over replica
ids (Riak's vnode vclocks, ``VVSiblings`` here), the clock cannot say which events each
value came from, so a write whose context misses any event must keep every sibling, and
clients interleaving writes with stale contexts pile them up without bound. A *dot*
names the one event that wrote each value, apart from its causal past, so a write
discards exactly the values whose dots its context covers and keeps only the truly
concurrent ones.

``DottedVersionVector`` is the paper's clock of one event (a dot and its past);
``DVVSet`` is the compact set of siblings of one key; both sibling stores implement the
small ``SiblingStore`` interface so a workload can run on either and count siblings.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Generic, NamedTuple, Self, TypeVar

from protocols.clocks.ordering import Ordering
from protocols.clocks.vector import VectorClock

__all__ = ["DVVSet", "Dot", "DottedVersionVector", "Entry", "SiblingStore", "VVSiblings"]

V = TypeVar("V")


@dataclass(frozen=True, slots=True, order=True)
class Dot:
    """One event: the ``counter``-th event of ``node`` (and only that one)."""

    node: str
    counter: int

    def __post_init__(self) -> None:
        if self.counter < 1:
            raise ValueError(f"a dot's counter starts at 1, got {self.counter}")

    def __repr__(self) -> str:
        return f"({self.node},{self.counter})"


@dataclass(frozen=True, slots=True)
class DottedVersionVector:
    """The clock of one event: the event's ``dot`` and its causal ``past`` (the 2010 paper).

    The history it stands for is ``past``'s events plus the dot; the dot need not be
    the next event after ``past[dot.node]``: that gap is what a plain version vector
    cannot express. ``dot is None`` is a bare context (a history with no event of its
    own). ``a.descends(b)``: ``a``'s history contains ``b``'s dot.
    """

    dot: Dot | None
    past: VectorClock

    def __post_init__(self) -> None:
        if self.dot is not None and self.dot.counter <= self.past[self.dot.node]:
            raise ValueError(f"dot {self.dot} is already in its past {self.past}")

    @classmethod
    def event(cls, node: str, past: VectorClock) -> DottedVersionVector:
        """A new event at ``node`` that has seen ``past``: its dot is the next of ``node``."""
        return cls(Dot(node, past[node] + 1), past)

    def covers(self, dot: Dot) -> bool:
        """``dot`` is in this clock's history: in its past, or its own dot."""
        return dot.counter <= self.past[dot.node] or dot == self.dot

    def descends(self, other: DottedVersionVector) -> bool:
        """Everything ``other`` stands for is in this history (reflexive).

        For clocks of events, covering the other's dot is enough: a history that holds
        an event holds that event's past too (histories are causally closed).
        """
        if other.dot is not None:
            return self.covers(other.dot)
        return other.past <= self.as_vector()

    def compare(self, other: DottedVersionVector) -> Ordering:
        """``BEFORE`` when ``other`` descends this and not the reverse, and so on."""
        down, up = self.descends(other), other.descends(self)
        if down and up:
            return Ordering.EQUAL
        if up:
            return Ordering.BEFORE
        return Ordering.AFTER if down else Ordering.CONCURRENT

    def as_vector(self) -> VectorClock:
        """The largest version vector inside this history (the dot folds in if no gap)."""
        dot = self.dot
        if dot is None or dot.counter != self.past[dot.node] + 1:
            return self.past
        return self.past.tick(dot.node)

    def __repr__(self) -> str:
        return f"DVV({self.dot!r}, {self.past!r})"


class SiblingStore(ABC, Generic[V]):
    """The state of one key at one replica: its siblings and their causal context.

    A client reads ``values()`` and ``context()``, then writes with
    ``update(context, node, value)`` through replica ``node``; replicas exchange states
    with ``sync``. Every operation returns a new store.
    """

    __slots__ = ()

    @abstractmethod
    def update(self, context: VectorClock, node: str, value: V) -> Self:
        """A write at replica ``node`` from a client that had read ``context``."""

    @abstractmethod
    def sync(self, other: Self) -> Self:
        """Merge another replica's state of the same key (commutative, idempotent)."""

    @abstractmethod
    def context(self) -> VectorClock:
        """The causal context a reader gets with ``values()``."""

    @abstractmethod
    def values(self) -> list[V]:
        """The current siblings."""

    def size(self) -> int:
        """The number of siblings."""
        return len(self.values())


class Entry(NamedTuple, Generic[V]):
    """One replica's triple in a ``DVVSet``: ``(node, counter, values)``.

    ``values`` is newest first; the value at index ``i`` was written by the event
    ``Dot(node, counter - i)``. Events ``1 .. counter - len(values)`` of ``node`` are in
    the causal past only: their values have been replaced.
    """

    node: str
    counter: int
    values: tuple[V, ...]


class DVVSet(SiblingStore[V]):
    """The siblings of one key with a dotted version vector set (``dvvset.erl``).

    ``entries`` holds one ``Entry`` per replica id, sorted by id; ``anonymous`` holds
    values with no dot of their own (written with ``new``, not through a replica),
    which only a context strictly above the whole clock replaces. The operations follow
    ``dvvset.erl``: ``new``, ``sync``, ``join``, ``update``, ``values``, ``size``. They
    are methods, so ``DVVSet.sync(a, b)`` and ``a.sync(b)`` are the same call.
    """

    __slots__ = ("anonymous", "entries")

    entries: tuple[Entry[V], ...]
    anonymous: tuple[V, ...]

    def __init__(self, entries: Iterable[Entry[V]] = (), anonymous: Iterable[V] = ()) -> None:
        ordered = tuple(sorted(entries, key=_entry_node))
        for e in ordered:
            if len(e.values) > e.counter:
                raise ValueError(f"{e.node} has {len(e.values)} values but {e.counter} events")
        if len({e.node for e in ordered}) != len(ordered):
            raise ValueError("a DVVSet holds one entry per node")
        object.__setattr__(self, "entries", ordered)
        object.__setattr__(self, "anonymous", tuple(anonymous))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"DVVSet is immutable: cannot set {name!r}")

    @classmethod
    def new(cls, value: V, context: VectorClock | None = None) -> DVVSet[V]:
        """``value`` as an anonymous value over ``context``'s history (``new/1,2``)."""
        return cls(_context_entries(context), (value,))

    # -- the operations ---------------------------------------------------------------

    def sync(self, other: DVVSet[V]) -> DVVSet[V]:
        """Merge two replicas' sets, dropping every value the other side has seen
        replaced (``sync/2``). Commutative and idempotent; associative over dotted values
        (written through a replica: all the versioned KV makes).

        Anonymous values are not associative, here as in ``dvvset.erl``: a side keeps
        them unless the other's clock strictly dominates its own, and grouping changes
        which clock they meet. With ``a`` = ``{n1:1}`` holding ``x``, ``b`` = ``{n2:1}``
        holding ``y`` and ``c``'s clock ``{n1:1, n2:1}``, ``(a.sync(b)).sync(c)`` keeps
        ``x`` and ``y`` (their clock equals ``c``'s) while ``a.sync(b.sync(c))`` drops
        both. The versioned KV refuses anonymous values from its peers."""
        mine, theirs = self.join(), other.join()
        if mine < theirs:
            anonymous = other.anonymous
        elif theirs < mine:
            anonymous = self.anonymous
        else:
            anonymous = _union(self.anonymous, other.anonymous)
        return DVVSet(_sync_entries(self.entries, other.entries), anonymous)

    def join(self) -> VectorClock:
        """The causal context: every event this set has seen, as a version vector."""
        return VectorClock({e.node: e.counter for e in self.entries})

    def context(self) -> VectorClock:
        """``join()``: what a reader hands back when it writes."""
        return self.join()

    def update(self, context: VectorClock, node: str, value: V) -> DVVSet[V]:
        """A write of ``value`` at replica ``node`` by a client that read ``context``
        (``update/3``).

        Syncing the context (with no values) discards exactly the values whose dots
        it covers; the rest stay as siblings. Then ``node`` records a new event, whose
        dot is the next counter of ``node``, holding ``value``.
        """
        read: DVVSet[V] = DVVSet(_context_entries(context))
        synced = read.sync(self)
        return DVVSet(_event(synced.entries, node, value), synced.anonymous)

    def values(self) -> list[V]:
        """Every sibling: the anonymous ones, then each replica's, newest first."""
        out = list(self.anonymous)
        for e in self.entries:
            out.extend(e.values)
        return out

    def size(self) -> int:
        """The number of siblings (``size/1``)."""
        return len(self.anonymous) + sum(len(e.values) for e in self.entries)

    def dotted_values(self) -> list[tuple[Dot | None, V]]:
        """Every sibling with the dot of the write that made it (``None``: anonymous)."""
        out: list[tuple[Dot | None, V]] = [(None, v) for v in self.anonymous]
        for e in self.entries:
            out.extend((Dot(e.node, e.counter - i), v) for i, v in enumerate(e.values))
        return out

    def __eq__(self, other: object) -> bool:
        """Same entries, and the same anonymous values in any order."""
        if not isinstance(other, DVVSet):
            return NotImplemented
        return self.entries == other.entries and _same_items(self.anonymous, other.anonymous)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        inner = ", ".join(f"({e.node},{e.counter},{list(e.values)!r})" for e in self.entries)
        return f"DVVSet([{inner}], {list(self.anonymous)!r})"


def _entry_node(entry: Entry[V]) -> str:
    return entry.node


def _context_entries(context: VectorClock | None) -> list[Entry[V]]:
    """A client's context as entries with no values (``new/2`` without the value)."""
    if context is None:
        return []
    return [Entry(node, counter, ()) for node, counter in context.items()]


def _sync_entries(
    left: Sequence[Entry[V]], right: Sequence[Entry[V]]
) -> list[Entry[V]]:
    """``sync2``: the union of two sorted entry lists, merging the common nodes."""
    by_node = {e.node: e for e in left}
    for e in right:
        mine = by_node.get(e.node)
        by_node[e.node] = e if mine is None else _merge_entry(mine, e)
    return list(by_node.values())


def _merge_entry(a: Entry[V], b: Entry[V]) -> Entry[V]:
    """``merge/5``: one node's triple from two replicas.

    The higher counter wins; of its values, keep those whose dots the other side has
    not seen replaced: dots above the other's "replaced" mark ``counter - len(values)``.
    """
    if a.counter < b.counter:
        a, b = b, a
    a_replaced = a.counter - len(a.values)
    b_replaced = b.counter - len(b.values)
    if a_replaced >= b_replaced:
        return a
    return Entry(a.node, a.counter, a.values[: a.counter - b_replaced])


def _event(entries: Sequence[Entry[V]], node: str, value: V) -> list[Entry[V]]:
    """``event/3``: ``node`` records its next event, holding ``value``."""
    out = []
    found = False
    for e in entries:
        if e.node == node:
            e = Entry(node, e.counter + 1, (value, *e.values))
            found = True
        out.append(e)
    if not found:
        out.append(Entry(node, 1, (value,)))
    return out


def _union(xs: Sequence[V], ys: Sequence[V]) -> tuple[V, ...]:
    """The multiset union: each value as often as the side that holds it most often
    (``xs``, then what ``ys`` has more of; values need only ``==``). Two clients may
    write the same value, so siblings are a multiset: a union that dropped ``ys``'s
    repeats would not commute, and replicas would never converge."""
    out = list(xs)
    unmatched = list(xs)
    for y in ys:
        if y in unmatched:
            unmatched.remove(y)
        else:
            out.append(y)
    return tuple(out)


def _same_items(xs: Sequence[V], ys: Sequence[V]) -> bool:
    """The same values, each as often, in any order."""
    if len(xs) != len(ys):
        return False
    rest = list(ys)
    for x in xs:
        if x not in rest:
            return False
        rest.remove(x)
    return True


class VVSiblings(SiblingStore[V]):
    """The siblings of one key with one version vector for all of them: the baseline.

    This is Riak's "vnode vclocks" before 2.0 (the README of ricardobcl/Dotted-Version-
    Vectors, "Server IDs #2 - Merge VV"): every sibling carries the same clock, the
    object's. A write through ``node`` with ``context`` discards the siblings only if
    their clock is ``<=`` ``context`` — all or nothing, since they share it — and the
    new value (with any kept siblings) is tagged ``context.merge(clock).tick(node)``.
    Correct (nothing concurrent is lost) but coarse: kept siblings take the new, larger
    clock, so a writer whose context was already stale keeps everything — the sibling
    explosion.

    (Tagging each sibling with its own ``context.merge(clock).tick(node)`` instead stops
    the growth, but errs the other way: the new value's clock claims to descend the
    concurrent siblings it never saw, so any reconciliation that compares siblings'
    clocks drops writes. Telling "this event" apart from "what it saw" is the dot.)
    """

    __slots__ = ("clock", "siblings")

    clock: VectorClock
    siblings: tuple[V, ...]

    def __init__(self, clock: VectorClock | None = None, siblings: Iterable[V] = ()) -> None:
        object.__setattr__(self, "clock", clock if clock is not None else VectorClock())
        object.__setattr__(self, "siblings", tuple(siblings))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"VVSiblings is immutable: cannot set {name!r}")

    def update(self, context: VectorClock, node: str, value: V) -> VVSiblings[V]:
        """Keep every sibling unless ``context`` dominates the object's clock."""
        kept = () if self.clock <= context else self.siblings
        return VVSiblings(context.merge(self.clock).tick(node), (*kept, value))

    def sync(self, other: VVSiblings[V]) -> VVSiblings[V]:
        """The strictly dominating replica's state, or else the union of both: when
        concurrent, and also when the clocks are *equal* — one clock for all siblings
        cannot tell two sibling sets apart (two writes through different replicas can
        reach the same clock with different survivors), and keeping either side alone
        would lose the other's values and never converge."""
        if other.clock < self.clock:
            return self
        if self.clock < other.clock:
            return other
        return VVSiblings(self.clock.merge(other.clock), _union(self.siblings, other.siblings))

    def context(self) -> VectorClock:
        return self.clock

    def values(self) -> list[V]:
        return list(self.siblings)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, VVSiblings):
            return NotImplemented
        return self.clock == other.clock and _same_items(self.siblings, other.siblings)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"VVSiblings({self.clock!r}, {list(self.siblings)!r})"
