"""Active anti-entropy: hash trees that let two replicas find the keys on which they differ
without sending each other every key (issue #35), sans-IO.

Dynamo (DeCandia et al., "Dynamo: Amazon's Highly Available Key-value Store", SOSP 2007,
§4.7 "Handling permanent failures: Replica synchronization") keeps replicas in step with
Merkle trees: "leaves are hashes of the values of individual keys. Parent nodes higher in
the tree are hashes of their respective children." Two replicas compare the roots; where
a node's hashes agree the whole subtree is in sync and is skipped, where they differ the
replicas descend into its children, until they reach the leaves that hold the keys that
differ. The data exchanged is about the damage, not the size of the store.

Riak's Tictac AAE (Martin Sumner, riak_kv "tictacaae", 2017) keeps the shape and changes
the hash: a segment's hash is the XOR of the hashes of the keys in it, and a parent's the
XOR of its children. XOR is its own inverse and does not care about order, so

* a write updates the tree in O(depth): XOR the key's old hash out and its new hash in
  along the path from its segment to the root, without rehashing the segment;
* two trees built over disjoint parts of a store merge by XORing them node by node into
  the tree of the whole (Riak builds a vnode's tree from its partitions' trees this way).

A Merkle leaf has neither property: its hash is over the sorted contents of the segment,
so a write rehashes the whole segment (and the nodes above it). ``MerkleTree`` therefore
marks a written segment dirty and rehashes lazily, once, when a hash is read.

Both trees here have the same shape, ``segments = fanout ** depth`` leaves (Riak's is two
levels; any depth here, so that the two compare fairly), and the same read interface, so
the same ``Exchange`` runs over either. A key lands in segment ``segment_of(key)``; what a
tree stores for it is its *item hash*, ``item_hash(key, state)``, a hash of the key and of
its encoded version (a vector clock or a DVVSet: two replicas with the same version of a
key have the same item hash).

The exchange is sans-IO: ``Exchange.start`` and ``Exchange.on_answer`` return the next
``Ask`` to send to the other replica, which answers with ``answer(tree, ask)``, until a
``Done`` names the keys that differ. ``compare`` runs the dialogue in one process.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Self

import xxhash

__all__ = [
    "HEADER_BYTES",
    "MAX_SEGMENTS",
    "Answer",
    "AntiEntropyTree",
    "Ask",
    "Done",
    "Exchange",
    "MerkleTree",
    "TictacTree",
    "answer",
    "answer_size",
    "ask_size",
    "compare",
    "item_hash",
    "segment_of",
]

MAX_SEGMENTS = 1 << 20  # Riak's largest Tictac tree: 1024 x 1024 segments
_SEGMENT_SEED = 0x5E6
_ITEM_SEED = 0x17E
_HASH_MASK = (1 << 64) - 1


def _key_bytes(key: str) -> bytes:
    return key.encode()


def item_hash(key: str, state: bytes) -> int:
    """The 64-bit hash (xxh64) of a key at one version: what a tree stores for the key.

    The key is part of it (length-prefixed, so ``("ab", b"c")`` and ``("a", b"bc")``
    differ): two keys at the same version must not cancel out of a Tictac XOR."""
    k = _key_bytes(key)
    return xxhash.xxh64_intdigest(len(k).to_bytes(4, "big") + k + state, _ITEM_SEED)


def segment_of(key: str, segments: int) -> int:
    """The segment (leaf) that holds ``key``: a hash of the key alone, so every version of
    a key lands in the same segment on every replica."""
    if segments < 1:
        raise ValueError(f"a tree needs at least one segment, got {segments}")
    return xxhash.xxh64_intdigest(_key_bytes(key), _SEGMENT_SEED) % segments


class AntiEntropyTree:
    """What both trees share: the shape, the keys of every segment, and the reads the
    exchange uses. Level 0 is the root, level ``depth`` the segments; node ``i`` at level
    ``d`` has children ``i * fanout .. i * fanout + fanout - 1`` at level ``d + 1``.

    Subclasses say how a node is hashed (``_empty``) and what a write does to the hashes
    (``_changed``, ``_refresh``)."""

    def __init__(self, depth: int = 3, fanout: int = 16) -> None:
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
            raise ValueError(f"a tree needs depth >= 1 (the root above the segments), "
                             f"got depth={depth!r}")
        if isinstance(fanout, bool) or not isinstance(fanout, int) or fanout < 2:
            raise ValueError(f"a tree needs fanout >= 2 (a node with one child says "
                             f"nothing its child does not), got fanout={fanout!r}")
        if fanout ** depth > MAX_SEGMENTS:
            raise ValueError(f"fanout ** depth = {fanout}**{depth} = {fanout ** depth} "
                             f"segments, more than {MAX_SEGMENTS}")
        self.depth = depth
        self.fanout = fanout
        self.segments = fanout ** depth
        # segment -> key -> item hash; a segment with no keys has no entry
        self.keys: dict[int, dict[str, int]] = {}
        self._levels: list[list[int]] = []
        self.clear()

    @classmethod
    def from_items(cls, items: Mapping[str, int], depth: int = 3, fanout: int = 16) -> Self:
        """A tree over ``items`` (key -> item hash)."""
        tree = cls(depth, fanout)
        for key, h in items.items():
            tree.set(key, h)
        return tree

    # ------------------------------------------------------------------ writes
    def clear(self) -> None:
        """Forget every key: every node back to the hash of an empty subtree."""
        self.keys = {}
        self._levels = [[self._empty(d)] * self.fanout ** d for d in range(self.depth + 1)]

    def set(self, key: str, h: int) -> None:
        """Record that ``key`` is now at the version whose item hash is ``h``."""
        if not 0 <= h <= _HASH_MASK:
            raise ValueError(f"an item hash is a 64-bit unsigned int, got {h!r}")
        segment = segment_of(key, self.segments)
        items = self.keys.setdefault(segment, {})
        old = items.get(key)
        items[key] = h
        if old != h:
            self._changed(segment, old, h)

    def delete(self, key: str) -> None:
        """Forget ``key`` (nothing happens if the tree does not have it)."""
        segment = segment_of(key, self.segments)
        items = self.keys.get(segment)
        if items is None or key not in items:
            return
        old = items.pop(key)
        if not items:
            del self.keys[segment]
        self._changed(segment, old, None)

    def get(self, key: str) -> int | None:
        """The item hash recorded for ``key``, or None."""
        return self.keys.get(segment_of(key, self.segments), {}).get(key)

    # ------------------------------------------------------------------ reads
    def root(self) -> int:
        self._refresh()
        return self._levels[0][0]

    def level(self, d: int) -> tuple[int, ...]:
        """The hashes of every node at level ``d`` (0 = the root), left to right."""
        self._check_level(d)
        self._refresh()
        return tuple(self._levels[d])

    def hashes(self, level: int, indices: Iterable[int]) -> dict[int, int]:
        """The hashes of the nodes ``indices`` at ``level``, in the order given."""
        self._check_level(level)
        self._refresh()
        row = self._levels[level]
        out: dict[int, int] = {}
        for i in indices:
            self._check_index(level, i)
            out[i] = row[i]
        return out

    def children(self, level: int, index: int) -> range:
        """The indices, one level down, of the children of node ``index`` at ``level``."""
        self._check_level(level)
        if level == self.depth:
            raise ValueError(f"level {level} is the segments: a segment has no children")
        self._check_index(level, index)
        return range(index * self.fanout, (index + 1) * self.fanout)

    def leaf_items(self, segment: int) -> dict[str, int]:
        """The keys of one segment and their item hashes (a copy)."""
        self._check_index(self.depth, segment)
        return dict(self.keys.get(segment, {}))

    def __len__(self) -> int:
        return sum(len(items) for items in self.keys.values())

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(depth={self.depth}, fanout={self.fanout}, "
                f"keys={len(self)})")

    def _check_level(self, level: int) -> None:
        if not 0 <= level <= self.depth:
            raise ValueError(f"level {level} is outside the tree: levels are 0 (the root) "
                             f"to {self.depth} (the segments)")

    def _check_index(self, level: int, index: int) -> None:
        width = self.fanout ** level
        if not 0 <= index < width:
            raise ValueError(f"node {index} is outside level {level}, which has {width} "
                             f"node{'s' if width != 1 else ''}")

    # ------------------------------------------------------------------ hooks
    def _empty(self, level: int) -> int:
        """The hash of a node at ``level`` whose subtree holds no keys."""
        raise NotImplementedError

    def _changed(self, segment: int, old: int | None, new: int | None) -> None:
        """A key of ``segment`` went from item hash ``old`` to ``new`` (None: absent)."""
        raise NotImplementedError

    def _refresh(self) -> None:
        """Bring every hash up to date before a read (a no-op if writes already did)."""


def _leaf_hash(items: Mapping[str, int]) -> int:
    """A Merkle leaf: a hash over the segment's (key, item hash) pairs in key order, so the
    same keys give the same hash whatever order they were written in."""
    hasher = xxhash.xxh64()
    for key in sorted(items):
        k = _key_bytes(key)
        hasher.update(len(k).to_bytes(4, "big") + k + items[key].to_bytes(8, "big"))
    return hasher.intdigest()


def _node_hash(children: list[int]) -> int:
    """A Merkle interior node: the hash of its children's hashes, in order."""
    return xxhash.xxh64_intdigest(struct.pack(f">{len(children)}Q", *children))


