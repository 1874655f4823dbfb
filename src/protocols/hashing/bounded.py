"""Consistent hashing with bounded loads: a ring where no node takes more than its cap.

Mirrokni, Thorup & Zadimoghaddam, "Consistent Hashing with Bounded Loads", SODA 2018;
Vimeo's write-up and HAProxy patch (Rodland, 2016). Keys ("balls") are placed one at a
time on a ring of nodes ("bins"); with ``m`` keys placed on ``n`` nodes, a node's
*capacity* is ``⌈(1+ε)·m/n⌉`` (``⌈(1+ε)·m·w/W⌉`` for a node of weight ``w`` out of ``W``).
A key goes to the first node clockwise from its hash that is *under* capacity, and stays
there: no node ever holds more than ``(1+ε)`` times the mean, rounded up, whatever the
hash does (a plain ring's busiest node can hold several times the mean).

Because a key's node depends on which nodes were full when it came, the placement
*remembers* it: ``assign(key)`` places a key (counting it in ``m``) and returns its node,
``release(key)`` forgets it, and ``node_for(key)`` is the node ``key`` is assigned to,
assigning it first if it is new. Asking again always gives the same answer until the
membership changes or a release makes room scarcer.

What "moves" means here: a key moves when ``node_for(key)`` changes. Only these move it:

* ``remove(node)``: the node's keys, each to the first node clockwise with room, in the
  order they were assigned. Nothing else moves: caps only grow when a node leaves.
* ``add(node)``: the keys whose clockwise walk now reaches the new node before their
  own, while it has room (the keys a plain ring would move, and keys that had overflowed
  past it); then every node above the new, smaller cap sheds its newest keys clockwise.
* ``release(key)``: ``m`` drops, so the caps may drop: a node above its cap sheds its
  newest keys clockwise.

Keys that overflowed past a full node do not come back when it has room again: the
placement stays sticky, trading some balance of history for fewer moves (MTZ bound the
expected moves of an update within a factor O(1/ε²) of the fewest possible). With ``ε``
large enough that no cap binds, every key sits on its ring successor: it is then exactly
``Ring`` (scheme 1, whose circle of ``vnodes * weight`` points it extends), and
``preferred(key)`` is that ring's answer whatever the caps.

No room: for ``ε ≥ 0`` there is always room, since the caps sum to at least
``(1+ε)·m ≥ m`` (each is a ceiling). ``ε < 0`` (caps below the mean, ``-1 < ε``) is
accepted to show what happens when they are too small — buraksezer/consistent panics
with "not enough room to distribute partitions" (its cap floors ``m/n`` first, so even
load 1.0 can fall short): here every change that would leave the caps summing to less
than ``m`` raises ``NoCapacity`` and changes nothing.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Callable, Iterator, Mapping
from fractions import Fraction

from protocols.common.errors import InvalidRequest
from protocols.hashing.base import Key, as_bytes
from protocols.hashing.ring import Ring

__all__ = ["DEFAULT_EPSILON", "BoundedLoads", "NoCapacity"]

DEFAULT_EPSILON = 0.25  # Vimeo's balance factor c = 1.25


class NoCapacity(InvalidRequest):
    """The caps sum to fewer slots than there are keys: no node has room for the next."""

    def __init__(self, epsilon: float, m: int, caps: Mapping[str, int]) -> None:
        self.epsilon, self.m, self.n = epsilon, m, len(caps)
        self.caps = dict(caps)
        values = set(caps.values())
        cap = (f"cap ⌈(1+ε)·m/n⌉ = {values.pop()} each" if len(values) == 1
               else f"caps {min(caps.values())}..{max(caps.values())} by weight")
        super().__init__(
            f"bounded: no room for m={m} keys on n={self.n} nodes with ε={epsilon}: "
            f"{cap}, {sum(caps.values())} slots in all; nothing was changed "
            f"(ε >= 0 always has room)")


class BoundedLoads(Ring):
    """A ring with per-node caps ``⌈(1+ε)·m/n⌉``; keys are remembered where placed."""

    name = "bounded"

    def __init__(self, epsilon: float = DEFAULT_EPSILON, vnodes: int = 160, *,
                 key_hash: Callable[[Key], int] | None = None) -> None:
        if not epsilon > -1:
            raise InvalidRequest(f"bounded: ε must be above -1 (caps above 0), got {epsilon}")
        super().__init__(vnodes, key_hash=key_hash)
        self.epsilon = epsilon
        self._c = 1 + Fraction(str(epsilon))  # exact: ⌈1.1·10⌉ is 11, not 12
        self._share: dict[str, Fraction] = {}  # w / W per node
        self._assigned: dict[bytes, str] = {}  # key -> node, in the order first assigned
        self._keys: dict[str, dict[bytes, None]] = {}  # node -> its keys, oldest first

    # ------------------------------------------------------------------ caps
    @property
    def m(self) -> int:
        """The number of keys placed."""
        return len(self._assigned)

    def load(self, node: str) -> int:
        return len(self._keys[node])

    def cap(self, node: str, m: int | None = None) -> int:
        """``⌈(1+ε)·m·w/W⌉``: the most keys ``node`` may hold with ``m`` placed (default: now)."""
        return math.ceil(self._c * (self.m if m is None else m) * self._share[node])

    def _caps(self, m: int, weights: Mapping[str, float]) -> dict[str, int]:
        total = sum(Fraction(str(w)) for w in weights.values())
        return {node: math.ceil(self._c * m * Fraction(str(w)) / total)
                for node, w in weights.items()}

    def _need_room(self, m: int, weights: Mapping[str, float]) -> None:
        """Refuse (``NoCapacity``) a change after which ``m`` keys would not fit."""
        if self._c >= 1 or m == 0 or not weights:
            return  # caps sum to >= (1+ε)·m >= m: always room
        caps = self._caps(m, weights)
        if sum(caps.values()) < m:
            raise NoCapacity(self.epsilon, m, caps)

    # ------------------------------------------------------------------ keys
    def assign(self, key: Key) -> str:
        """Place ``key`` on the first node clockwise under its cap (counting ``key`` in ``m``);
        a key already placed keeps its node."""
        self._need(1)
        k = as_bytes(key)
        node = self._assigned.get(k)
        if node is not None:
            return node
        self._need_room(self.m + 1, self.nodes)
        node = self._first_with_room(k, self.m + 1)
        self._put(k, node)
        return node

    def release(self, key: Key) -> None:
        """Forget ``key``; with ``m`` smaller, a node above its new cap sheds keys."""
        k = as_bytes(key)
        if k not in self._assigned:
            raise InvalidRequest(f"bounded: key {key!r} is not placed")
        self._need_room(self.m - 1, self.nodes)
        self._take(k)
        self._shed()

    def preferred(self, key: Key) -> str:
        """The key's node on the plain ring, caps aside."""
        self._need(1)
        return super()._owner(key)

    # ------------------------------------------------------------------ membership
    def add(self, node: str, weight: float = 1) -> None:
        if node and node not in self.nodes and weight > 0:  # else the base refuses it
            self._need_room(self.m, {**self.nodes, node: weight})
        super().add(node, weight)

    def remove(self, node: str) -> None:
        if node in self.nodes:
            rest = {other: w for other, w in self.nodes.items() if other != node}
            if rest:
                self._need_room(self.m, rest)
        super().remove(node)

    def _added(self, node: str, weight: float) -> None:
        super()._added(node, weight)
        self._keys[node] = {}
        self._shares()
        for k, owner in list(self._assigned.items()):
            if self.load(node) >= self.cap(node):
                break
            for other in self._clockwise(k):
                if other == owner:
                    break  # its own node comes first: it stays
                if other == node:
                    self._take(k)
                    self._put(k, node)
                    break
        self._shed()

    def _removed(self, node: str) -> None:
        super()._removed(node)
        orphans = list(self._keys.pop(node))
        self._shares()
        for k in orphans:
            del self._assigned[k]
        if not self.nodes:
            return  # the last node left: its keys have nowhere to go and are forgotten
        m = self.m + len(orphans)
        for k in orphans:
            self._put(k, self._first_with_room(k, m))

    # ------------------------------------------------------------------ the ring
    def _shares(self) -> None:
        total = sum(Fraction(str(w)) for w in self.nodes.values())
        self._share = {node: Fraction(str(w)) / total for node, w in self.nodes.items()}

    def _clockwise(self, k: bytes) -> Iterator[str]:
        """The nodes of the ring's points from ``k`` on clockwise, once round (the first is
        ``Ring``'s owner of ``k``)."""
        start = bisect_right(self._points, self._hash(k))
        count = len(self._points)
        for step in range(count):
            yield self._owners[(start + step) % count]

    def _first_with_room(self, k: bytes, m: int) -> str:
        for node in self._clockwise(k):
            if self.load(node) < self.cap(node, m):
                return node
        raise AssertionError(f"bounded: no room for {k!r} after the room was checked")

    def _put(self, k: bytes, node: str) -> None:
        self._assigned[k] = node
        self._keys[node][k] = None

    def _take(self, k: bytes) -> None:
        del self._keys[self._assigned.pop(k)][k]

    def _shed(self) -> None:
        """Every node above its cap moves its newest keys to the first node clockwise with
        room (the caps sum to at least ``m``, so the excess always fits)."""
        for node in sorted(self._keys):
            while self.load(node) > self.cap(node):
                k = next(reversed(self._keys[node]))
                self._take(k)
                self._put(k, self._first_with_room(k, self.m + 1))

    # ------------------------------------------------------------------ lookups
    def _owner(self, key: Key) -> str:
        return self._assigned.get(as_bytes(key)) or self.assign(key)

    def _preference(self, key: Key, n: int) -> list[str]:
        chosen = [self._owner(key)]
        for node in self._clockwise(as_bytes(key)):
            if len(chosen) == n:
                break
            if node not in chosen:
                chosen.append(node)
        return chosen
