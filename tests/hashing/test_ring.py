"""The ring (Karger et al. 1997; Dynamo §4.2-4.3), and its ketama mode checked bit for bit
against the ``uhashring`` package (``HashRing(hash_fn="ketama")``)."""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter

import pytest
from uhashring import HashRing

from protocols.common.errors import InvalidRequest
from protocols.hashing import SCHEMES, hash64
from protocols.hashing.ring import Ketama, Ring, ketama_hash

KEYS = [f"key-{i}" for i in range(10_000)]


def ketama_pair(nodes: dict[str, int]) -> tuple[Ring, HashRing]:
    ours = Ring(ketama=True)
    for node, weight in nodes.items():
        ours.add(node, weight)
    return ours, HashRing(nodes=dict(nodes), hash_fn="ketama")


def assert_same(ours: Ring, theirs: HashRing, keys: list[str] = KEYS) -> None:
    assert [ours.node_for(k) for k in keys] == [theirs.get_node(k) for k in keys]
    n = min(3, len(ours.nodes))
    assert [ours.nodes_for(k, n) for k in keys[:2000]] == [
        [c["nodename"] for c in theirs.range(k, size=n)] for k in keys[:2000]]


# ====================================================================== ketama == uhashring
@pytest.mark.parametrize("nodes", [
    {"a": 1},
    {"a": 1, "b": 1, "c": 1},
    {f"cache-{i}.example.com:11211": 1 for i in range(10)},
    {"a": 1, "b": 2, "c": 5},
    {"small": 1, "big": 7, "mid": 3, "x": 2},
])
def test_ketama_maps_every_key_as_uhashring_does(nodes: dict[str, int]) -> None:
    assert_same(*ketama_pair(nodes))


def test_ketama_follows_uhashring_through_adds_and_removes() -> None:
    ours, theirs = ketama_pair({"a": 1, "b": 2, "c": 1, "d": 3})
    steps: list[tuple[str, str, int]] = [("add", "e", 2), ("remove", "b", 0),
                                         ("add", "b", 1), ("remove", "a", 0), ("add", "f", 1)]
    for op, node, weight in steps:
        if op == "add":
            ours.add(node, weight)
            theirs.add_node(node, {"weight": weight})
        else:
            ours.remove(node)
            theirs.remove_node(node)
        assert_same(ours, theirs, KEYS[:4000])
    assert list(ours.nodes) == list(theirs.get_nodes())


def test_ketama_hashes_keys_and_places_points_as_uhashring() -> None:
    ours, theirs = ketama_pair({"a": 1, "b": 3})
    assert ours._points == sorted(set(theirs.runtime._keys))
    assert all(ketama_hash(k) == theirs.hashi(k) for k in KEYS[:1000])


def test_ketama_weights_are_relative_so_a_leave_moves_keys_between_nodes_that_stay() -> None:
    """The price of uhashring's ``vnodes * N * weight // total``: when weights differ, each
    node's number of points depends on the others (a known weakness, kept: it is ketama)."""
    ours, theirs = ketama_pair({"a": 1, "b": 2, "c": 4})
    before = [ours.node_for(k) for k in KEYS]
    ours.remove("c")
    theirs.remove_node("c")
    after = [ours.node_for(k) for k in KEYS]
    assert after == [theirs.get_node(k) for k in KEYS]
    assert any(b != a and b != "c" for b, a in zip(before, after, strict=True))


def test_a_ketama_node_whose_share_rounds_to_no_point_gets_no_keys_but_ends_lists() -> None:
    ours, theirs = ketama_pair({"a": 100, "b": 1})  # b: 40 * 2 * 1 // 101 == 0 digests
    assert {ours.node_for(k) for k in KEYS[:1000]} == {"a"}
    assert {theirs.get_node(k) for k in KEYS[:1000]} == {"a"}
    assert ours.nodes_for("k", 2) == ["a", "b"]


def test_ketama_is_registered_as_its_own_scheme() -> None:
    assert SCHEMES["ketama"] is Ketama and SCHEMES["ring"] is Ring
    assert Ketama().ketama and Ketama.name == "ketama"


# ====================================================================== the ring itself
def test_a_node_has_vnodes_times_weight_points() -> None:
    ring = Ring(vnodes=10)
    ring.add("a")
    ring.add("b", 2.5)
    assert Counter(ring._owners[:-1]) == {"a": 10, "b": 25}
    assert sorted(p for p, n in ring._circle if n == "a") == sorted(
        hash64("a", seed=i) for i in range(10))


def test_a_key_belongs_to_the_first_point_strictly_clockwise_wrapping_at_the_top() -> None:
    ring = Ring(vnodes=4)
    for node in ("a", "b", "c"):
        ring.add(node)
    for key in KEYS[:500]:
        i = bisect_right(ring._points, hash64(key))
        assert ring.node_for(key) == ring._circle[i % len(ring._circle)][1]
    top, last = ring._circle[-1], ring._circle[0]
    ring._hash = lambda key: top[0]  # a key exactly on the last point wraps to the first
    assert ring.node_for("any") == last[1]


def test_a_preference_list_walks_clockwise_skipping_nodes_already_chosen() -> None:
    ring = Ring(vnodes=8)
    for node in "abcde":
        ring.add(node)
    for key in KEYS[:300]:
        start = bisect_right(ring._points, hash64(key))
        walk = [ring._circle[(start + s) % len(ring._circle)][1]
                for s in range(len(ring._circle))]
        assert ring.nodes_for(key, 5) == list(dict.fromkeys(walk))
        assert ring.nodes_for(key, 3) == ring.nodes_for(key, 5)[:3]


def test_str_and_bytes_keys_are_the_same_key() -> None:
    for ring in (Ring(), Ring(ketama=True)):
        for node in "abc":
            ring.add(node)
        assert all(ring.node_for(k) == ring.node_for(k.encode()) for k in KEYS[:200])


@pytest.mark.parametrize(("vnodes", "ketama"), [(0, False), (-1, False), (10, True)])
def test_a_bad_vnodes_is_refused(vnodes: int, ketama: bool) -> None:
    with pytest.raises(InvalidRequest, match="vnodes"):
        Ring(vnodes, ketama=ketama)


def test_arcs_cut_the_circle_at_every_point_and_name_the_keys_owners() -> None:
    """``Ring.arcs(n)``: one arc per point, the arcs tile the circle, and a key landing in
    an arc has that arc's owners as its preference list."""
    from protocols.hashing.base import hash64

    ring = Ring(vnodes=8)
    for node in ("a", "b", "c", "d"):
        ring.add(node)
    arcs = ring.arcs(3)
    assert len(arcs) == 32
    assert sum((end - start) % 2**64 for start, end, _ in arcs) == 2**64
    found = 0
    for i in range(300):
        key = f"key{i}"
        h = hash64(key)
        for start, end, owners in arcs:
            if (h - start) % 2**64 < (end - start) % 2**64:
                assert ring.nodes_for(key, 3) == owners
                found += 1
    assert found == 300
