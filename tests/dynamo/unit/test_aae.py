"""Anti-entropy trees (Dynamo §4.7's Merkle tree, Riak's Tictac tree) and the exchange that
finds the keys two replicas differ on: the hashes, the incremental and lazy updates, the
merge, exactly the differing keys found, what it costs on the wire, and bad input."""

from __future__ import annotations

import itertools
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.dynamo.aae import (
    HEADER_BYTES,
    Answer,
    AntiEntropyTree,
    Ask,
    Done,
    Exchange,
    MerkleTree,
    TictacTree,
    answer,
    answer_size,
    ask_size,
    compare,
    item_hash,
    segment_of,
)

TREES: list[type[AntiEntropyTree]] = [MerkleTree, TictacTree]
SHAPES = [(1, 2), (1, 16), (2, 4), (3, 16), (4, 2)]


def hashed(store: dict[str, bytes]) -> dict[str, int]:
    return {k: item_hash(k, v) for k, v in store.items()}


def big_store(n: int = 10_000) -> dict[str, int]:
    return {f"key-{i:05d}": item_hash(f"key-{i:05d}", b"v1") for i in range(n)}


def damage(items: dict[str, int], fraction: float, seed: int = 1) -> dict[str, int]:
    """A copy of ``items`` with ``fraction`` of its keys at a new version."""
    rng = random.Random(seed)
    out = dict(items)
    for k in rng.sample(sorted(items), int(len(items) * fraction)):
        out[k] = item_hash(k, b"v2")
    return out


def dialogue(local: AntiEntropyTree,
             remote: AntiEntropyTree) -> tuple[Done, list[tuple[Ask, Answer]]]:
    """``compare``, by hand: the result and every (ask, answer) on the wire."""
    exchange = Exchange(local)
    wire: list[tuple[Ask, Answer]] = []
    message: Ask | Done = exchange.start()
    while isinstance(message, Ask):
        reply = answer(remote, message)
        wire.append((message, reply))
        message = exchange.on_answer(reply)
    return message, wire


def expected(local: dict[str, int], remote: dict[str, int]) -> tuple[set[str], ...]:
    differ = {k for k in local.keys() & remote.keys() if local[k] != remote[k]}
    return differ, set(remote) - set(local), set(local) - set(remote)


# ---------------------------------------------------------------------- hashes

def test_item_hash_is_of_key_and_version() -> None:
    assert item_hash("a", b"v1") == item_hash("a", b"v1")
    assert item_hash("a", b"v1") != item_hash("a", b"v2")
    assert item_hash("a", b"v1") != item_hash("b", b"v1")
    assert item_hash("ab", b"c") != item_hash("a", b"bc")  # the key is length-prefixed
    assert 0 <= item_hash("a", b"") < 2 ** 64


def test_segment_of_is_the_key_alone_and_in_range() -> None:
    segs = [segment_of(f"k{i}", 4096) for i in range(2000)]
    assert all(0 <= s < 4096 for s in segs)
    assert len(set(segs)) > 1000  # spread over the segments
    assert segment_of("k1", 4096) == segment_of("k1", 4096)
    with pytest.raises(ValueError, match="at least one segment"):
        segment_of("k", 0)


@pytest.mark.parametrize("cls", TREES)
def test_equal_content_gives_equal_roots_whatever_the_order(cls: type[AntiEntropyTree]) -> None:
    items = big_store(500)
    order = list(items)
    random.Random(7).shuffle(order)
    a = cls.from_items(items, 2, 8)
    b = cls(2, 8)
    for k in order:
        b.set("extra-" + k, 1)  # written, then deleted: leaves no trace
        b.set(k, item_hash(k, b"old"))
    for k in order:
        b.set(k, items[k])
        b.delete("extra-" + k)
    assert a.root() == b.root()
    assert all(a.level(d) == b.level(d) for d in range(3))
    assert len(a) == len(b) == 500
    b.clear()
    assert len(b) == 0 and b.root() == cls(2, 8).root() and b.keys == {}


def test_tictac_node_is_the_xor_of_the_item_hashes_below_it() -> None:
    items = big_store(300)
    tree = TictacTree.from_items(items, 2, 4)
    want = 0
    for h in items.values():
        want ^= h
    assert tree.root() == want
    assert TictacTree(2, 4).root() == 0
    for seg in range(16):
        x = 0
        for h in tree.leaf_items(seg).values():
            x ^= h
        assert tree.level(2)[seg] == x


