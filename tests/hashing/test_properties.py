"""What every placement scheme in ``SCHEMES`` must do, checked on each of them: a scheme
registered there is checked here without editing this file.

* every key maps to a live node, and ``nodes_for(key, n)`` is ``n`` distinct live nodes,
  the owner first;
* a refused call (``InvalidRequest``) changes nothing: the same nodes, the same owners,
  the same preference lists;
* removing a node moves only the keys it owned;
* adding the (n+1)-th node moves about ``1/(n+1)`` of the keys, all of them to it;
* weights, for a scheme that takes them, give proportionally more keys.

A scheme may refuse a valid call only for a limit its paper has, declared in ``LIMITS``;
a scheme that is not minimal-movement by design declares how many keys it may move
between nodes that stayed in ``BYSTANDER_MOVES``; the statistical tolerances are
``JOIN_TOLERANCE`` and ``WEIGHT_TOLERANCE`` (relative to the ideal share, for 10 000
keys), per scheme where one needs its own.
"""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.common.errors import InvalidRequest
from protocols.hashing import SCHEMES, Placement

NAMES = sorted(SCHEMES)
KEYS = [f"key-{i}" for i in range(10_000)]

# valid calls a scheme may refuse, by its paper's limits: "weights" (every node has the
# same share: a weight other than 1 is refused), "remove-last-only" (only the node added
# last can leave)
LIMITS: dict[str, set[str]] = {"jump": {"weights", "remove-last-only"}}
# fraction of all keys a scheme may move between nodes that did not join or leave
# (maglev: "minimal disruption", not minimal; its paper's 1% of the hash space)
BYSTANDER_MOVES: dict[str, float] = {"maglev": 0.01}
# |moved - 1/(n+1)| / (1/(n+1)) allowed when the (n+1)-th node joins; default 0.5
JOIN_TOLERANCE: dict[str, float] = {}
# |share - w/W| / (w/W) allowed for each node of weights 1, 2, 3; default 0.25
WEIGHT_TOLERANCE: dict[str, float] = {}


def scheme(name: str, nodes: list[str] | tuple[str, ...] = ()) -> Placement:
    placement = SCHEMES[name]()  # every scheme constructs with its defaults
    for node in nodes:
        placement.add(node)
    return placement


def owners(placement: Placement, keys: list[str]) -> list[str]:
    return [placement.node_for(k) for k in keys]


def moved(before: list[str], after: list[str]) -> list[int]:
    return [i for i, (b, a) in enumerate(zip(before, after, strict=True)) if b != a]


@pytest.mark.parametrize("name", NAMES)
def test_a_scheme_is_registered_under_its_name(name: str) -> None:
    assert SCHEMES[name].name == name


# ====================================================================== exact properties
def snapshot(placement: Placement, keys: list[str]) -> object:
    n = len(placement.nodes)
    return (list(placement.nodes.items()),
            owners(placement, keys) if n else [],
            [placement.nodes_for(k, n) for k in keys] if n else [])


def check_lookups(placement: Placement, keys: list[str]) -> None:
    live = set(placement.nodes)
    n = len(live)
    if not n:
        with pytest.raises(InvalidRequest):
            placement.node_for(keys[0])
        return
    for key in keys:
        owner = placement.node_for(key)
        assert owner in live
        for m in {1, min(2, n), n}:
            preference = placement.nodes_for(key, m)
            assert len(preference) == m and len(set(preference)) == m, preference
            assert preference[0] == owner and set(preference) <= live
    for bad in (0, n + 1):
        with pytest.raises(InvalidRequest):
            placement.nodes_for(keys[0], bad)


OPS = st.lists(st.one_of(
    st.tuples(st.just("add"), st.integers(0, 7), st.sampled_from([1, 1, 1, 2, 0.5, 0, -1])),
    st.tuples(st.just("remove"), st.integers(0, 7), st.just(1)),
), max_size=14)
SAMPLE = st.lists(st.text(max_size=12) | st.binary(max_size=12).map(bytes.hex),
                  min_size=1, max_size=40)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=25, deadline=None)
