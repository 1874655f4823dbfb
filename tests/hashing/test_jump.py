"""Jump consistent hash (Lamping & Veach 2014), checked bucket for bucket against the
``jump-consistent-hash`` package on the same 64-bit keys."""

from __future__ import annotations

import random

import jump
import pytest
import xxhash

from protocols.common.errors import InvalidRequest
from protocols.hashing.jump import Jump, jump_hash

KEYS = [f"key-{i}" for i in range(10_000)]


def test_jump_hash_is_the_papers_function_bucket_for_bucket() -> None:
    rng = random.Random(35)
    keys = [0, 1, 2**63, 2**64 - 1, *(rng.getrandbits(64) for _ in range(2000))]
    for buckets in (1, 2, 3, 10, 100, 1000, 65_536, 2**31 - 1):
        assert [jump_hash(k, buckets) for k in keys] == [jump.hash(k, buckets) for k in keys]


def test_a_key_is_in_the_bucket_of_its_xxhash64() -> None:
    placement = Jump()
    for i in range(7):
        placement.add(f"n{i}")
    for key in KEYS[:3000]:
        bucket = jump.hash(xxhash.xxh64_intdigest(key.encode()), 7)
        assert placement.node_for(key) == f"n{bucket}"


def test_growing_by_one_bucket_moves_keys_only_to_it() -> None:
    placement = Jump()
    for n in range(1, 12):
        before = [placement.node_for(k) for k in KEYS[:2000]] if n > 1 else None
        placement.add(f"n{n - 1}")
        after = [placement.node_for(k) for k in KEYS[:2000]]
        if before is not None:
            assert {a for b, a in zip(before, after, strict=True) if b != a} <= {f"n{n - 1}"}


def test_only_the_last_node_can_leave() -> None:
    placement = Jump()
    for node in ("a", "b", "c"):
        placement.add(node)
    owners = [placement.node_for(k) for k in KEYS[:500]]
    with pytest.raises(InvalidRequest, match=r"only the last node \('c'\).*bucket 0"):
        placement.remove("a")
    assert list(placement.nodes) == ["a", "b", "c"]
    assert [placement.node_for(k) for k in KEYS[:500]] == owners
    placement.remove("c")
    assert list(placement.nodes) == ["a", "b"]
    with pytest.raises(InvalidRequest, match="no node 'c'"):
        placement.remove("c")


@pytest.mark.parametrize("weight", [2, 0.5])
def test_a_weight_is_refused_and_changes_nothing(weight: float) -> None:
    placement = Jump()
    placement.add("a")
    with pytest.raises(InvalidRequest, match="same share"):
        placement.add("b", weight)
    assert list(placement.nodes) == ["a"]
    placement.add("b", 1.0)  # a weight of 1, however written, is no weight
    assert list(placement.nodes) == ["a", "b"]


def test_a_preference_list_is_the_jump_hashes_of_seeds_0_1_2_skipping_repeats() -> None:
    placement = Jump()
    for i in range(6):
        placement.add(f"n{i}")
    for key in KEYS[:300]:
        seq = [jump.hash(xxhash.xxh64_intdigest(key.encode(), s), 6) for s in range(200)]
        expected = [f"n{b}" for b in dict.fromkeys(seq)]
        assert placement.nodes_for(key, 6) == expected
        assert placement.nodes_for(key, 2) == expected[:2]