def test_merkle_leaf_hashes_its_keys_so_a_write_changes_only_its_path() -> None:
    tree = MerkleTree.from_items(big_store(300), 2, 4)
    before = [tree.level(d) for d in range(3)]
    key = "key-00007"
    tree.set(key, item_hash(key, b"v2"))
    seg = segment_of(key, 16)
    path = {2: seg, 1: seg // 4, 0: 0}
    for d in range(3):
        changed = [i for i, (x, y) in enumerate(zip(before[d], tree.level(d), strict=True))
                   if x != y]
        assert changed == [path[d]]


# ---------------------------------------------------------------------- updates

@pytest.mark.parametrize("cls", TREES)
@settings(max_examples=25, deadline=None)
@given(writes=st.lists(st.tuples(st.sampled_from([f"k{i}" for i in range(30)]),
                                 st.one_of(st.none(), st.binary(max_size=2)),
                                 st.booleans()),
                       max_size=120))
def test_writes_in_any_sequence_give_the_tree_of_the_final_state(
        cls: type[AntiEntropyTree], writes: list[tuple[str, bytes | None, bool]]) -> None:
    """Tictac's O(depth) XOR updates, and Merkle's lazy rehash with reads in between (so
    some of the tree is clean and some dirty when it is read), both end where a tree built
    from the final state starts."""
    tree = cls(2, 4)
    state: dict[str, int] = {}
    for key, version, read in writes:
        if version is None:
            tree.delete(key)
            state.pop(key, None)
        else:
            tree.set(key, item_hash(key, version))
            state[key] = item_hash(key, version)
        if read:
            tree.root()
    fresh = cls.from_items(state, 2, 4)
    assert [tree.level(d) for d in range(3)] == [fresh.level(d) for d in range(3)]
    assert tree.keys == fresh.keys and len(tree) == len(state)
    assert all(tree.get(k) == h for k, h in state.items())


def test_merkle_lazy_rehash_after_many_writes() -> None:
    rng = random.Random(3)
    tree = MerkleTree()
    state: dict[str, int] = {}
    for i in range(5000):
        key = f"k{rng.randrange(2000)}"
        if rng.random() < 0.2:
            tree.delete(key)
            state.pop(key, None)
        else:
            state[key] = item_hash(key, i.to_bytes(4, "big"))
            tree.set(key, state[key])
        if i % 997 == 0:
            tree.root()
    assert tree.root() == MerkleTree.from_items(state).root()
    assert tree.level(3) == MerkleTree.from_items(state).level(3)


def test_tictac_merge_of_disjoint_trees_is_the_tree_of_the_union() -> None:
    items = big_store(1000)
    left = {k: h for k, h in items.items() if int(k[-1]) % 2}
    right = {k: h for k, h in items.items() if not int(k[-1]) % 2}
    merged = TictacTree.from_items(left, 2, 16).merge(TictacTree.from_items(right, 2, 16))
    whole = TictacTree.from_items(items, 2, 16)
    assert [merged.level(d) for d in range(3)] == [whole.level(d) for d in range(3)]
    assert merged.keys == whole.keys and len(merged) == 1000
    assert compare(merged, whole).keys == frozenset()
    empty = TictacTree(2, 16)
    assert empty.merge(whole).root() == whole.root()


def test_tictac_merge_refuses_other_shapes_and_shared_keys() -> None:
    with pytest.raises(ValueError, match="different shapes"):
        TictacTree(2, 16).merge(TictacTree(3, 16))
    with pytest.raises(ValueError, match="different shapes"):
        TictacTree(2, 16).merge(TictacTree(2, 8))
    a = TictacTree.from_items({"x": 1, "y": 2}, 2, 4)
    with pytest.raises(ValueError, match="share keys"):
        a.merge(TictacTree.from_items({"x": 1}, 2, 4))


# ---------------------------------------------------------------------- the exchange

@pytest.mark.parametrize("cls", TREES)
@pytest.mark.parametrize("change", ["changed", "added", "deleted"])
def test_one_key_changed_is_found_in_its_field(cls: type[AntiEntropyTree], change: str) -> None:
    items = big_store(2000)
    other = dict(items)
    if change == "changed":
        other["key-00042"] = item_hash("key-00042", b"v2")
    elif change == "added":
        other["key-new"] = item_hash("key-new", b"v1")
    else:
        del other["key-00042"]
    key = "key-new" if change == "added" else "key-00042"
    a, b = cls.from_items(items), cls.from_items(other)
    assert a.root() != b.root()
    here, there = compare(a, b), compare(b, a)
    fields = {"changed": ("differ", "differ"), "added": ("missing_here", "missing_there"),
              "deleted": ("missing_there", "missing_here")}[change]
    for done, name in zip((here, there), fields, strict=True):
        assert getattr(done, name) == (key,)
        assert done.keys == {key}
        assert done.rounds == a.depth + 2


@pytest.mark.parametrize("cls", TREES)
@pytest.mark.parametrize("depth, fanout", SHAPES)
@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_compare_finds_exactly_the_keys_that_differ(cls: type[AntiEntropyTree], depth: int,
                                                    fanout: int, data: st.DataObject) -> None:
    keys = st.text(alphabet="abcdefghij", min_size=1, max_size=3)
    local = data.draw(st.dictionaries(keys, st.binary(max_size=2), max_size=60))
    damage_ = data.draw(st.dictionaries(keys, st.one_of(st.none(), st.binary(max_size=2)),
                                        max_size=15))
    remote = dict(local)
    for k, v in damage_.items():
        if v is None:
            remote.pop(k, None)
        else:
            remote[k] = v
    mine, theirs = hashed(local), hashed(remote)
    done = compare(cls.from_items(mine, depth, fanout), cls.from_items(theirs, depth, fanout))
    differ, missing_here, missing_there = expected(mine, theirs)
    assert set(done.differ) == differ
    assert set(done.missing_here) == missing_here
    assert set(done.missing_there) == missing_there
    assert done.keys == {k for k, _ in set(mine.items()) ^ set(theirs.items())}
    assert done.rounds == (1 if mine == theirs else depth + 2)


@pytest.mark.parametrize("cls", TREES)
def test_the_exchange_descends_only_where_hashes_differ(cls: type[AntiEntropyTree]) -> None:
    """Each ask names the children of exactly the nodes that differed a level up, and the
    items asked are of exactly the segments that differ."""
    items = big_store(3000)
    a, b = cls.from_items(items), cls.from_items(damage(items, 0.005))
    done, wire = dialogue(a, b)
    assert done == compare(a, b)
    assert [ask.level for ask, _ in wire] == [0, 1, 2, 3, 3]
    assert [ask.keys for ask, _ in wire] == [False] * 4 + [True]
    for (ask, _), (next_ask, _) in itertools.pairwise(wire):
        differing = [i for i in ask.indices if a.level(ask.level)[i] != b.level(ask.level)[i]]
        if next_ask.keys:
            assert next_ask.indices == tuple(differing)
        else:
            assert next_ask.indices == tuple(c for i in differing
                                             for c in a.children(ask.level, i))


@pytest.mark.parametrize("cls", TREES)
def test_identical_trees_cost_one_round_and_a_few_bytes(cls: type[AntiEntropyTree]) -> None:
    items = big_store(2000)
    done = compare(cls.from_items(items), cls.from_items(items))
    assert done == Done((), (), (), rounds=1, bytes_sent=HEADER_BYTES + 4,
                        bytes_received=HEADER_BYTES + 8)


@pytest.mark.parametrize("cls", TREES)
def test_one_changed_key_costs_one_path(cls: type[AntiEntropyTree]) -> None:
    """depth 3, fanout 16: the root, then 16 children at each of three levels, then the
    one segment's items; nothing of the 4095 other segments."""
    items = big_store(2000)
    other = dict(items, **{"key-00042": item_hash("key-00042", b"v2")})
    remote = cls.from_items(other)
    done = compare(cls.from_items(items), remote)
    seg = remote.leaf_items(segment_of("key-00042", 4096))
    assert done.rounds == 5
    assert done.bytes_sent == 5 * HEADER_BYTES + 4 * (1 + 16 + 16 + 16 + 1)
    assert done.bytes_received == (5 * HEADER_BYTES + 8 * (1 + 16 + 16 + 16)
                                   + 4 + sum(len(k) + 8 for k in seg))


def _items_received(wire: list[tuple[Ask, Answer]]) -> int:
    return sum(len(items) for _, reply in wire for items in reply.items.values())


@pytest.mark.parametrize("cls", TREES)
def test_one_percent_damage_costs_far_less_than_sending_every_item(
        cls: type[AntiEntropyTree]) -> None:
    items = big_store(10_000)
    other = damage(items, 0.01)
    done, wire = dialogue(cls.from_items(items), cls.from_items(other))
    assert len(done.differ) == 100 and done.keys == set(expected(items, other)[0])
    everything = answer_size(Answer(items={0: other})) + ask_size(Ask(3, (0,), keys=True))
    assert everything == HEADER_BYTES * 2 + 4 + 4 + sum(len(k) + 8 for k in other)
    cost = done.bytes_sent + done.bytes_received
    assert cost < 0.3 * everything  # 24 952 of 170 012 bytes: 14.7%
    assert _items_received(wire) < 0.05 * len(items)


@pytest.mark.parametrize("cls", TREES)
def test_deeper_trees_send_fewer_items_for_sparse_damage(cls: type[AntiEntropyTree]) -> None:
    items = big_store(10_000)
    other = damage(items, 0.002)
    received = {}
    for depth in (2, 3):
        done, wire = dialogue(cls.from_items(items, depth, 16), cls.from_items(other, depth, 16))
        assert len(done.differ) == 20
        received[depth] = (_items_received(wire), done.bytes_sent + done.bytes_received)
    assert received[3][0] * 5 < received[2][0]  # ~2.4 keys a segment against ~39
    assert received[3][1] < received[2][1]


def test_both_trees_cost_the_same_for_the_same_damage() -> None:
    """The descent depends only on which nodes differ, the same for both hashes."""
    items = big_store(3000)
    other = damage(items, 0.01)
    merkle = compare(MerkleTree.from_items(items), MerkleTree.from_items(other))
    tictac = compare(TictacTree.from_items(items), TictacTree.from_items(other))
    assert merkle == tictac


def test_the_exchange_is_a_dialogue_of_pure_messages() -> None:
    a = TictacTree.from_items({"x": 1, "y": 2}, 1, 2)
    b = TictacTree.from_items({"x": 1, "y": 3}, 1, 2)
    exchange = Exchange(a)
    ask = exchange.start()
    assert ask == Ask(level=0, indices=(0,))
    with pytest.raises(ValueError, match="already started"):
        exchange.start()
    with pytest.raises(ValueError, match="not to the ask"):
        exchange.on_answer(Answer(hashes={1: 0}))
    message = exchange.on_answer(answer(b, ask))
    while isinstance(message, Ask):
        message = exchange.on_answer(answer(b, message))
    assert message.differ == ("y",)
    with pytest.raises(ValueError, match="done"):
        exchange.on_answer(Answer(hashes={0: 0}))
    with pytest.raises(ValueError, match="start"):
        Exchange(a).on_answer(Answer(hashes={0: 0}))


# ---------------------------------------------------------------------- bad input

@pytest.mark.parametrize("cls", TREES)
@pytest.mark.parametrize("depth, fanout, words", [
    (0, 16, "depth >= 1"), (-1, 16, "depth >= 1"), (3, 1, "fanout >= 2"),
    (3, 0, "fanout >= 2"), (8, 16, "more than"),
])
def test_bad_shapes_are_refused(cls: type[AntiEntropyTree], depth: int, fanout: int,
                                words: str) -> None:
    with pytest.raises(ValueError, match=words):
        cls(depth, fanout)


@pytest.mark.parametrize("cls", TREES)
def test_bad_reads_and_asks_are_refused(cls: type[AntiEntropyTree]) -> None:
    tree = cls.from_items({"x": 1}, 2, 4)
    with pytest.raises(ValueError, match="level 3 is outside the tree"):
        answer(tree, Ask(level=3, indices=(0,)))
    with pytest.raises(ValueError, match="level -1 is outside the tree"):
        answer(tree, Ask(level=-1, indices=(0,)))
    with pytest.raises(ValueError, match="node 4 is outside level 1"):
        answer(tree, Ask(level=1, indices=(4,)))
    with pytest.raises(ValueError, match="items are asked of the segments"):
        answer(tree, Ask(level=1, indices=(0,), keys=True))
    with pytest.raises(ValueError, match="no children"):
        tree.children(2, 0)
    with pytest.raises(ValueError, match="outside level 2"):
        tree.leaf_items(16)
    with pytest.raises(ValueError, match="outside the tree"):
        tree.level(3)
    with pytest.raises(ValueError, match="64-bit"):
        tree.set("x", -1)
    with pytest.raises(ValueError, match="same shape"):
        compare(tree, cls(3, 4))
    other = TictacTree if cls is MerkleTree else MerkleTree
    with pytest.raises(ValueError, match="same kind of tree"):
        compare(tree, other(2, 4))
    tree.delete("absent")  # a no-op
    assert len(tree) == 1
