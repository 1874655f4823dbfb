"""Consistent hashing with bounded loads (Mirrokni, Thorup & Zadimoghaddam, SODA 2018):
no node above ``⌈(1+ε)·m/n⌉`` whatever happens, a clean refusal when the caps are too
small, and the plain ring when they never bind."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.common.errors import InvalidRequest
from protocols.hashing import SCHEMES
from protocols.hashing.bounded import BoundedLoads, NoCapacity
from protocols.hashing.ring import Ring

KEYS = [f"key-{i}" for i in range(3000)]


def bounded(nodes: list[str], epsilon: float = 0.25) -> BoundedLoads:
    placement = BoundedLoads(epsilon)
    for node in nodes:
        placement.add(node)
    return placement


def state(placement: BoundedLoads) -> object:
    return (list(placement.nodes.items()), dict(placement._assigned),
            {node: list(keys) for node, keys in placement._keys.items()})


def assert_within_caps(placement: BoundedLoads) -> None:
    loads = Counter(placement._assigned.values())
    assert sum(placement.load(node) for node in placement.nodes) == placement.m
    for node in placement.nodes:
        assert placement.load(node) == loads[node]
        assert placement.load(node) <= placement.cap(node), (node, placement.load(node),
                                                             placement.cap(node))


def test_registered() -> None:
    assert SCHEMES["bounded"] is BoundedLoads


def test_the_cap_is_the_ceiling_of_1_plus_epsilon_times_the_mean() -> None:
    placement = bounded(["a", "b", "c"], epsilon=0.1)
    for key in KEYS[:10]:
        placement.assign(key)
    assert placement.cap("a") == math.ceil(1.1 * 10 / 3) == 4
    weighted = BoundedLoads(0.5)
    weighted.add("light", 1)
    weighted.add("heavy", 3)
    for key in KEYS[:8]:
        weighted.assign(key)
    assert (weighted.cap("light"), weighted.cap("heavy")) == (3, 9)  # ⌈1.5·8·w/4⌉


OPS = st.lists(st.one_of(
    st.tuples(st.just("assign"), st.integers(0, 299)),
    st.tuples(st.just("release"), st.integers(0, 299)),
    st.tuples(st.just("add"), st.integers(0, 5)),
    st.tuples(st.just("remove"), st.integers(0, 5)),
), max_size=60)


@settings(max_examples=40, deadline=None)
@given(ops=OPS, epsilon=st.sampled_from([0, 0.1, 0.25, 1.0]),
       weights=st.lists(st.sampled_from([1, 1, 2, 0.5]), min_size=6, max_size=6))
def test_no_node_ever_holds_more_than_its_cap(ops: list[tuple[str, int]], epsilon: float,
                                              weights: list[float]) -> None:
    placement = bounded(["node-0", "node-1"], epsilon)
    for op, i in ops:
        if op == "assign" and placement.nodes:
            # a burst: caps bind only when keys crowd
            for key in KEYS[10 * i:10 * i + 10]:
                node = placement.assign(key)
                assert placement.node_for(key) == node  # remembered
        elif op == "release" and placement.m:
            placement.release(next(iter(placement._assigned)))
        elif op == "add" and f"node-{i}" not in placement.nodes:
            placement.add(f"node-{i}", weights[i])
        elif op == "remove" and f"node-{i}" in placement.nodes:
            placement.remove(f"node-{i}")
        assert_within_caps(placement)
        assert set(placement._assigned.values()) <= set(placement.nodes)


def test_a_hot_arc_overflows_clockwise_instead_of_piling_up() -> None:
    plain, capped = Ring(), bounded([f"node-{i}" for i in range(10)], epsilon=0.1)
    for i in range(10):
        plain.add(f"node-{i}")
    plain_loads = Counter(plain.node_for(k) for k in KEYS)
    for key in KEYS:
        capped.node_for(key)
    assert max(plain_loads.values()) > capped.cap("node-0")  # the ring alone exceeds it
    # ⌈1.1·3000/10⌉ = 330 exactly (in floats 1.1 * 3000 / 10 is 330.00000000000006)
    assert max(capped.load(n) for n in capped.nodes) <= capped.cap("node-0") == 330


def test_with_epsilon_large_it_is_the_plain_ring() -> None:
    plain, capped = Ring(), BoundedLoads(epsilon=100)
    for i in range(8):
        plain.add(f"node-{i}", 1 + i % 2)
        capped.add(f"node-{i}", 1 + i % 2)
    assert [capped.node_for(k) for k in KEYS] == [plain.node_for(k) for k in KEYS]
    for change in (lambda p: p.add("joiner"), lambda p: p.remove("node-3"),
                   lambda p: p.remove("node-6")):
        change(plain)
        change(capped)
        assert [capped.node_for(k) for k in KEYS] == [plain.node_for(k) for k in KEYS]
        assert [capped.nodes_for(k, 3) for k in KEYS[:200]] == [
            plain.nodes_for(k, 3) for k in KEYS[:200]]


def test_a_leave_moves_only_its_keys_and_a_join_only_to_it_or_off_full_nodes() -> None:
    placement = bounded([f"node-{i}" for i in range(6)], epsilon=0.1)
    before = {k: placement.node_for(k) for k in KEYS}
    placement.remove("node-2")
    after = {k: placement.node_for(k) for k in KEYS}
    assert all(after[k] == before[k] for k in KEYS if before[k] != "node-2")
    placement.add("joiner")
    joined = {k: placement.node_for(k) for k in KEYS}
    moved = [k for k in KEYS if joined[k] != after[k]]
    to_joiner = [k for k in moved if joined[k] == "joiner"]
    assert abs(len(to_joiner) - len(KEYS) / 6) < 0.5 * len(KEYS) / 6
    assert len(moved) - len(to_joiner) < 0.05 * len(KEYS)  # shed off nodes above the cap
    assert_within_caps(placement)


def test_release_forgets_a_key_and_an_unknown_key_is_refused() -> None:
    placement = bounded(["a", "b"])
    placement.assign("k")
    placement.release("k")
    assert placement.m == 0
    with pytest.raises(InvalidRequest, match="not placed"):
        placement.release("k")


def test_when_the_caps_sum_to_fewer_than_the_keys_it_refuses_and_changes_nothing() -> None:
    """ε < 0 (caps below the mean): 10 nodes of cap ⌈0.9·m/10⌉ hold 10 keys but not 11,
    where buraksezer/consistent would panic "not enough room to distribute partitions"."""
    placement = bounded([f"node-{i}" for i in range(10)], epsilon=-0.1)
    for key in KEYS[:10]:
        placement.assign(key)
    before = state(placement)
    with pytest.raises(NoCapacity, match=r"m=11 keys on n=10 nodes with ε=-0.1: "
                                         r"cap ⌈\(1\+ε\)·m/n⌉ = 1 each, 10 slots") as refused:
        placement.assign("one too many")
    assert (refused.value.epsilon, refused.value.m, refused.value.n) == (-0.1, 11, 10)
    assert isinstance(refused.value, InvalidRequest) and refused.value.refused
    assert state(placement) == before
    with pytest.raises(NoCapacity):  # 9 nodes: cap ⌈0.9·10/9⌉ = 1, 9 slots for 10 keys
        placement.remove("node-0")
    assert state(placement) == before
    with pytest.raises(NoCapacity):
        placement.node_for("one too many")
    assert state(placement) == before


def test_epsilon_at_or_above_zero_always_has_room() -> None:
    placement = bounded([f"node-{i}" for i in range(7)], epsilon=0)
    for key in KEYS[:500]:
        placement.assign(key)
    assert max(placement.load(n) for n in placement.nodes) == math.ceil(500 / 7)
    assert_within_caps(placement)


def test_epsilon_must_leave_caps_above_zero() -> None:
    with pytest.raises(InvalidRequest, match="above -1"):
        BoundedLoads(epsilon=-1)


def test_requests_as_balls_one_hot_key_spreads_clockwise_under_the_cap() -> None:
    """``key_hash`` places many names at one point: each request of a hot key is a ball
    (Vimeo's use). Its first balls go to the key's node, the rest overflow clockwise, and
    no node holds more than its cap: the hot key no longer makes one node hot."""
    from protocols.hashing.base import hash64

    def at_its_key(ball: str | bytes) -> int:
        name = ball.decode() if isinstance(ball, bytes) else ball
        return hash64(name.partition("#")[0])

    b = BoundedLoads(0.25, key_hash=at_its_key)
    plain = Ring()
    for n in "abcdefgh":
        b.add(n)
        plain.add(n)
    balls = [b.assign(f"hot#{i}") for i in range(80)]
    # the caps are 1 for the first 6 balls (⌈1.25·6/8⌉): the walk from the key's point
    assert balls[:6] == plain.nodes_for("hot", 6)
    owners = Counter(balls)
    assert max(owners.values()) <= math.ceil(1.25 * 80 / 8)  # the hot key spread out
