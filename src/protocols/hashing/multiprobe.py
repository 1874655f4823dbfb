"""Multi-probe consistent hashing: one point per node, ``k`` probes per key.

Appleton & O'Reilly, "Multi-Probe Consistent Hashing", 2015 (arXiv:1505.00062). A ring
balanced with virtual nodes needs ~hundreds of points per node (memory, and a slower
bisect); multi-probe keeps *one* point per node and instead hashes the key ``k`` times.
Each probe ``h_j(key)`` finds its successor on the ring, at a clockwise distance; the key
goes to the node whose point is closest clockwise over the ``k`` probes. With ``k = 21``
the paper reports a peak-to-mean load of about 1.05; ``k = 1`` is the plain ring with one
point per node (peak-to-mean of several). A lookup costs ``k`` hashes and ``k`` bisects.

Why this and not anchor hash (Mendelson et al. 2020): multi-probe is still a ring, so
joins and leaves move exactly what a ring moves (only keys to a new node, only a leaving
node's keys) with no bounded "anchor" of future nodes to choose up front, and it is the
one of the two that explains itself in a sentence beside the ring of scheme 1.

Choices, said:

* Probe ``j`` is xxHash64 of the key seeded ``j``; a node's point is xxHash64 of its name.
* Weights (the paper has none): a node of weight ``w`` gets ``max(1, round(w))`` points
  (seeded ``0, 1, ...``): a weight-2 node is two nodes for the probes. Weight 1 is the
  paper's one point.
* ``nodes_for(key, n)``: the owner, then the next distinct nodes clockwise from the
  winning probe's successor point (Dynamo's successor list, from where the key landed).

What moves: only keys of a leaving node (its points vanish; for every other key the
winning probe's successor is unchanged and the other probes only get farther), and on a
join only keys that move to the new node (a probe now finds it closer).
"""

from __future__ import annotations

from bisect import bisect_left, insort

from protocols.common.errors import InvalidRequest
from protocols.hashing.base import Key, Placement, as_bytes, hash64

__all__ = ["DEFAULT_PROBES", "MultiProbe"]

DEFAULT_PROBES = 21  # the paper's k for a peak-to-mean of ~1.05

_RING = 1 << 64


class MultiProbe(Placement):
    """One point per node on a 64-bit ring; each key probes it ``k`` times."""

    name = "multiprobe"

    def __init__(self, k: int = DEFAULT_PROBES) -> None:
        super().__init__()
        if k < 1:
            raise InvalidRequest(f"multiprobe: k must be at least 1 probe, got {k}")
        self.k = k
        self._points: list[int] = []  # sorted
        self._node_at: dict[int, str] = {}  # point -> node

    @staticmethod
    def points_of(node: str, weight: float) -> list[int]:
        return [hash64(node, seed=i) for i in range(max(1, round(weight)))]

    def _added(self, node: str, weight: float) -> None:
        for point in self.points_of(node, weight):
            # a 64-bit collision with another node's point: astronomically unlikely, and
            # the first node keeps the point (the newcomer simply has one point fewer)
            if point not in self._node_at:
                self._node_at[point] = node
                insort(self._points, point)

    def _removed(self, node: str) -> None:
        self._points = [p for p in self._points if self._node_at[p] != node]
        self._node_at = {p: self._node_at[p] for p in self._points}

    # ------------------------------------------------------------------ lookups
    def _closest(self, key: Key) -> int:
        """The index (in ``_points``) of the point closest clockwise over the ``k`` probes."""
        data = as_bytes(key)
        points = self._points
        count = len(points)
        best, best_distance = 0, _RING
        for j in range(self.k):
            probe = hash64(data, seed=j)
            i = bisect_left(points, probe)
            if i == count:
                i = 0  # past the last point: wrap to the first
            distance = (points[i] - probe) % _RING
            if distance < best_distance:
                best, best_distance = i, distance
        return best

    def _owner(self, key: Key) -> str:
        return self._node_at[self._points[self._closest(key)]]

    def _preference(self, key: Key, n: int) -> list[str]:
        i = self._closest(key)
        chosen: list[str] = []
        while len(chosen) < n:
            node = self._node_at[self._points[i]]
            if node not in chosen:
                chosen.append(node)
            i = (i + 1) % len(self._points)
        return chosen
