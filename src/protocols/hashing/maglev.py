"""Maglev hashing: a lookup table every balancer fills the same way from the same nodes.

Eisenbud et al., "Maglev: A Fast and Reliable Software Network Load Balancer", NSDI 2016,
§3.4. Each backend ``i`` has a *preference list* over the ``M`` slots of a lookup table,
a permutation given by two hashes of its name::

    offset ← h1(name[i]) mod M
    skip   ← h2(name[i]) mod (M - 1) + 1
    permutation[i][j] ← (offset + j * skip) mod M

(a permutation because ``M`` is prime). The backends then take turns, in a fixed order,
each claiming its most preferred slot still empty, until the table is full (``populate``,
Pseudocode 1 verbatim). A key's node is ``entry[hash(key) mod M]``: a hash and an index.

Choices, said:

* ``M`` is fixed when the table is made (default 65537, the paper's §5.3 size), never
  resized: a new ``M`` would give every backend a new permutation and move nearly every
  key. The paper wants ``M > 100·N`` ("at most a 1% difference in hash space"), so a
  table of ``M`` slots takes at most ``(M - 1) // 100`` nodes (655 by default) and
  refuses the next with a message naming a bigger prime to use (the paper's other size,
  655373).
* The turn order is the nodes sorted by name, so the table is a function of the
  membership alone: two balancers that agree on the nodes agree on every key, whatever
  order they learned them in (§3.4's point of consistent hashing across Maglevs).
* Weights: a node of weight ``w`` takes ``w / w_max`` of the turns (it is skipped in a
  round while its turns so far exceed ``round * w / w_max``), so its share of slots is
  proportional to ``w``. The pseudocode is unweighted; this is how Envoy's and Sozu's
  Maglevs weight it. With equal weights nobody is skipped: the pseudocode exactly.
* The table is rebuilt at the first lookup after a change (``O(M log M)`` steps), so a
  burst of joins costs one fill, not one per join.
* ``nodes_for(key, n)``: the owner of the key's slot, then the owners of the following
  slots in table order, skipping nodes already listed. The table's entries are spread by
  every node's permutation, so the next distinct owners are close to uniform.

What moves: Maglev puts even balance before minimal disruption (§3.4). When a node
leaves, its slots go to the others, *and* a few other slots change hands because the
turns now fall differently (Table 1's example: slot 6 goes from B0 to B2 when B1 leaves);
the paper measures this in §5.3, and ``tests/hashing/test_maglev.py`` does here: about
0.2% of the slots move between nodes that stayed at 10 nodes, 0.45% at 50.
"""

from __future__ import annotations

from collections.abc import Sequence

from protocols.common.errors import InvalidRequest
from protocols.hashing.base import Key, Placement, hash64

__all__ = ["DEFAULT_TABLE_SIZE", "Maglev", "offset_skip", "populate"]

DEFAULT_TABLE_SIZE = 65537  # prime; §5.3 evaluates 65537 and 655373


def is_prime(m: int) -> bool:
    if m < 2:
        return False
    d = 2
    while d * d <= m:
        if m % d == 0:
            return False
        d += 1
    return True


def offset_skip(name: str, M: int) -> tuple[int, int]:
    """A backend's permutation, as its ``offset`` and ``skip`` (h1, h2 = xxHash64 seeded 1, 2)."""
    offset = hash64(name, seed=1) % M
    skip = hash64(name, seed=2) % (M - 1) + 1
    return offset, skip


def populate(permutation: Sequence[tuple[int, int]], M: int,
             weight: Sequence[float] | None = None) -> list[int]:
    """Pseudocode 1: fill ``entry[0..M)`` with backend numbers, the backends taking turns.

    ``permutation[i]`` is backend ``i``'s ``(offset, skip)``; ``permutation[i][j]`` of the
    paper is computed as ``(offset + j * skip) mod M`` instead of stored (``N * M``
    integers). ``weight``, if given, makes backend ``i`` take ``weight[i] / max(weight)``
    of the turns.
    """
    N = len(permutation)
    if N == 0:
        raise InvalidRequest("maglev: populating a table needs at least one backend")
    heaviest = max(weight) if weight is not None else 1.0
    next_ = [0] * N
    entry = [-1] * M
    turns = [0] * N
    n = 0
    round_ = 0
    while True:
        round_ += 1
        for i in range(N):
            if weight is not None and round_ * weight[i] < turns[i] * heaviest:
                continue  # a lighter backend sits this turn out
            turns[i] += 1
            offset, skip = permutation[i]
            c = (offset + next_[i] * skip) % M
            while entry[c] >= 0:
                next_[i] += 1
                c = (offset + next_[i] * skip) % M
            entry[c] = i
            next_[i] += 1
            n += 1
            if n == M:
                return entry


class Maglev(Placement):
    """Maglev's lookup table of ``table_size`` slots (a prime above 100 times the nodes)."""

    name = "maglev"

    def __init__(self, table_size: int = DEFAULT_TABLE_SIZE) -> None:
        super().__init__()
        if not is_prime(table_size):
            raise InvalidRequest(f"maglev: the table size must be prime (§3.4), "
                                 f"got {table_size}")
        self.M = table_size
        self._entry: list[str] | None = None  # None: rebuild at the next lookup

    @property
    def max_nodes(self) -> int:
        """The most nodes the table takes with ``M > 100·N``."""
        return (self.M - 1) // 100

    def add(self, node: str, weight: float = 1) -> None:
        if node not in self.nodes and len(self.nodes) >= self.max_nodes:
            raise InvalidRequest(
                f"maglev: a table of M={self.M} slots takes at most {self.max_nodes} nodes "
                f"(M > 100·N, §3.4); make one with a larger prime table_size, e.g. 655373")
        super().add(node, weight)

    # ------------------------------------------------------------------ the table
    def _added(self, node: str, weight: float) -> None:
        self._entry = None

    def _removed(self, node: str) -> None:
        self._entry = None

    def table(self) -> list[str]:
        """The lookup table: ``M`` node names (filled now if a change made it stale)."""
        if self._entry is None:
            names = sorted(self.nodes)
            weights = [self.nodes[name] for name in names]
            equal = len(set(weights)) == 1
            entry = populate([offset_skip(name, self.M) for name in names], self.M,
                             None if equal else weights)
            self._entry = [names[i] for i in entry]
        return self._entry

    # ------------------------------------------------------------------ lookups
    def _owner(self, key: Key) -> str:
        return self.table()[hash64(key) % self.M]

    def _preference(self, key: Key, n: int) -> list[str]:
        entry = self.table()
        slot = hash64(key) % self.M
        chosen = [entry[slot]]
        while len(chosen) < n:
            slot = (slot + 1) % self.M
            if entry[slot] not in chosen:
                chosen.append(entry[slot])
        return chosen
