"""Logical clocks as small immutable values, and what each can and cannot tell you.

* ``LamportClock`` (one integer): ``a -> b`` implies ``L(a) < L(b)``; so ``L(a) >= L(b)``
  proves ``a`` did not happen before ``b``. It cannot detect concurrency.
* ``VectorClock`` (one counter per process): exact — ``a -> b`` iff ``V(a) < V(b)``, and
  concurrent iff neither is ``<=``. It costs an entry per process on every message.
* ``DottedVersionVector`` (one event's dot and its past) and ``DVVSet`` (the siblings of
  a replicated key): exact causality between writes with one entry per *replica*, so a
  write replaces exactly the values its client read. ``VVSiblings`` is the plain
  version-vector baseline that keeps too many siblings.
* ``HybridLogicalClock`` (a physical time and a counter): Lamport's guarantee, with the
  time never further than the clock skew from real time. It cannot detect concurrency,
  and it assumes clocks synchronized within a bound (``ClockOffsetError`` otherwise).

``a.compare(b)`` returns an ``Ordering`` everywhere. Read in order: ``ordering.py``,
``lamport.py``, ``vector.py``, ``dvv.py``, ``hlc.py``. Everything is sans-IO: physical
time, where one is needed, is passed in.
"""

from __future__ import annotations

from protocols.clocks.dvv import (
    Dot,
    DottedVersionVector,
    DVVSet,
    Entry,
    SiblingStore,
    VVSiblings,
)
from protocols.clocks.hlc import (
    MAX_LOGICAL,
    ClockOffsetError,
    HLCTimestamp,
    HybridLogicalClock,
    LogicalOverflowError,
)
from protocols.clocks.lamport import LamportClock
from protocols.clocks.ordering import Ordering
from protocols.clocks.vector import VectorClock

__all__ = [
    "MAX_LOGICAL",
    "ClockOffsetError",
    "DVVSet",
    "Dot",
    "DottedVersionVector",
    "Entry",
    "HLCTimestamp",
    "HybridLogicalClock",
    "LamportClock",
    "LogicalOverflowError",
    "Ordering",
    "SiblingStore",
    "VVSiblings",
    "VectorClock",
]