@given(ops=OPS, keys=SAMPLE)
def test_any_calls_keep_keys_on_live_nodes_and_refusals_change_nothing(
        name: str, ops: list[tuple[str, int, float]], keys: list[str]) -> None:
    placement = scheme(name)
    added: list[str] = []  # nodes in the order they joined
    for op, i, weight in ops:
        node = f"node-{i}"
        valid = (node not in placement.nodes and weight > 0) if op == "add" \
            else node in placement.nodes
        before = snapshot(placement, keys)
        try:
            if op == "add":
                placement.add(node, weight)
            else:
                placement.remove(node)
        except InvalidRequest:
            assert snapshot(placement, keys) == before, f"refused {op} {node} changed it"
            limits = LIMITS.get(name, set())
            assert not valid or (op == "add" and weight != 1 and "weights" in limits) or (
                op == "remove" and "remove-last-only" in limits and node != added[-1]), \
                f"{name} refused a valid {op} of {node} (weight {weight})"
        else:
            assert valid, f"{name} accepted an invalid {op} of {node} (weight {weight})"
            (added.append if op == "add" else added.remove)(node)
        assert list(placement.nodes) == added
        check_lookups(placement, keys)


@pytest.mark.parametrize("name", NAMES)
@settings(max_examples=15, deadline=None)
@given(nodes=st.lists(st.text(min_size=1, max_size=10), min_size=2, max_size=10,
                      unique=True),
       data=st.data())
def test_removing_a_node_moves_only_the_keys_it_owned(name: str, nodes: list[str],
                                                      data: st.DataObject) -> None:
    placement = scheme(name, nodes)
    keys = KEYS[:1000]
    before = owners(placement, keys)
    leaving = data.draw(st.sampled_from(nodes), label="leaving")
    try:
        placement.remove(leaving)
    except InvalidRequest:  # a scheme that shrinks only from the end (LIMITS)
        assert "remove-last-only" in LIMITS.get(name, set())
        leaving = nodes[-1]
        placement.remove(leaving)
    after = owners(placement, keys)
    assert leaving not in after
    bystanders = [i for i in moved(before, after) if before[i] != leaving]
    assert len(bystanders) <= BYSTANDER_MOVES.get(name, 0.0) * len(keys), \
        f"{len(bystanders)} keys moved between nodes that stayed"


# ====================================================================== statistics
@pytest.mark.parametrize("n", [3, 9])
@pytest.mark.parametrize("name", NAMES)
def test_adding_a_node_moves_about_its_share_and_only_to_it(name: str, n: int) -> None:
    placement = scheme(name, [f"node-{i}" for i in range(n)])
    before = owners(placement, KEYS)
    placement.add("joiner")
    after = owners(placement, KEYS)
    changed = moved(before, after)
    ideal, tolerance = len(KEYS) / (n + 1), JOIN_TOLERANCE.get(name, 0.5)
    assert abs(len(changed) - ideal) <= tolerance * ideal, (len(changed), ideal)
    elsewhere = [i for i in changed if after[i] != "joiner"]
    assert len(elsewhere) <= BYSTANDER_MOVES.get(name, 0.0) * len(KEYS)


@pytest.mark.parametrize("name", NAMES)
def test_weights_give_proportionally_more_keys(name: str) -> None:
    placement = scheme(name)
    weights = {"light": 1, "medium": 2, "heavy": 3}
    try:
        placement.add("medium", 2)
    except InvalidRequest:
        assert "weights" in LIMITS.get(name, set()) and not placement.nodes
        pytest.skip(f"{name} takes no weights")
    placement.add("light", 1)
    placement.add("heavy", 3)
    shares = Counter(owners(placement, KEYS))
    tolerance = WEIGHT_TOLERANCE.get(name, 0.25)
    for node, weight in weights.items():
        ideal = len(KEYS) * weight / sum(weights.values())
        assert abs(shares[node] - ideal) <= tolerance * ideal, (node, shares, ideal)
