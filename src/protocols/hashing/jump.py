"""Jump consistent hash: no ring, no table, just arithmetic.

J. Lamping, E. Veach, "A Fast, Minimal Memory, Consistent Hash Algorithm",
arXiv:1406.2294, 2014. ``jump_hash(key, num_buckets)`` is the paper's function verbatim
(its Figure 1, with its linear congruential generator's constant 2862933555777941757):
when the number of buckets grows from ``n`` to ``n + 1``, each key jumps to the new
bucket with probability ``1/(n + 1)`` and otherwise stays where it was, so exactly the
fair share moves, and the expected loop count is ``O(ln n)``.

The paper's own limits, kept here: buckets are *numbered* ``0..n-1``, and they can only
be added or removed at the end (the abstract: "more suitable for data storage
applications than for distributed web caching"); and there are no weights. So
``Jump`` names its buckets by the nodes in the order they were added: node ``i`` is bucket
``i``. ``remove`` accepts only the last node; removing another would renumber every later
bucket and move their keys too, so it is refused (``InvalidRequest``, nothing changes).
``add`` with a weight other than 1 is refused the same way.

``nodes_for(key, n)``: the owner is ``jump_hash(xxh64(key, seed 0), n_buckets)``; the
next nodes are ``jump_hash(xxh64(key, seed s), n_buckets)`` for seeds ``s = 1, 2, ...``,
skipping buckets already chosen. Each seed is a jump hash of its own: on a join each one
moves with probability ``1/(n + 1)``, and only to the new bucket. (A list still
short after ``64 * n_buckets`` seeds, chance below ``e^-64``, is completed in bucket
order so that the call always ends.)
"""

from __future__ import annotations

import xxhash

from protocols.common.errors import InvalidRequest
from protocols.hashing.base import Key, Placement, as_bytes

__all__ = ["Jump", "jump_hash"]

MASK64 = 0xFFFF_FFFF_FFFF_FFFF


def jump_hash(key: int, num_buckets: int) -> int:
    """Lamping & Veach, Figure 1: the bucket in ``[0, num_buckets)`` of a 64-bit key."""
    b, j = -1, 0
    while j < num_buckets:
        b = j
        key = (key * 2862933555777941757 + 1) & MASK64
        j = int((b + 1) * (float(1 << 31) / float((key >> 33) + 1)))
    return b


class Jump(Placement):
    """Jump consistent hash over the nodes in the order they joined (bucket ``i``)."""

    name = "jump"

    def __init__(self) -> None:
        super().__init__()
        self._buckets: list[str] = []

    # ------------------------------------------------------------------ membership
    def add(self, node: str, weight: float = 1) -> None:
        if weight != 1:
            raise InvalidRequest(f"jump: node {node!r} cannot have weight {weight!r}: jump "
                                 "consistent hash gives every bucket the same share")
        super().add(node, weight)

    def remove(self, node: str) -> None:
        if node in self.nodes and node != self._buckets[-1]:
            raise InvalidRequest(
                f"jump: only the last node ({self._buckets[-1]!r}) can be removed, not "
                f"{node!r}: buckets are numbered by joining order and jump consistent hash "
                "shrinks only from the end; removing bucket "
                f"{self._buckets.index(node)} would renumber, and move the keys of, every "
                "bucket after it")
        super().remove(node)

    def _added(self, node: str, weight: float) -> None:
        self._buckets.append(node)

    def _removed(self, node: str) -> None:
        self._buckets.pop()

    # ------------------------------------------------------------------ lookups
    def _owner(self, key: Key) -> str:
        return self._buckets[jump_hash(xxhash.xxh64_intdigest(as_bytes(key)),
                                       len(self._buckets))]

    def _preference(self, key: Key, n: int) -> list[str]:
        data, buckets = as_bytes(key), len(self._buckets)
        chosen: list[int] = []
        for seed in range(64 * buckets):
            b = jump_hash(xxhash.xxh64_intdigest(data, seed), buckets)
            if b not in chosen:
                chosen.append(b)
                if len(chosen) == n:
                    break
        else:  # never seen: complete the list in bucket order
            chosen += [b for b in range(buckets) if b not in chosen][:n - len(chosen)]
        return [self._buckets[b] for b in chosen]
