"""Rendezvous hashing (Thaler & Ravishankar 1998), weighted by the logarithmic method
(Schindelhauer & Schomaker 2005).

Against the ``clandestined`` package: its ``RendezvousHash`` scores ``murmur3_32("{node}-
{key}")``, 32 bits, where ours scores xxHash64 seeded with the node, so the default
schemes cannot agree key for key. With clandestined's hash given to ours
(``Rendezvous(hash=..., bits=32)``) they agree exactly: the same rule, highest score
wins, ties to the larger name. With the default hash, both are compared on what matters:
balance, and minimal movement on a leave and a join.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest
import xxhash
from clandestined import murmur3
from clandestined.clandestined import RendezvousHash

from protocols.hashing import hash64
from protocols.hashing.rendezvous import Rendezvous, weighted_score

KEYS = [f"key-{i}" for i in range(10_000)]


def murmur(node: str, key: bytes) -> int:
    """clandestined's score: MurmurHash3 (32 bits) of ``"{node}-{key}"``, seed 0."""
    return int(murmur3.murmur3_32(f"{node}-{key.decode()}", 0))


def rendezvous(nodes: list[str], **options: object) -> Rendezvous:
    placement = Rendezvous(**options)  # type: ignore[arg-type]
    for node in nodes:
        placement.add(node)
    return placement


# ====================================================================== == clandestined
@pytest.mark.parametrize("nodes", [["a"], ["a", "b", "c"], [f"10.0.0.{i}" for i in range(12)]])
def test_with_clandestineds_hash_every_key_goes_where_clandestined_puts_it(
        nodes: list[str]) -> None:
    ours, theirs = rendezvous(nodes, hash=murmur, bits=32), RendezvousHash(nodes=list(nodes))
    assert [ours.node_for(k) for k in KEYS] == [theirs.find_node(k) for k in KEYS]


def test_with_clandestineds_hash_adds_and_removes_agree_too() -> None:
    ours, theirs = rendezvous(["a", "b", "c"], hash=murmur, bits=32), RendezvousHash()
    for node in ("a", "b", "c"):
        theirs.add_node(node)
    for op, node in [("add", "d"), ("remove", "b"), ("add", "e"), ("remove", "a")]:
        getattr(ours, op)(node)
        getattr(theirs, f"{op}_node")(node)
        assert [ours.node_for(k) for k in KEYS[:3000]] == [
            theirs.find_node(k) for k in KEYS[:3000]]


# ====================================================================== ~ clandestined
class Clandestined:
    """clandestined's ``RendezvousHash`` behind our names, to measure it the same way."""

    def __init__(self, nodes: list[str]) -> None:
        self.ring = RendezvousHash(nodes=list(nodes))

    def node_for(self, key: str) -> str:
        return str(self.ring.find_node(key))

    def add(self, node: str) -> None:
        self.ring.add_node(node)

    def remove(self, node: str) -> None:
        self.ring.remove_node(node)


@pytest.mark.parametrize("make", [rendezvous, Clandestined], ids=["ours", "clandestined"])
def test_balance_and_minimal_movement_match_clandestineds(make: type[Clandestined]) -> None:
    nodes = [f"node-{i}" for i in range(8)]
    placement = make(nodes)
    before = [placement.node_for(k) for k in KEYS]
    shares = Counter(before)
    # 1250 keys each, sigma ~33: three sigmas either side is a ratio of ~1.17
    assert max(shares.values()) / min(shares.values()) < 1.25, shares
    placement.remove("node-3")
    left = [placement.node_for(k) for k in KEYS]
    assert all(b == a for b, a in zip(before, left, strict=True) if b != "node-3")
    placement.add("node-8")
    joined = [placement.node_for(k) for k in KEYS]
    changed = [a for b, a in zip(left, joined, strict=True) if b != a]
    assert set(changed) == {"node-8"} and abs(len(changed) - len(KEYS) / 8) < len(KEYS) / 40


# ====================================================================== the scores
def test_with_equal_weights_the_highest_hash_wins() -> None:
    placement = rendezvous(["a", "b", "c", "d"])
    for key in KEYS[:1000]:
        scores = {n: xxhash.xxh64_intdigest(key.encode(), hash64(n)) for n in "abcd"}
        assert placement.node_for(key) == max(scores, key=scores.__getitem__)
        assert placement.nodes_for(key, 4) == sorted(scores, key=scores.__getitem__,
                                                     reverse=True)


def test_the_logarithmic_score_orders_like_the_hash_when_weights_are_equal() -> None:
    placement = rendezvous(["a", "b", "c", "d"])
    for key in KEYS[:1000]:
        weighted = max("abcd", key=lambda n: weighted_score(
            xxhash.xxh64_intdigest(key.encode(), hash64(n)), 1.0))
        assert placement.node_for(key) == weighted


def test_the_score_is_finite_at_both_ends_of_the_hash() -> None:
    for bits in (32, 64):
        low, high = weighted_score(0, 1.0, bits), weighted_score(2**bits - 1, 1.0, bits)
        assert 0 < low < high < math.inf
    assert weighted_score(2**63, 3.0) == pytest.approx(3 * weighted_score(2**63, 1.0))


def test_a_weighted_leave_moves_only_the_leavers_keys() -> None:
    """Unlike ketama's relative weights, a node's score does not depend on the others'."""
    placement = Rendezvous()
    for node, weight in {"a": 1, "b": 2, "c": 4, "d": 0.5}.items():
        placement.add(node, weight)
    before = [placement.node_for(k) for k in KEYS[:3000]]
    placement.remove("c")
    after = [placement.node_for(k) for k in KEYS[:3000]]
    assert all(b == a for b, a in zip(before, after, strict=True) if b != "c")
    assert Counter(before)["c"] > Counter(before)["b"] > Counter(before)["a"]


def test_ties_go_to_the_larger_node_name() -> None:
    placement = rendezvous(["a", "c", "b"], hash=lambda node, key: 7, bits=8)
    assert placement.node_for("k") == "c"
    assert placement.nodes_for("k", 3) == ["c", "b", "a"]
