"""The MVCC store's rules (``protocols.txnkv.mvcc``), one test per rule, then properties
against a reference model: versions as a plain dict ``{(key, ts): value}``."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from protocols.clocks.hlc import MAX_LOGICAL, HLCTimestamp
from protocols.common.errors import InvalidRequest
from protocols.txnkv.mvcc import (
    MVCCStore,
    ReadBelowGCThresholdError,
    ReadWithinUncertaintyIntervalError,
    TxnMeta,
    Value,
    Version,
    WriteIntentError,
    WriteTooOldError,
    next_ts,
    uncertainty_limit,
)
from protocols.txnkv.record import TxnStatus

COMMITTED, ABORTED = TxnStatus.COMMITTED, TxnStatus.ABORTED


def ts(wall: int, logical: int = 0) -> HLCTimestamp:
    return HLCTimestamp(wall, logical)


def txn(name: str, wall: int, epoch: int = 0, logical: int = 0) -> TxnMeta:
    return TxnMeta(name, epoch, ts(wall, logical))


def commit(store: MVCCStore, key: str, value: Value | None, at: HLCTimestamp) -> None:
    """A one-write transaction, committed where it wrote."""
    meta = TxnMeta(f"w-{key}-{at}", 0, at)
    store.put(key, value, meta)
    assert store.resolve(key, meta.id, COMMITTED, at)


def snapshot(store: MVCCStore, keys: str = "abcd") -> object:
    return [(k, store.versions(k), store.intent(k)) for k in keys], store.gc_threshold


# ============================================================================ reads
def test_a_read_sees_the_newest_version_at_or_below_its_timestamp() -> None:
    store = MVCCStore()
    commit(store, "k", b"1", ts(10))
    commit(store, "k", b"2", ts(20))
    assert store.get("k", ts(9)) is None
    assert store.get("k", ts(10)) == b"1"
    assert store.get("k", ts(19, 5)) == b"1"
    assert store.get("k", ts(20)) == b"2"
    assert store.get("k", ts(99)) == b"2"
    assert store.get("other", ts(99)) is None


def test_a_tombstone_reads_as_absent_and_hides_older_versions() -> None:
    store = MVCCStore()
    commit(store, "k", b"1", ts(10))
    commit(store, "k", None, ts(20))
    assert store.get("k", ts(15)) == b"1"
    assert store.get("k", ts(20)) is None
    assert store.versions("k") == [Version(ts(20), None), Version(ts(10), b"1")]


def test_another_transactions_intent_at_or_below_the_read_is_a_conflict() -> None:
    store = MVCCStore()
    commit(store, "k", b"old", ts(5))
    intent = store.put("k", b"new", txn("A", 10))
    for at in (ts(10), ts(11)):  # equal counts: it could commit exactly there
        with pytest.raises(WriteIntentError) as e:
            store.get("k", at)
        assert e.value.intent == intent and e.value.intent.txn.id == "A"
        with pytest.raises(WriteIntentError):
            store.get("k", at, txn=txn("B", 10))


def test_an_intent_above_the_read_and_its_uncertainty_is_not_seen() -> None:
    store = MVCCStore()
    commit(store, "k", b"old", ts(5))
    store.put("k", b"new", txn("A", 10))
    assert store.get("k", ts(9, 9)) == b"old"
    assert store.get("k", ts(7), max_offset=2, txn=txn("B", 7)) == b"old"  # limit 9 < 10


def test_a_transaction_reads_its_own_intent_at_any_timestamp() -> None:
    store = MVCCStore()
    commit(store, "k", b"old", ts(5))
    me = txn("A", 10)
    store.put("k", b"mine", me)
    assert store.get("k", ts(10), txn=me) == b"mine"
    assert store.get("k", ts(3), txn=me) == b"mine"
    store.delete("k", me)
    assert store.get("k", ts(10), txn=me) is None


def test_an_intent_of_an_earlier_epoch_is_not_read_back() -> None:
    store = MVCCStore()
    commit(store, "k", b"old", ts(5))
    store.put("k", b"epoch0", txn("A", 10, epoch=0))
    assert store.get("k", ts(12), txn=txn("A", 12, epoch=1)) == b"old"


def test_a_read_at_an_epoch_below_its_own_intent_is_refused() -> None:
    store = MVCCStore()
    store.put("k", b"epoch1", txn("A", 10, epoch=1))
    with pytest.raises(InvalidRequest):
        store.get("k", ts(12), txn=txn("A", 12, epoch=0))


# ============================================================================ uncertainty
def test_the_uncertainty_interval_is_open_below_and_closed_above() -> None:
    """(t, t + max_offset]: a value at t is read; one at t + m is uncertain; one a tick
    above t + m is in the future, not seen."""
    t, m = ts(100, 3), 10
    assert uncertainty_limit(t, m) == ts(110, 3)
    for v, outcome in ((ts(100, 3), b"v"), (ts(100, 4), "uncertain"), (ts(110, 3), "uncertain"),
                       (ts(110, 4), None)):
        store = MVCCStore()
        commit(store, "k", b"v", v)
        if outcome == "uncertain":
            with pytest.raises(ReadWithinUncertaintyIntervalError) as e:
                store.get("k", t, max_offset=m)
            assert e.value.value_ts == v and e.value.read_ts == t
        else:
            assert store.get("k", t, max_offset=m) == outcome


def test_without_a_max_offset_nothing_is_uncertain() -> None:
    store = MVCCStore()
    commit(store, "k", b"v", ts(100, 1))
    assert store.get("k", ts(100)) is None


def test_another_transactions_intent_in_the_uncertainty_interval_is_uncertain() -> None:
    store = MVCCStore()
    store.put("k", b"new", txn("A", 105))
    with pytest.raises(ReadWithinUncertaintyIntervalError) as e:
        store.get("k", ts(100), max_offset=10)
    assert e.value.value_ts == ts(105)
    with pytest.raises(ReadWithinUncertaintyIntervalError):
        store.get("k", ts(95), max_offset=10)  # at the top of the interval, closed
    assert store.get("k", ts(95, 0), max_offset=9) is None  # a tick beyond it


def test_uncertainty_names_the_newest_value_in_the_interval() -> None:
    """Restarting above the newest one is the one restart that clears the interval."""
    store = MVCCStore()
    commit(store, "k", b"1", ts(102))
    commit(store, "k", b"2", ts(107))
    commit(store, "k", b"3", ts(120))
    with pytest.raises(ReadWithinUncertaintyIntervalError) as e:
        store.get("k", ts(100), max_offset=10)
    assert e.value.value_ts == ts(107)


def test_a_negative_max_offset_is_refused() -> None:
    with pytest.raises(InvalidRequest):
        MVCCStore().get("k", ts(1), max_offset=-1)


# ============================================================================ writes
def test_a_write_at_or_below_a_committed_version_is_too_old() -> None:
    store = MVCCStore()
    commit(store, "k", b"1", ts(10))
    for wall in (10, 5):
        with pytest.raises(WriteTooOldError) as e:
            store.put("k", b"2", txn("A", wall))
        assert e.value.existing_ts == ts(10) and e.value.retry_ts == ts(10, 1)
    assert store.intent("k") is None
    store.put("k", b"2", TxnMeta("A", 0, e.value.retry_ts))  # the retry succeeds


def test_a_write_meets_another_transactions_intent() -> None:
    store = MVCCStore()
    store.put("k", b"A", txn("A", 10))
    for wall in (5, 10, 15):
        with pytest.raises(WriteIntentError):
            store.put("k", b"B", txn("B", wall))
    assert store.intent("k") is not None and store.intent("k").value == b"A"  # type: ignore[union-attr]


def test_a_transaction_rewrites_its_own_intent_at_the_same_or_a_higher_epoch() -> None:
    store = MVCCStore()
    store.put("k", b"1", txn("A", 10))
    store.put("k", b"2", txn("A", 12))
    assert store.get("k", ts(12), txn=txn("A", 12)) == b"2"
    store.put("k", b"3", txn("A", 11, epoch=1))
    intent = store.intent("k")
    assert intent is not None and intent.value == b"3" and intent.txn.epoch == 1
    assert intent.ts == ts(11)  # a new epoch writes at its own timestamp


def test_a_write_at_an_epoch_below_its_own_intent_is_refused() -> None:
    store = MVCCStore()
    store.put("k", b"1", txn("A", 10, epoch=2))
    with pytest.raises(InvalidRequest):
        store.put("k", b"2", txn("A", 10, epoch=1))
    assert store.intent("k").value == b"1"  # type: ignore[union-attr]


def test_a_rewritten_intent_never_moves_down() -> None:
    """A reader pushed it up; moving it back under that read would undo the push."""
    store = MVCCStore()
    store.put("k", b"1", txn("A", 10))
    store.resolve("k", "A", TxnStatus.PENDING, ts(20))
    assert store.put("k", b"2", txn("A", 10)).ts == ts(20)


# ============================================================================ resolution
def test_a_committed_intent_becomes_a_version_at_the_commit_timestamp() -> None:
    store = MVCCStore()
    store.put("k", b"v", txn("A", 10))
    assert store.resolve("k", "A", COMMITTED, ts(10))
    assert store.intent("k") is None and store.versions("k") == [Version(ts(10), b"v")]


def test_a_pushed_transaction_commits_its_intent_higher() -> None:
    store = MVCCStore()
    commit(store, "k", b"old", ts(5))
    store.put("k", b"new", txn("A", 10))
    store.resolve("k", "A", COMMITTED, ts(15))
    assert store.get("k", ts(14)) == b"old"
    assert store.get("k", ts(15)) == b"new"


def test_an_aborted_intent_is_removed() -> None:
    store = MVCCStore()
    commit(store, "k", b"old", ts(5))
    store.put("k", b"new", txn("A", 10))
    assert store.resolve("k", "A", ABORTED, ts(10))
    assert store.intent("k") is None and store.get("k", ts(20)) == b"old"


def test_resolving_twice_or_another_transactions_intent_does_nothing() -> None:
    store = MVCCStore()
    store.put("k", b"v", txn("A", 10))
    assert not store.resolve("k", "B", ABORTED, ts(10))  # not B's intent
    assert store.resolve("k", "A", COMMITTED, ts(10))
    before = snapshot(store)
    assert not store.resolve("k", "A", COMMITTED, ts(10))
    assert not store.resolve("k", "A", ABORTED, ts(10))
    assert not store.resolve("absent", "A", COMMITTED, ts(10))
    assert snapshot(store) == before


def test_an_intent_of_an_earlier_epoch_is_removed_not_committed() -> None:
    """The transaction restarted and its final epoch did not rewrite the key."""
    store = MVCCStore()
    store.put("k", b"epoch0", txn("A", 10, epoch=0))
    assert store.resolve("k", "A", COMMITTED, ts(12), epoch=1)
    assert store.versions("k") == [] and store.intent("k") is None


def test_a_resolution_of_an_earlier_epoch_leaves_a_later_intent() -> None:
    store = MVCCStore()
    store.put("k", b"epoch1", txn("A", 10, epoch=1))
    assert not store.resolve("k", "A", ABORTED, ts(10), epoch=0)
    assert store.intent("k") is not None


def test_a_commit_below_its_intent_is_refused() -> None:
    store = MVCCStore()
    store.put("k", b"v", txn("A", 10))
    with pytest.raises(InvalidRequest):
        store.resolve("k", "A", COMMITTED, ts(9))
    assert store.intent("k") is not None and store.versions("k") == []


def test_a_pending_resolution_pushes_the_intent_up_only() -> None:
    store = MVCCStore()
    store.put("k", b"v", txn("A", 10))
    assert store.resolve("k", "A", TxnStatus.PENDING, ts(20))
    assert not store.resolve("k", "A", TxnStatus.PENDING, ts(15))
    assert store.intent("k").ts == ts(20)  # type: ignore[union-attr]
    assert store.get("k", ts(19)) is None  # a reader below it no longer conflicts


def test_a_staging_record_cannot_resolve_an_intent() -> None:
    store = MVCCStore()
    store.put("k", b"v", txn("A", 10))
    with pytest.raises(InvalidRequest):
        store.resolve("k", "A", TxnStatus.STAGING, ts(10))


# ============================================================================ scans
def test_a_scan_returns_the_span_in_key_order_by_the_read_rules() -> None:
    store = MVCCStore()
    for key in ("d", "b", "a", "c", "e"):
        commit(store, key, key.encode(), ts(10))
    commit(store, "c", None, ts(11))
    commit(store, "b", b"b2", ts(30))
    assert store.scan("b", "e", ts(20)) == [("b", b"b"), ("d", b"d")]  # [b, e)
    assert store.scan("a", "z", ts(5)) == []


def test_a_scan_collects_every_conflicting_intent() -> None:
    store = MVCCStore()
    for key in "abc":
        commit(store, key, b"v", ts(1))
    store.put("a", b"x", txn("A", 5))
    store.put("c", b"y", txn("B", 6))
    with pytest.raises(WriteIntentError) as e:
        store.scan("a", "d", ts(10))
    assert [i.key for i in e.value.intents] == ["a", "c"]
    with pytest.raises(WriteIntentError) as e:
        store.scan("a", "d", ts(10), txn=txn("A", 10))  # its own intent is no conflict
    assert [i.key for i in e.value.intents] == ["c"]


def test_a_scan_meets_uncertainty_like_a_read() -> None:
    store = MVCCStore()
    commit(store, "a", b"1", ts(1))
    commit(store, "b", b"2", ts(8))
    with pytest.raises(ReadWithinUncertaintyIntervalError) as e:
        store.scan("a", "c", ts(5), max_offset=3)
    assert e.value.key == "b"


# ============================================================================ GC
def test_gc_keeps_the_newest_version_at_or_below_the_threshold() -> None:
    store = MVCCStore()
    for wall in (1, 2, 3, 5):
        commit(store, "k", str(wall).encode(), ts(wall))
    assert store.gc(ts(4)) == 2
    assert [v.ts for v in store.versions("k")] == [ts(5), ts(3)]
    assert store.get("k", ts(4)) == b"3"


def test_gc_drops_a_tombstone_that_is_the_newest_below_the_threshold() -> None:
    store = MVCCStore()
    commit(store, "k", b"1", ts(1))
    commit(store, "k", None, ts(2))
    assert store.gc(ts(3)) == 2 and store.versions("k") == []
    assert store.get("k", ts(3)) is None


def test_operations_below_the_gc_threshold_are_refused() -> None:
    store = MVCCStore()
    commit(store, "k", b"1", ts(1))
    store.gc(ts(4))
    for op in (lambda: store.get("k", ts(3)), lambda: store.scan("a", "z", ts(3)),
               lambda: store.put("j", b"x", txn("A", 3))):
        with pytest.raises(ReadBelowGCThresholdError):
            op()
    store.gc(ts(2))  # never lowered
    assert store.gc_threshold == ts(4)


def test_next_ts_carries_the_logical_overflow_into_the_wall_time() -> None:
    assert next_ts(ts(3, 4)) == ts(3, 5)
    assert next_ts(ts(3, MAX_LOGICAL)) == ts(4, 0)


# ============================================================================ properties
KEYS = "abcd"
Op = tuple[Any, ...]
stamps = st.builds(HLCTimestamp, st.integers(0, 12), st.integers(0, 2))
ops = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(KEYS), stamps, st.integers(0, 2),
              st.one_of(st.none(), st.binary(max_size=2))),
    st.tuples(st.just("read"), st.sampled_from(KEYS), stamps),
    st.tuples(st.just("scan"), st.sampled_from(KEYS), st.sampled_from(KEYS), stamps),
    st.tuples(st.just("gc"), stamps),
)


def model_read(model: dict[tuple[str, HLCTimestamp], Value | None], key: str,
               at: HLCTimestamp) -> Value | None:
    seen = [t for (k, t) in model if k == key and t <= at]
    return model[key, max(seen)] if seen else None


@given(st.lists(ops, max_size=40))
def test_committed_writes_and_reads_agree_with_a_dict_of_versions(
        script: list[Op]) -> None:
    """Writes (some committed at a pushed timestamp), reads, scans and GCs: the store
    answers exactly what ``{(key, ts): value}`` answers, and refuses exactly what it must
    (a write at or below a version: too old; anything below the GC threshold)."""
    store = MVCCStore()
    model: dict[tuple[str, HLCTimestamp], Value | None] = {}
    threshold = HLCTimestamp()
    for n, op in enumerate(script):
        if op[0] == "gc":
            threshold = max(threshold, op[1])
            store.gc(op[1])
            continue
        at = op[2] if op[0] != "scan" else op[3]
        if at < threshold:
            with pytest.raises(ReadBelowGCThresholdError):
                run(store, op, n)
            continue
        if op[0] == "write":
            _, key, at, push, value = op
            newest = max((t for (k, t) in model if k == key), default=None)
            if newest is not None and newest >= at:
                with pytest.raises(WriteTooOldError) as e:
                    run(store, op, n)
                assert e.value.existing_ts == newest
                continue
            run(store, op, n)
            model[key, HLCTimestamp(at.wall + push, at.logical)] = value
        elif op[0] == "read":
            assert run(store, op, n) == model_read(model, op[1], at)
        else:
            expected = [(k, v) for k in KEYS if op[1] <= k < op[2]
                        if (v := model_read(model, k, at)) is not None]
            assert run(store, op, n) == expected


def run(store: MVCCStore, op: Op, n: int) -> object:
    if op[0] == "write":
        _, key, at, push, value = op
        meta = TxnMeta(f"t{n}", 0, at)
        store.put(key, value, meta)
        return store.resolve(key, meta.id, COMMITTED, HLCTimestamp(at.wall + push, at.logical))
    if op[0] == "read":
        return store.get(op[1], op[2])
    return store.scan(op[1], op[2], op[3])


@given(v=stamps, t=stamps, m=st.integers(0, 5), intent=st.booleans())
@example(v=HLCTimestamp(7, 1), t=HLCTimestamp(4, 1), m=3, intent=True)  # the top, closed
@example(v=HLCTimestamp(7, 1), t=HLCTimestamp(4, 1), m=3, intent=False)
@example(v=HLCTimestamp(4, 2), t=HLCTimestamp(4, 1), m=0, intent=False)  # no offset
def test_a_read_is_uncertain_exactly_when_the_value_is_in_its_interval(
        v: HLCTimestamp, t: HLCTimestamp, m: int, intent: bool) -> None:
    """For a version (or another's intent) at v and a read at t with max offset m:
    uncertain iff t < v <= (t.wall + m, t.logical); otherwise a committed value is read
    iff v <= t, and another's intent conflicts iff v <= t."""
    store = MVCCStore()
    if intent:
        store.put("k", b"v", TxnMeta("A", 0, v))
    else:
        commit(store, "k", b"v", v)
    uncertain = t < v <= HLCTimestamp(t.wall + m, t.logical)
    if uncertain:
        with pytest.raises(ReadWithinUncertaintyIntervalError):
            store.get("k", t, max_offset=m)
    elif intent and v <= t:
        with pytest.raises(WriteIntentError):
            store.get("k", t, max_offset=m)
    else:
        assert store.get("k", t, max_offset=m) == (b"v" if v <= t and not intent else None)


@given(w=stamps, push=st.integers(0, 3), status=st.sampled_from([COMMITTED, ABORTED]),
       repeats=st.integers(1, 4), old=st.booleans())
def test_resolution_is_idempotent_and_a_commit_moves_the_value_to_its_timestamp(
        w: HLCTimestamp, push: int, status: TxnStatus, repeats: int, old: bool) -> None:
    store = MVCCStore()
    if old:
        commit(store, "k", b"old", HLCTimestamp())
        w = max(w, HLCTimestamp(0, 1))
    store.put("k", b"new", TxnMeta("A", 0, w))
    commit_ts = HLCTimestamp(w.wall + push, w.logical)
    assert store.resolve("k", "A", status, commit_ts)
    after = snapshot(store)
    for _ in range(repeats):
        assert not store.resolve("k", "A", status, commit_ts)
        assert not store.resolve("k", "A", COMMITTED if status is ABORTED else ABORTED,
                                 commit_ts)
        assert snapshot(store) == after
    before = b"old" if old else None
    assert store.get("k", commit_ts) == (b"new" if status is COMMITTED else before)
    if push:  # between the intent's timestamp and the commit's: still the old value
        assert store.get("k", HLCTimestamp(commit_ts.wall - 1, 2)) == before
