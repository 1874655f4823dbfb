"""The timestamp cache's rules (``protocols.txnkv.tscache``), then properties against the
plain list of every read recorded."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.clocks.hlc import HLCTimestamp
from protocols.common.errors import InvalidRequest
from protocols.txnkv.mvcc import next_ts
from protocols.txnkv.tscache import ReadStamp, TimestampCache


def ts(wall: int, logical: int = 0) -> HLCTimestamp:
    return HLCTimestamp(wall, logical)


# ============================================================================ rules
def test_a_key_remembers_its_highest_read_and_who_read_there() -> None:
    cache = TimestampCache()
    cache.add("k", ts(10), "A")
    cache.add("k", ts(5), "B")
    assert cache.get_max("k") == ReadStamp(ts(10), "A")
    assert cache.get_max("other") == ReadStamp(ts(0), None)


def test_two_transactions_at_the_same_highest_read_leave_it_ownerless() -> None:
    cache = TimestampCache()
    cache.add("k", ts(10), "A")
    cache.add("k", ts(10), "B")
    assert cache.get_max("k") == ReadStamp(ts(10), None)
    assert cache.pushed_ts("k", ts(10), "A") == ts(10, 1)  # A is pushed too: B read there


def test_a_span_covers_every_key_in_it_present_or_not() -> None:
    cache = TimestampCache()
    cache.add_span("b", "d", ts(7), "A")
    assert cache.get_max("b").ts == ts(7) and cache.get_max("c-new").ts == ts(7)
    assert cache.get_max("d").ts == ts(0) and cache.get_max("a").ts == ts(0)  # [b, d)


def test_an_empty_span_is_refused() -> None:
    with pytest.raises(InvalidRequest):
        TimestampCache().add_span("b", "b", ts(1), "A")


def test_a_write_at_or_below_another_transactions_read_is_pushed_just_above_it() -> None:
    cache = TimestampCache()
    cache.add("k", ts(10), "A")
    assert cache.pushed_ts("k", ts(10), "B") == ts(10, 1)
    assert cache.pushed_ts("k", ts(3), "B") == ts(10, 1)
    assert cache.pushed_ts("k", ts(10, 1), "B") == ts(10, 1)  # above it: stays
    cache.add("k", ts(12), None)  # a non-transactional read pushes everyone
    assert cache.pushed_ts("k", ts(11), "A") == ts(12, 1)


def test_a_transaction_is_not_pushed_by_its_own_reads() -> None:
    cache = TimestampCache()
    cache.add("k", ts(10), "A")
    assert cache.pushed_ts("k", ts(10), "A") == ts(10)
    assert cache.pushed_ts("k", ts(11), "A") == ts(11)


def test_a_write_below_its_own_highest_read_goes_up_to_it() -> None:
    """Other reads may hide under its own: the cache keeps only the highest."""
    cache = TimestampCache()
    cache.add("k", ts(8), "B")
    cache.add("k", ts(10), "A")
    assert cache.pushed_ts("k", ts(5), "A") == ts(10)


def test_the_low_water_mark_answers_for_everything_forgotten() -> None:
    cache = TimestampCache()
    cache.add("k", ts(10), "A")
    cache.add("j", ts(20), "A")
    cache.forget_below(ts(10))
    assert len(cache) == 1
    assert cache.get_max("k") == ReadStamp(ts(10), None)  # owner forgotten: A is pushed
    assert cache.pushed_ts("k", ts(10), "A") == ts(10, 1)
    cache.add("x", ts(9), "B")  # below the mark: already answered, nothing stored
    assert len(cache) == 1
    cache.forget_below(ts(5))  # never lowered
    assert cache.low_water == ts(10)


def test_a_new_leaseholder_starts_with_the_low_water_at_its_lease_start() -> None:
    cache = TimestampCache(low_water=ts(50))
    assert cache.pushed_ts("k", ts(40), "A") == ts(50, 1)


def test_over_its_capacity_the_cache_forgets_its_older_half() -> None:
    cache = TimestampCache(max_entries=4)
    for i in range(5):
        cache.add(f"k{i}", ts(i + 1), "A")
    assert len(cache) <= 4 and cache.low_water == ts(3)
    assert cache.get_max("k4") == ReadStamp(ts(5), "A")
    assert cache.get_max("k0") == ReadStamp(ts(3), None)


# ============================================================================ properties
KEYS = ["a", "b", "c", "d", "e"]
TXNS = ["A", "B", "C"]
stamps = st.builds(HLCTimestamp, st.integers(0, 10), st.integers(0, 2))
ops = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(KEYS), stamps, st.sampled_from([*TXNS, None])),
    st.tuples(st.just("span"), st.sampled_from(KEYS), st.sampled_from(KEYS), stamps,
              st.sampled_from([*TXNS, None])),
    st.tuples(st.just("forget"), stamps),
)
Read = tuple[str, str, HLCTimestamp, Any]  # [start, end] inclusive of both for a point


def record(cache: TimestampCache, script: list[tuple[Any, ...]]) -> list[Read]:
    """Apply the script; every read it recorded, whatever the cache kept."""
    reads: list[Read] = []
    for op in script:
        if op[0] == "add":
            cache.add(op[1], op[2], op[3])
            reads.append((op[1], op[1] + "\0", op[2], op[3]))
        elif op[0] == "span":
            start, end = sorted((op[1], op[2]))
            end += "\0"  # make the span non-empty and include its last key
            cache.add_span(start, end, op[3], op[4])
            reads.append((start, end, op[3], op[4]))
        else:
            cache.forget_below(op[1])
        if cache.max_entries is not None:
            assert len(cache) <= cache.max_entries
    return reads


def covering(reads: list[Read], key: str) -> list[Read]:
    return [r for r in reads if r[0] <= key < r[1]]


@given(st.lists(ops, max_size=30), st.sampled_from(KEYS), stamps, st.sampled_from(TXNS),
       st.one_of(st.none(), st.integers(1, 4)))
def test_a_pushed_write_is_above_every_other_transactions_read(
        script: list[tuple[Any, ...]], key: str, at: HLCTimestamp, writer: str,
        max_entries: int | None) -> None:
    """Whatever was forgotten (the low-water mark, a capacity), ``pushed_ts`` is above
    every read of the key by another transaction, and never below the write's own ts;
    every entry kept is above the low-water mark, and there are at most ``max_entries``."""
    cache = TimestampCache(max_entries=max_entries)
    reads = record(cache, script)
    pushed = cache.pushed_ts(key, at, writer)
    assert pushed >= at
    for _, _, read_ts, reader in covering(reads, key):
        if reader != writer:
            assert pushed > read_ts
    assert all(r.ts > cache.low_water for r in cache._points.values())
    assert all(s.read.ts > cache.low_water for s in cache._spans)


@given(st.lists(ops.filter(lambda op: op[0] != "forget"), max_size=30),
       st.sampled_from(KEYS), stamps, st.sampled_from(TXNS))
def test_without_forgetting_a_write_is_pushed_exactly_past_other_reads(
        script: list[tuple[Any, ...]], key: str, at: HLCTimestamp, writer: str) -> None:
    """A write at or above its own reads of the key (as a transaction's always is) is
    pushed by other transactions' reads alone, to just above the highest of them: not
    by its own reads, and no further."""
    cache = TimestampCache()
    reads = record(cache, script)
    own = [r[2] for r in covering(reads, key) if r[3] == writer]
    at = max([at, *own])
    others = max([HLCTimestamp(), *(r[2] for r in covering(reads, key) if r[3] != writer)])
    assert cache.pushed_ts(key, at, writer) == (at if at > others else next_ts(others))
