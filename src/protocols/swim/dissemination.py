"""Infection-style dissemination (SWIM §4.1): every update is piggybacked on the pings,
acks and ping-reqs a node sends anyway, each a limited number of times (lambda*log N),
the least-sent first, as many as fit the message's byte budget — memberlist's
``TransmitLimitedQueue``. A newer update about the same subject replaces the older one,
so the queue never carries two opinions of one member."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

__all__ = ["BroadcastQueue"]


@dataclass(slots=True)
class _Item:
    payload: Any
    transmits: int
    order: int  # newer items have higher order: among equals, the newest goes first


class BroadcastQueue:
    """Updates waiting to be piggybacked, keyed by subject (a member, an entry, an event)."""

    def __init__(self) -> None:
        self._items: dict[Hashable, _Item] = {}
        self._order = itertools.count()
        self.on_done: Callable[[Hashable], None] = lambda key: None  # sent ``limit`` times

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        return key in self._items

    def enqueue(self, key: Hashable, payload: Any) -> None:
        """Queue ``payload`` about ``key``, replacing what was queued about it."""
        self._items[key] = _Item(payload, 0, next(self._order))

    def take(self, budget: int, limit: int, size: Callable[[Any], int],
             skip: Hashable | None = None) -> list[Any]:
        """Payloads of at most ``budget`` bytes in all (``size`` says each one's),
        least-transmitted first and, among equals, the newest; one that does not fit is
        passed over for smaller ones (memberlist's ``GetBroadcasts``). One larger than
        the budget travels when it comes first, with nothing after it (memberlist would
        never send it; serf caps its events at 512 bytes instead). Each is counted as
        sent once more; sent ``limit`` times, it leaves."""
        if budget <= 0 or not self._items:
            return []
        heap = [(item.transmits, -item.order, key) for key, item in self._items.items()
                if key != skip]
        heapq.heapify(heap)
        out: list[Any] = []
        free = budget
        while heap and free > 0:
            key = heapq.heappop(heap)[2]
            item = self._items[key]
            cost = size(item.payload)
            if cost > free and out:
                continue
            free -= cost
            out.append(item.payload)
            item.transmits += 1
            if item.transmits >= limit:
                del self._items[key]
                self.on_done(key)
        return out