class MerkleTree(AntiEntropyTree):
    """Dynamo's Merkle tree (§4.7): a leaf is a hash over its segment's sorted (key, item
    hash) pairs, an interior node the hash of its children's hashes.

    A write cannot patch a leaf in place (the leaf hashes the whole segment), so ``set``
    and ``delete`` only mark the segment dirty; the next read rehashes each dirty segment
    once, then the nodes on the paths above them, and nothing else."""

    def __init__(self, depth: int = 3, fanout: int = 16) -> None:
        self._dirty: set[int] = set()
        super().__init__(depth, fanout)

    def clear(self) -> None:
        self._dirty = set()
        super().clear()

    def _empty(self, level: int) -> int:
        h = _leaf_hash({})
        for _ in range(self.depth - level):
            h = _node_hash([h] * self.fanout)
        return h

    def _changed(self, segment: int, old: int | None, new: int | None) -> None:
        self._dirty.add(segment)

    def _refresh(self) -> None:
        if not self._dirty:
            return
        levels, fanout = self._levels, self.fanout
        nodes = self._dirty
        for s in nodes:
            levels[self.depth][s] = _leaf_hash(self.keys.get(s, {}))
        for d in range(self.depth - 1, -1, -1):
            nodes = {i // fanout for i in nodes}
            below = levels[d + 1]
            for i in nodes:
                levels[d][i] = _node_hash(below[i * fanout:(i + 1) * fanout])
        self._dirty = set()


class TictacTree(AntiEntropyTree):
    """Riak's Tictac tree: a segment's hash is the XOR of its keys' item hashes, a node's
    the XOR of its children's (so every node is the XOR of the item hashes below it, and
    an empty subtree is 0).

    A write XORs ``old ^ new`` into the segment and every node above it: O(depth), no
    segment rehashed. An item hash of 0 would be invisible; xxh64 gives one with
    probability 2**-64."""

    def _empty(self, level: int) -> int:
        return 0

    def _changed(self, segment: int, old: int | None, new: int | None) -> None:
        delta = (old or 0) ^ (new or 0)
        index = segment
        for d in range(self.depth, -1, -1):
            self._levels[d][index] ^= delta
            index //= self.fanout

    def merge(self, other: TictacTree) -> TictacTree:
        """The tree of the union of two trees over disjoint key sets: node by node XOR.

        The shapes must match; a key in both would cancel out of the XOR, so it is an
        error too."""
        if not isinstance(other, TictacTree):
            raise TypeError(f"only two Tictac trees merge, not a {type(other).__name__}")
        if (self.depth, self.fanout) != (other.depth, other.fanout):
            raise ValueError(f"cannot merge trees of different shapes: depth={self.depth}, "
                             f"fanout={self.fanout} and depth={other.depth}, "
                             f"fanout={other.fanout}")
        merged = TictacTree(self.depth, self.fanout)
        for segment in self.keys.keys() | other.keys.keys():
            mine, theirs = self.keys.get(segment, {}), other.keys.get(segment, {})
            both = mine.keys() & theirs.keys()
            if both:
                raise ValueError(f"cannot merge trees that share keys (their hashes would "
                                 f"cancel out): {sorted(both)[:3]}")
            merged.keys[segment] = {**mine, **theirs}
        merged._levels = [[a ^ b for a, b in zip(mine_row, their_row, strict=True)]
                          for mine_row, their_row in zip(self._levels, other._levels,
                                                         strict=True)]
        return merged


# ---------------------------------------------------------------------- the exchange

@dataclass(frozen=True)
class Ask:
    """To the other replica: "send me your hashes of these nodes at this level", or with
    ``keys`` (only at the segment level, ``depth``) "send me the (key, item hash) items
    of these segments"."""

    level: int
    indices: tuple[int, ...]
    keys: bool = False


@dataclass(frozen=True)
class Answer:
    """The other replica's reply to one ``Ask``: ``hashes`` (node -> hash) to a hash ask,
    ``items`` (segment -> key -> item hash) to a ``keys`` ask."""

    hashes: dict[int, int] = field(default_factory=dict)
    items: dict[int, dict[str, int]] = field(default_factory=dict)


@dataclass(frozen=True)
class Done:
    """What the exchange found: keys both have at different versions (``differ``), keys
    only the other replica has (``missing_here``), keys only this one has
    (``missing_there``); the round trips it took and the bytes it cost each way."""

    differ: tuple[str, ...]
    missing_here: tuple[str, ...]
    missing_there: tuple[str, ...]
    rounds: int
    bytes_sent: int
    bytes_received: int

    @property
    def keys(self) -> frozenset[str]:
        """Every key the replicas disagree on."""
        return frozenset(self.differ + self.missing_here + self.missing_there)


# The wire encoding the byte counts assume (the same for both trees): a message has an
# 8-byte header (kind, level, count); an ask names each node with a 4-byte index; an
# answer lists its entries in the order asked, so it carries no indices: 8 bytes per hash,
# or per segment a 4-byte count and then len(key) + 8 bytes per item (the key's UTF-8
# bytes and its item hash).
HEADER_BYTES = 8
INDEX_BYTES = 4
HASH_BYTES = 8
COUNT_BYTES = 4


def ask_size(ask: Ask) -> int:
    """The bytes ``ask`` takes on the wire."""
    return HEADER_BYTES + INDEX_BYTES * len(ask.indices)


def answer_size(answer: Answer) -> int:
    """The bytes ``answer`` takes on the wire."""
    size = HEADER_BYTES + HASH_BYTES * len(answer.hashes)
    for items in answer.items.values():
        size += COUNT_BYTES + sum(len(_key_bytes(k)) + HASH_BYTES for k in items)
    return size


def answer(tree: AntiEntropyTree, ask: Ask) -> Answer:
    """What the replica holding ``tree`` replies to ``ask``: a pure function of its tree."""
    if ask.keys:
        if ask.level != tree.depth:
            raise ValueError(f"items are asked of the segments (level {tree.depth}), "
                             f"not of level {ask.level}")
        return Answer(items={s: tree.leaf_items(s) for s in ask.indices})
    return Answer(hashes=tree.hashes(ask.level, ask.indices))


class Exchange:
    """One side of the comparison (§4.7): ask the other replica for the root; wherever its
    hashes differ from ours, ask for the children of those nodes only; at the segments,
    ask for the items of the segments that differ and compare them key by key.

    With no damage that is one round; with damage it is ``depth + 2`` rounds (the root,
    each level below it, then the items), and each round carries only the children of the
    nodes that differed. The local tree is read as the exchange goes: a write during it
    may be missed or reported, and the next exchange settles it."""

    def __init__(self, tree: AntiEntropyTree) -> None:
        self.tree = tree
        self._pending: Ask | None = None
        self._done: Done | None = None
        self._rounds = 0
        self._sent = 0
        self._received = 0

    def start(self) -> Ask:
        """The first message: the other replica's root."""
        if self._pending is not None or self._done is not None:
            raise ValueError("this exchange has already started")
        return self._send(Ask(level=0, indices=(0,)))

    def on_answer(self, answer: Answer) -> Ask | Done:
        """The other replica's answer to the last ask: the next ask, or the result."""
        ask = self._pending
        if ask is None:
            raise ValueError("no ask is outstanding: call start() first"
                             if self._done is None else "this exchange is done")
        got = answer.items if ask.keys else answer.hashes
        if list(got) != list(ask.indices):
            raise ValueError(f"the answer is not to the ask: asked for nodes "
                             f"{list(ask.indices)[:8]} at level {ask.level}, "
                             f"got {list(got)[:8]}")
        self._pending = None
        self._rounds += 1
        self._received += answer_size(answer)
        if ask.keys:
            return self._finish(ask.indices, answer.items)
        mine = self.tree.hashes(ask.level, ask.indices)
        differing = [i for i in ask.indices if mine[i] != answer.hashes[i]]
        if not differing:
            return self._finish((), {})
        if ask.level == self.tree.depth:
            return self._send(Ask(level=ask.level, indices=tuple(differing), keys=True))
        below = tuple(c for i in differing for c in self.tree.children(ask.level, i))
        return self._send(Ask(level=ask.level + 1, indices=below))

    def _send(self, ask: Ask) -> Ask:
        self._pending = ask
        self._sent += ask_size(ask)
        return ask

    def _finish(self, segments: tuple[int, ...],
                theirs_by_segment: Mapping[int, Mapping[str, int]]) -> Done:
        differ: list[str] = []
        missing_here: list[str] = []
        missing_there: list[str] = []
        for segment in segments:
            mine = self.tree.leaf_items(segment)
            theirs = theirs_by_segment[segment]
            for key in mine.keys() | theirs.keys():
                if key not in mine:
                    missing_here.append(key)
                elif key not in theirs:
                    missing_there.append(key)
                elif mine[key] != theirs[key]:
                    differ.append(key)
        self._done = Done(tuple(sorted(differ)), tuple(sorted(missing_here)),
                          tuple(sorted(missing_there)), self._rounds, self._sent,
                          self._received)
        return self._done


def compare(local: AntiEntropyTree, remote: AntiEntropyTree) -> Done:
    """Run the exchange between two trees in one process (tests, benchmarks)."""
    if type(local) is not type(remote):
        raise ValueError(f"both replicas must keep the same kind of tree, not "
                         f"{type(local).__name__} and {type(remote).__name__}")
    if (local.depth, local.fanout) != (remote.depth, remote.fanout):
        raise ValueError(f"both trees must have the same shape: depth={local.depth}, "
                         f"fanout={local.fanout} and depth={remote.depth}, "
                         f"fanout={remote.fanout}")
    exchange = Exchange(local)
    message: Ask | Done = exchange.start()
    while isinstance(message, Ask):
        message = exchange.on_answer(answer(remote, message))
    return message
