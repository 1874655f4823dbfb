"""The consistent-hashing ring, with virtual nodes and weights.

D. Karger, E. Lehman, T. Leighton, R. Panigrahy, M. Levine, D. Lewin, "Consistent
Hashing and Random Trees: Distributed Caching Protocols for Relieving Hot Spots on the
World Wide Web", STOC 1997: nodes and keys are hashed onto the same circle, and a key
belongs to the first node clockwise from it; each node appears as several *points*
(§4's "copies" of a bucket) so that every node's arc is close to its fair share.
G. DeCandia et al., "Dynamo: Amazon's Highly Available Key-value Store", SOSP 2007, §4.2
calls the points *virtual nodes* and gives a more capable node more of them (its
weight); §4.3's *preference list* walks on clockwise, skipping the points of nodes
already chosen, until it has ``n`` distinct physical nodes.

Cost: a lookup is one hash and a binary search over the sorted points (``bisect``);
``add`` and ``remove`` rebuild the sorted arrays (``O(P log P)`` for ``P`` points), never
a lookup. A join takes over only the arcs that end at its new points; a leave hands each
of its arcs to the next point clockwise: only its own keys move.

``Ring(ketama=True)`` (and ``Ketama``, its registered name) is the ketama continuum of
libmemcached as the ``uhashring`` package builds it (``HashRing(hash_fn="ketama")``),
bit for bit: four points per MD5 digest of ``"{node}-{i}"``, ``vnodes // 4`` digests
per node scaled by its share of the total weight, a key's point the first four bytes of
its MD5 read little-endian, and the first point strictly greater than that. Two known
costs of that compatibility, kept on purpose: the weights are *relative*, so a join or a
leave of a node when the weights differ changes every node's number of points (keys move
between nodes that stayed), and a node whose share rounds down to no point gets no keys.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterator
from hashlib import md5

from protocols.common.errors import InvalidRequest
from protocols.hashing.base import Key, Placement, as_bytes, hash64

__all__ = ["Ketama", "Ring", "ketama_hash", "ketama_points"]

KETAMA_REPLICAS = 4  # points per MD5 digest: its four 32-bit little-endian words


def ketama_hash(key: Key) -> int:
    """A key's point on the ketama continuum: the first 32-bit little-endian word of its
    MD5 (uhashring hashes ``str(key)``; a ``bytes`` key is hashed as its bytes here)."""
    return int.from_bytes(md5(as_bytes(key)).digest()[:4], "little")


def ketama_points(node: str, digests: int) -> Iterator[int]:
    """The ``4 * digests`` points of ``node``: every word of MD5(``"{node}-{i}"``)."""
    for i in range(digests):
        digest = md5(f"{node}-{i}".encode()).digest()
        for r in range(KETAMA_REPLICAS):
            yield int.from_bytes(digest[4 * r:4 * r + 4], "little")


class Ring(Placement):
    """Consistent hashing on a ring: ``vnodes * weight`` points per node.

    ``_points`` is the sorted circle; ``_owners[i]`` the node of ``_points[i]``, with the
    first owner repeated at the end so that a key past the last point wraps to the first
    without a branch.
    """

    name = "ring"

    def __init__(self, vnodes: int = 160, *, ketama: bool = False,
                 key_hash: Callable[[Key], int] | None = None) -> None:
        super().__init__()
        if vnodes < 1 or (ketama and vnodes % KETAMA_REPLICAS):
            raise InvalidRequest(f"{self.name}: vnodes must be a positive"
                                 f"{' multiple of 4 under ketama' if ketama else ''} "
                                 f"number, got {vnodes}")
        self.vnodes = vnodes
        self.ketama = ketama
        # where a key lands: hash64 (ketama: uhashring's); ``key_hash`` may place several
        # names at one point (bounded loads with each request a ball at its key's point)
        self._hash: Callable[[Key], int] = key_hash or (ketama_hash if ketama else hash64)
        self._circle: list[tuple[int, str]] = []  # (point, node), sorted
        self._points: list[int] = []
        self._owners: list[str] = []

    # ------------------------------------------------------------------ the circle
    def _virtual_nodes(self, node: str, weight: float) -> list[tuple[int, str]]:
        """``node``'s points (not ketama): the i-th is its name hashed with seed ``i``."""
        count = max(1, round(self.vnodes * weight))
        return [(hash64(node, seed=i), node) for i in range(count)]

    def _ketama_circle(self) -> list[tuple[int, str]]:
        """uhashring's continuum: ``vnodes/4 * N * weight // total`` digests per node; of
        two nodes on one point the later added keeps it (a dict, filled in order)."""
        total = sum(self.nodes.values())
        owner: dict[int, str] = {}
        for node, weight in self.nodes.items():
            digests = int(self.vnodes // KETAMA_REPLICAS * len(self.nodes) * weight // total)
            for point in ketama_points(node, digests):
                owner[point] = node
        return sorted(owner.items())

    def _set_circle(self, circle: list[tuple[int, str]]) -> None:
        self._circle = circle
        self._points = [point for point, _ in circle]
        self._owners = [node for _, node in circle] + [node for _, node in circle[:1]]

    def _added(self, node: str, weight: float) -> None:
        if self.ketama:
            self._set_circle(self._ketama_circle())
        else:  # two sorted runs: sorted() merges them in linear time
            self._set_circle(sorted(self._circle + sorted(self._virtual_nodes(node, weight))))

    def _removed(self, node: str) -> None:
        if self.ketama:
            self._set_circle(self._ketama_circle())
        else:
            self._set_circle([p for p in self._circle if p[1] != node])

    # ------------------------------------------------------------------ lookups
    def _owner(self, key: Key) -> str:
        """The first point strictly clockwise of the key's hash (wrapping past the top)."""
        return self._owners[bisect_right(self._points, self._hash(key))]

    def _preference(self, key: Key, n: int) -> list[str]:
        """Walk clockwise from the owner's point, skipping nodes already chosen (Dynamo
        §4.3). Nodes with no point (ketama's rounding) come last, in the order added."""
        return self._walk(bisect_right(self._points, self._hash(key)), n)

    def _walk(self, start: int, n: int) -> list[str]:
        """The first ``n`` distinct nodes from point ``start`` clockwise."""
        points = len(self._points)
        chosen: list[str] = []
        for step in range(points):
            node = self._owners[(start + step) % points]
            if node not in chosen:
                chosen.append(node)
                if len(chosen) == n:
                    return chosen
        return [*chosen, *(node for node in self.nodes if node not in chosen)][:n]

    def arcs(self, n: int = 1) -> list[tuple[int, int, list[str]]]:
        """The circle cut at every point: each arc ``[start, end)`` of hash values with
        the ``n`` distinct nodes that own a key landing in it (the node of the point at
        ``end`` first, Dynamo §4.3); the first arc wraps past the top. A CLI's view of
        who owns which range."""
        self._need(n)
        return [(self._points[i - 1], end, self._walk(i, n))
                for i, end in enumerate(self._points)]


class Ketama(Ring):
    """``Ring(ketama=True)``: uhashring's ketama continuum, under its own scheme name."""

    name = "ketama"

    def __init__(self, vnodes: int = 160) -> None:
        super().__init__(vnodes, ketama=True)
