"""Lamport clocks: one integer per process (Lamport 1978, "Logical Clocks").

Lamport, "Time, Clocks, and the Ordering of Events in a Distributed System", CACM 21(7),
1978. The section "Logical Clocks" asks for the *Clock Condition*: if ``a -> b`` then
``C(a) < C(b)``, and meets it with two implementation rules:

* **IR1**: each process increments its clock between any two successive events;
* **IR2**: a message carries the sender's clock ``Tm``; the receiver sets its clock to
  something greater than both its own value and ``Tm``.

What it can tell you: if ``L(a) >= L(b)`` then ``a`` did *not* happen before ``b``.
What it cannot: ``L(a) < L(b)`` does **not** imply ``a -> b`` (the converse of the Clock
Condition is false), so a Lamport clock can never say two events are concurrent. Ties
between processes are broken by process id in the paper's total order ("Ordering the
Events Totally"); that total order is useful (mutual exclusion, the paper's example) but
it is an arbitrary extension of causality, not causality.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.clocks.ordering import Ordering

__all__ = ["LamportClock"]


@dataclass(frozen=True, slots=True, order=False)
class LamportClock:
    """One process's Lamport clock: an immutable value, each event returns a new one.

    ``compare`` orders by ``time`` only and answers ``BEFORE``, ``AFTER`` or ``EQUAL``,
    never ``CONCURRENT``: read ``BEFORE`` as "not after", not as "happened before".
    """

    time: int = 0

    def __post_init__(self) -> None:
        if self.time < 0:
            raise ValueError(f"a Lamport clock cannot be negative, got {self.time}")

    def tick(self) -> LamportClock:
        """IR1: a local or send event. The message carries the returned clock."""
        return LamportClock(self.time + 1)

    def merge(self, other: LamportClock) -> LamportClock:
        """IR2(b): receive a message stamped ``other``: ``max(self, other) + 1``."""
        return LamportClock(max(self.time, other.time) + 1)

    def compare(self, other: LamportClock) -> Ordering:
        """Order by time: ``BEFORE`` if smaller, ``AFTER`` if larger, ``EQUAL`` if the same.

        Only the contrapositive of the Clock Condition is sound: ``AFTER`` or ``EQUAL``
        proves ``self`` did not happen before ``other``; ``BEFORE`` proves nothing.
        """
        if self.time < other.time:
            return Ordering.BEFORE
        if self.time > other.time:
            return Ordering.AFTER
        return Ordering.EQUAL
