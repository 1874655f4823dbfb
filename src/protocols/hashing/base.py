"""What every placement scheme offers: one small interface over six ways to map keys to
nodes (course chapter: partitioning and consistent hashing).

``node_for(key)`` is the node that owns ``key``; ``nodes_for(key, n)`` its preference
list: ``n`` *distinct* physical nodes, the owner first (Dynamo's replicas, DeCandia et
al. 2007 §4.3); ``add(node, weight)`` and ``remove(node)`` change the membership, moving
as few keys as the scheme allows. Keys are ``str`` or ``bytes``; the hash is a library's
(``xxhash``), never a hand-written one.

Errors are the project's own: asking a scheme with no nodes, adding a node twice,
removing one it does not have, or a preference list longer than the nodes are
``InvalidRequest`` with a message that says which; nothing is changed by a refused call.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping

import xxhash

from protocols.common.errors import InvalidRequest

__all__ = ["Key", "Placement", "as_bytes", "hash64"]

Key = str | bytes


def as_bytes(key: Key) -> bytes:
    return key.encode() if isinstance(key, str) else key


def hash64(data: Key, seed: int = 0) -> int:
    """A 64-bit hash of ``data`` (xxHash64, seeded): the one every scheme uses unless its
    paper or a compatibility mode names another."""
    return xxhash.xxh64_intdigest(as_bytes(data), seed)


class Placement(abc.ABC):
    """A placement scheme. Subclasses keep the paper's names for their internals."""

    name: str = ""  # the scheme's short name: "ring", "jump", "rendezvous", ...

    def __init__(self) -> None:
        self._weights: dict[str, float] = {}

    # ------------------------------------------------------------------ membership
    @property
    def nodes(self) -> Mapping[str, float]:
        """The physical nodes and their weights, in the order they were added."""
        return self._weights

    def add(self, node: str, weight: float = 1) -> None:
        if not node:
            raise InvalidRequest("a node needs a name")
        if node in self._weights:
            raise InvalidRequest(f"{self.name}: node {node!r} is already placed")
        if not weight > 0:
            raise InvalidRequest(f"{self.name}: node {node!r} needs a positive weight, "
                                 f"got {weight!r}")
        self._weights[node] = weight
        self._added(node, weight)

    def remove(self, node: str) -> None:
        if node not in self._weights:
            raise InvalidRequest(f"{self.name}: no node {node!r}; nodes: "
                                 f"{', '.join(self._weights) or 'none'}")
        del self._weights[node]
        self._removed(node)

    # ------------------------------------------------------------------ lookups
    def node_for(self, key: Key) -> str:
        self._need(1)
        return self._owner(key)

    def nodes_for(self, key: Key, n: int) -> list[str]:
        """``n`` distinct physical nodes for ``key``, its owner first."""
        if n < 1:
            raise InvalidRequest(f"a preference list needs n >= 1, got {n}")
        self._need(n)
        return self._preference(key, n)

    def _need(self, n: int) -> None:
        if len(self._weights) < n:
            raise InvalidRequest(f"{self.name}: {n} node(s) asked for, "
                                 f"{len(self._weights)} placed")

    # ------------------------------------------------------------------ a scheme's own
    @abc.abstractmethod
    def _added(self, node: str, weight: float) -> None:
        """``node`` joined (already in ``nodes``): rebuild what the lookups use."""

    @abc.abstractmethod
    def _removed(self, node: str) -> None:
        """``node`` left (already out of ``nodes``)."""

    @abc.abstractmethod
    def _owner(self, key: Key) -> str:
        """The owner of ``key`` (there is at least one node)."""

    @abc.abstractmethod
    def _preference(self, key: Key, n: int) -> list[str]:
        """``n`` distinct nodes for ``key``, the owner first (there are at least n)."""
