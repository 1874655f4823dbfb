"""Rendezvous hashing: highest random weight.

D. G. Thaler, C. V. Ravishankar, "Using Name-Based Mappings to Increase Hit Rates",
IEEE/ACM Transactions on Networking 6(1), 1998: every node scores the key with a hash of
the pair, ``h(key, node)``, and the key goes to the node with the highest score (the
*highest random weight*). No ring, nothing to precompute: a join wins exactly the keys it
now outscores everyone on, a leave gives each of its keys to its runner-up, and the
preference list is simply the ``n`` highest scores.

Weights, by the *logarithmic method* (C. Schindelhauer, G. Schomaker, "Weighted
Distributed Hash Tables", SPAA 2005): with ``u = h / 2^bits`` uniform in ``(0, 1)``, the
score ``-weight / ln(u)`` makes node ``i`` win with probability exactly
``weight_i / sum(weights)``, and a weight change moves only keys to or from that node.
With equal weights the score is a monotonic function of ``h``, so the plain highest hash
is compared instead (no logarithm per node). Ties go to the larger node name.

Cost: a lookup hashes the key once per node, ``O(N)``; a preference list is the same
scores, partially sorted. ``add`` and ``remove`` only update the list of nodes.

The score hash is xxHash64 of the key seeded with the node's own xxHash64. A
compatibility mode takes another: ``Rendezvous(hash=f, bits=b)`` scores with
``f(node, key_bytes)``, an integer below ``2**b`` (the tests use it to match the
``clandestined`` package's MurmurHash3 scores exactly).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Iterator
from typing import Any

import xxhash

from protocols.common.errors import InvalidRequest
from protocols.hashing.base import Key, Placement, as_bytes, hash64

__all__ = ["Rendezvous", "weighted_score"]


def weighted_score(h: int, weight: float, bits: int = 64) -> float:
    """Schindelhauer & Schomaker's ``-weight / ln(u)``, ``u`` the top (at most 52) bits
    of ``h`` centred in their interval: strictly between 0 and 1, exactly."""
    shift = max(0, bits - 52)
    u = ((h >> shift) + 0.5) / float(1 << (bits - shift))
    return -weight / math.log(u)


class Rendezvous(Placement):
    """Highest random weight over the nodes (``_salted``: each node with its hash seed)."""

    name = "rendezvous"

    def __init__(self, hash: Callable[[str, bytes], int] | None = None,
                 bits: int = 64) -> None:
        super().__init__()
        if bits < 1:
            raise InvalidRequest(f"rendezvous: a hash needs at least one bit, got {bits}")
        self.bits = bits
        self._custom = hash
        self._h: Callable[[bytes, Any], int] = (
            xxhash.xxh64_intdigest if hash is None else (lambda data, node: hash(node, data)))
        self._salted: list[tuple[Any, str]] = []
        self._uniform = True  # every weight equal: compare the hashes themselves

    def _added(self, node: str, weight: float) -> None:
        self._salted.append((node if self._custom else hash64(node), node))
        self._uniform = len(set(self.nodes.values())) <= 1

    def _removed(self, node: str) -> None:
        self._salted = [s for s in self._salted if s[1] != node]
        self._uniform = len(set(self.nodes.values())) <= 1

    # ------------------------------------------------------------------ lookups
    def _scores(self, data: bytes) -> Iterator[tuple[float, str]]:
        h, weights, bits = self._h, self.nodes, self.bits
        if self._uniform:
            return ((h(data, salt), node) for salt, node in self._salted)
        return ((weighted_score(h(data, salt), weights[node], bits), node)
                for salt, node in self._salted)

    def _owner(self, key: Key) -> str:
        if not self._uniform:
            return max(self._scores(as_bytes(key)))[1]
        data, h = as_bytes(key), self._h
        best, owner = -1, ""
        for salt, node in self._salted:
            score = h(data, salt)
            if score > best or (score == best and node > owner):
                best, owner = score, node
        return owner

    def _preference(self, key: Key, n: int) -> list[str]:
        return [node for _, node in heapq.nlargest(n, self._scores(as_bytes(key)))]
