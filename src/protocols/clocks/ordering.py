"""How two timestamps relate: the answer every clock in this package gives.

Lamport (1978, "The Partial Ordering") defines *happened before*, ``a -> b``: ``a`` comes
before ``b`` in one process, or ``a`` sends a message that ``b`` receives, or a chain of
those links them. Two distinct events with neither ``a -> b`` nor ``b -> a`` are
*concurrent*: neither could have influenced the other. ``a.compare(b)`` answers from the
timestamps alone; what a clock *can* answer is the point of each clock type (see
``lamport.py``, ``vector.py``, ``dvv.py``, ``hlc.py``).
"""

from __future__ import annotations

import enum

__all__ = ["Ordering"]


class Ordering(enum.Enum):
    """The result of ``a.compare(b)``, read as "a is ... b".

    ``BEFORE``: ``a`` happened before ``b``. ``AFTER``: ``b`` happened before ``a``.
    ``EQUAL``: the same timestamp. ``CONCURRENT``: neither happened before the other
    (only clocks that capture causality exactly, vector clocks and dotted version
    vectors, ever say this).
    """

    BEFORE = "before"
    AFTER = "after"
    EQUAL = "equal"
    CONCURRENT = "concurrent"

    def flipped(self) -> Ordering:
        """The answer of ``b.compare(a)`` when this is ``a.compare(b)``."""
        return _FLIPPED[self]


_FLIPPED = {
    Ordering.BEFORE: Ordering.AFTER,
    Ordering.AFTER: Ordering.BEFORE,
    Ordering.EQUAL: Ordering.EQUAL,
    Ordering.CONCURRENT: Ordering.CONCURRENT,
}
