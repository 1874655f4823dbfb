"""Hybrid logical clocks: Lamport's guarantee, within a bound of physical time.

S. Kulkarni, M. Demirbas, D. Madappa, B. Avva, M. Leone, "Logical Physical Clocks",
OPODIS 2014 (the technical report: "Logical Physical Clocks and Consistent Snapshots in
Globally Distributed Databases"). A timestamp is a pair ``(l, c)``: ``l`` is the largest
physical time the process has heard of (its own clock or a message's), ``c`` counts the
events since ``l`` last changed. Figure 5 gives the algorithm, implemented line by line
in ``now`` and ``update``; the paper then proves, for clocks synchronized within ``ε``:

* ``e -> f`` implies ``(l.e, c.e) < (l.f, c.f)`` (the Lamport clock condition);
* ``l.e >= pt.e``, and ``l.e - pt.e <= ε``: ``l`` is never far from real time, so it can
  replace a physical timestamp (snapshot reads "as of" a time, as CockroachDB does);
* ``c`` stays bounded: it grows only while ``l`` is held above a process's own
  physical clock, which by the previous bound lasts at most ``ε``;
* a timestamp fits in one 64-bit word (48 bits of ``l``, 16 of ``c``) in practice.

``c`` is held to those 16 bits here (``MAX_LOGICAL``): a timestamp with a larger
``c`` cannot be built, and an event that would push ``c`` past it, our own or a peer's
message, raises ``LogicalOverflowError`` and changes nothing (the bound's assumption,
few events per unit of physical time while ``l`` is held above ``pt``, is broken: tick
physical time in a finer unit). Both parts are integers; a float is refused.

What it cannot tell you: like a Lamport clock, ``hlc(a) < hlc(b)`` does not imply
``a -> b``; there is no CONCURRENT. What it assumes: bounded clock skew. If a peer's
``l`` is more than ``max_offset`` ahead of our physical clock the assumption is broken,
and, as CockroachDB does, ``update`` refuses the message (``ClockOffsetError``) rather
than drag ``l`` arbitrarily far from real time.

Design: ``HybridLogicalClock`` is a small *mutable* object (each process owns one and
every event advances it) around *immutable* ``HLCTimestamp`` values, which are what
messages carry and what is compared. Physical time is passed in (sans-IO): any integer
unit, e.g. nanoseconds, as long as every process uses the same one.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.clocks.ordering import Ordering

__all__ = ["MAX_LOGICAL", "ClockOffsetError", "HLCTimestamp", "HybridLogicalClock",
           "LogicalOverflowError"]

MAX_LOGICAL = (1 << 16) - 1  # c fits in 16 bits (the paper's 64-bit word: 48 + 16)


class ClockOffsetError(Exception):
    """A received timestamp is further ahead of our physical clock than ``max_offset``."""

    def __init__(self, received: HLCTimestamp, physical: int, max_offset: int) -> None:
        self.received = received
        self.physical = physical
        self.max_offset = max_offset
        super().__init__(
            f"remote wall time {received.wall} is {received.wall - physical} ahead of "
            f"local physical time {physical}, more than max_offset {max_offset}: "
            "clocks are not synchronized within the bound; message refused"
        )


class LogicalOverflowError(Exception):
    """An event would push the logical counter past ``MAX_LOGICAL``: refused."""

    def __init__(self, current: HLCTimestamp, received: HLCTimestamp | None) -> None:
        self.current = current
        self.received = received
        peer = f" on receiving {received!r}" if received is not None else ""
        super().__init__(f"the logical counter would pass {MAX_LOGICAL} (16 bits) at "
                         f"{current!r}{peer}: too many events within one unit of "
                         "physical time; refused, nothing changed")


@dataclass(frozen=True, slots=True, order=True)
class HLCTimestamp:
    """An HLC timestamp ``(l, c)``, ordered lexicographically: ``wall`` first. Both are
    integers >= 0; ``c`` fits in 16 bits (``MAX_LOGICAL``)."""

    wall: int = 0
    logical: int = 0

    def __post_init__(self) -> None:
        for name, part in (("wall", self.wall), ("logical", self.logical)):
            if isinstance(part, bool) or not isinstance(part, int):
                raise TypeError(f"an HLC timestamp's {name} is an integer, got {part!r}")
        if self.wall < 0 or self.logical < 0:
            raise ValueError(f"negative HLC timestamp {self}")
        if self.logical > MAX_LOGICAL:
            raise ValueError(f"HLC logical part {self.logical} does not fit in 16 bits "
                             f"(at most {MAX_LOGICAL})")

    def compare(self, other: HLCTimestamp) -> Ordering:
        """``BEFORE``, ``AFTER`` or ``EQUAL`` in the total order; never ``CONCURRENT``."""
        if self < other:
            return Ordering.BEFORE
        return Ordering.AFTER if other < self else Ordering.EQUAL

    def __repr__(self) -> str:
        return f"HLC({self.wall},{self.logical})"


class HybridLogicalClock:
    """One process's hybrid logical clock (Figure 5). Sans-IO: pass physical time in.

    ``current`` is the timestamp of the latest event. ``now`` and ``update`` never
    return a timestamp ``<=`` the previous one, whatever ``physical`` does.
    """

    __slots__ = ("current", "max_offset")

    def __init__(self, max_offset: int, current: HLCTimestamp | None = None) -> None:
        if max_offset < 0:
            raise ValueError(f"max_offset must be >= 0, got {max_offset}")
        self.max_offset = max_offset
        self.current = current if current is not None else HLCTimestamp()

    def now(self, physical: int) -> HLCTimestamp:
        """A send or local event at physical time ``physical`` (Figure 5, first rule).

        ``l := max(l', pt)``; ``c`` counts on if ``l`` did not move, else restarts at 0.
        """
        previous = self.current
        wall = max(previous.wall, physical)
        logical = previous.logical + 1 if wall == previous.wall else 0
        self.current = self._stamp(wall, logical, None)
        return self.current

    def update(self, received: HLCTimestamp, physical: int) -> HLCTimestamp:
        """Receive a message stamped ``received`` at physical time ``physical``
        (Figure 5, second rule).

        ``l := max(l', l.m, pt)``; ``c`` continues from whichever of ``l'`` and ``l.m``
        equals the new ``l`` (both: the larger ``c``), plus one; 0 if ``pt`` alone
        won. Raises ``ClockOffsetError``, changing nothing, if ``received.wall`` is more
        than ``max_offset`` ahead of ``physical``, and ``LogicalOverflowError`` if ``c``
        would pass 16 bits (a peer's ``c`` at the bound, our ``l`` equal to its ``l``).
        """
        if not isinstance(received, HLCTimestamp):
            raise TypeError(f"a received HLC timestamp, got {received!r}")
        if received.wall - physical > self.max_offset:
            raise ClockOffsetError(received, physical, self.max_offset)
        previous = self.current
        wall = max(previous.wall, received.wall, physical)
        if wall == previous.wall == received.wall:
            logical = max(previous.logical, received.logical) + 1
        elif wall == previous.wall:
            logical = previous.logical + 1
        elif wall == received.wall:
            logical = received.logical + 1
        else:
            logical = 0
        self.current = self._stamp(wall, logical, received)
        return self.current

    def _stamp(self, wall: int, logical: int, received: HLCTimestamp | None
               ) -> HLCTimestamp:
        if logical > MAX_LOGICAL:
            raise LogicalOverflowError(self.current, received)
        return HLCTimestamp(wall, logical)

    def __repr__(self) -> str:
        return f"HybridLogicalClock({self.current!r}, max_offset={self.max_offset})"
