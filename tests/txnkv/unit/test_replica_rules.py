"""A test per rule of a range's replica and of the coordinator, on one node that holds
every range (``tests/txnkv/harness.py``): each fails when its rule is removed.

Leases (``RangeMachine._install_lease``, ``Replica.serving``), the timestamp cache
(pushes, low-water marks), idempotent replays, the uncertainty interval, the clock bound,
the record's transitions as a range evaluates them, pushes of abandoned records, status
resolution end to end, parallel commits against the two-round commit, and serializable
against snapshot isolation."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from protocols.clocks.hlc import HLCTimestamp
from protocols.common.errors import Aborted
from protocols.twopc.messages import Read, Transact
from protocols.txnkv.coordinator import encode_value
from protocols.txnkv.messages import (
    BatchRequest,
    EndTxn,
    Err,
    Get,
    Header,
    Heartbeat,
    Lease,
    Push,
    Put,
    PutIntentEffect,
    PutResult,
    QueryIntent,
    RequestLease,
    Resolve,
    WriteBatch,
    decode,
)
from protocols.txnkv.mvcc import TxnMeta
from protocols.txnkv.ranges import static_split
from protocols.txnkv.record import TxnStatus, Write
from protocols.txnkv.replica import RangeMachine
from tests.txnkv.harness import OneNode, ops


def ts(wall: int, logical: int = 0) -> HLCTimestamp:
    return HLCTimestamp(wall, logical)


def meta(txn_id: str, write_ts: HLCTimestamp, anchor: str = "a", epoch: int = 0
         ) -> TxnMeta:
    return TxnMeta(txn_id, epoch, write_ts, anchor)


@pytest.fixture
def node() -> OneNode:
    return OneNode()


# ====================================================================== the ranges
def test_the_static_split_covers_the_keyspace_and_spreads_replicas() -> None:
    ranges = static_split(["n1", "n2", "n3", "n4", "n5"], ["h", "p"], 3)
    assert [(r.start, r.end) for r in ranges] == [("", "h"), ("h", "p"), ("p", None)]
    assert [r.replicas for r in ranges] == [("n1", "n2", "n3"), ("n2", "n3", "n4"),
                                            ("n3", "n4", "n5")]
    assert [r.key_in("k0") for r in ranges] == ["0k0", "hk0", "pk0"]


# ====================================================================== leases
def _machine() -> RangeMachine:
    return RangeMachine(static_split(["n1"], [], 1)[0])


def test_a_lease_for_a_new_holder_starts_after_the_old_one_expires() -> None:
    m = _machine()
    first = m.execute(RequestLease(Lease("n1", ts(1), ts(100), 1), 0))
    assert first == Lease("n1", ts(1), ts(100), 1)
    overlapping = m.execute(RequestLease(Lease("n2", ts(100), ts(200), 2), 1))
    assert isinstance(overlapping, Err) and m.lease.holder == "n1"
    after = m.execute(RequestLease(Lease("n2", ts(100, 1), ts(200), 2), 1))
    assert after == Lease("n2", ts(100, 1), ts(200), 2)


def test_a_lease_request_on_a_stale_sequence_is_refused() -> None:
    m = _machine()
    m.execute(RequestLease(Lease("n1", ts(1), ts(100), 1), 0))
    stale = m.execute(RequestLease(Lease("n2", ts(500), ts(600), 1), 0))
    assert isinstance(stale, Err) and m.lease.holder == "n1"


def test_an_extension_keeps_the_sequence_and_the_start() -> None:
    m = _machine()
    m.execute(RequestLease(Lease("n1", ts(1), ts(100), 1), 0))
    m.execute(RequestLease(Lease("n1", ts(50), ts(300), 1), 1))
    assert m.lease == Lease("n1", ts(1), ts(300), 1)


def test_a_batch_evaluated_under_another_lease_applies_nothing() -> None:
    m = _machine()
    m.execute(RequestLease(Lease("n1", ts(1), ts(100), 1), 0))
    m.execute(RequestLease(Lease("n2", ts(101), ts(200), 2), 1))
    effect = PutIntentEffect("a", b"1", meta("t1", ts(10)))
    refused = m.execute(WriteBatch(1, (effect,)))
    assert isinstance(refused, Err) and refused.kind == "not-leaseholder"
    assert m.mvcc.intent("a") is None
    assert m.execute(WriteBatch(2, (effect,))) == "ok" and m.mvcc.intent("a") is not None


def test_a_lease_stops_serving_max_offset_before_it_expires(node: OneNode) -> None:
    replica = node.replica("a")
    exp = replica.machine.lease.expiration
    offset = node.core.options.max_offset_ms
    assert replica.serving(ts(exp.wall - offset - 1))
    assert not replica.serving(ts(exp.wall - offset))  # the stasis period


def test_a_lease_acquired_here_starts_its_cache_at_its_start(node: OneNode) -> None:
    replica = node.replica("a")
    assert replica.tscache is not None
    assert replica.tscache.low_water == replica.machine.lease.start


def test_a_lease_found_on_restart_starts_its_cache_at_its_expiration(node: OneNode) -> None:
    replica = node.replica("a")  # as if this process had just started under its lease:
    replica.tscache, replica.serving_sequence = None, -1  # its reads before are unknown
    assert replica._timestamp_cache().low_water == replica.machine.lease.expiration


def test_the_leader_extends_its_lease_before_it_runs_out(node: OneNode) -> None:
    replica = node.replica("a")
    first = replica.machine.lease
    node.advance(node.core.options.lease_ms)
    assert replica.machine.lease.sequence == first.sequence
    assert replica.machine.lease.expiration > first.expiration
    assert replica.serving(node.now())


# ====================================================================== the timestamp cache
def test_a_write_below_a_served_read_is_pushed_above_it(node: OneNode) -> None:
    t = node.now()
    read = node.batch("a", Get("a"), txn=meta("reader", ts(t.wall + 50)))
    assert read.error is None
    put = node.batch("a", Put("a", b"1", 1), txn=meta("writer", t))
    assert isinstance(put.results[0], PutResult)
    assert put.results[0].ts > ts(t.wall + 50)


def test_a_transaction_is_not_pushed_by_its_own_read(node: OneNode) -> None:
    t = node.now()
    node.batch("a", Get("a"), txn=meta("t1", t))
    put = node.batch("a", Put("a", b"1", 1), txn=meta("t1", t))
    assert put.results[0].ts == t


def test_a_replayed_write_stays_where_it_landed(node: OneNode) -> None:
    """A Put resent after its reply was lost must not move the intent up: a STAGING
    record counting it could already be implicitly committed (seed 15 of the first
    list-append sweep found this)."""
    t = node.now()
    first = node.batch("a", Put("a", b"1", 1), txn=meta("t1", t))
    replica = node.replica("a")  # the cache now starts above the intent (as after a
    replica.tscache, replica.serving_sequence = None, -1  # lease moved: seed 15's case)
    replay = node.batch("a", Put("a", b"1", 1), txn=meta("t1", t))
    assert replay.results[0].ts == first.results[0].ts == t
    assert node.replica("a").machine.mvcc.intent("a").ts == t


def test_a_write_after_a_newer_commit_is_too_old(node: OneNode) -> None:
    assert node.transact(("w", "a", 1)).error is None
    put = node.batch("a", Put("a", b"2", 1), txn=meta("late", ts(5)))
    assert put.results[0].too_old
    assert put.results[0].ts > node.replica("a").machine.mvcc.versions("a")[0].ts


# ====================================================================== clocks
def test_a_value_in_the_uncertainty_interval_restarts_the_read(node: OneNode) -> None:
    assert node.transact(("w", "a", 1)).error is None
    committed = node.replica("a").machine.mvcc.versions("a")[0].ts
    offset = node.core.options.max_offset_ms
    inside = node.batch("a", Get("a"), txn=meta("r1", ts(committed.wall - offset,
                                                          committed.logical)))
    assert inside.error is not None and inside.error.kind == "uncertainty"
    assert inside.error.ts == committed
    below = node.batch("a", Get("a"), txn=meta("r2", ts(committed.wall - offset - 1,
                                                         committed.logical)))
    assert below.error is None and below.results == (None,)


def test_a_request_from_a_clock_beyond_the_bound_is_refused(node: OneNode) -> None:
    offset = node.core.options.max_offset_ms
    physical = node.core.physical()
    ahead = node.batch("a", Get("a"), now=ts(physical + offset + 5))
    assert ahead.error is not None and ahead.error.kind == "clock-offset"
    assert node.core.clock_refusals == 1
    within = node.batch("a", Get("a"), now=ts(physical))
    assert within.error is None


# ====================================================================== records
def test_an_aborted_record_refuses_to_be_staged(node: OneNode) -> None:
    t = node.now()
    node.batch("a", EndTxn("t1", TxnStatus.ABORTED, 0, t))
    staged = node.batch("a", EndTxn("t1", TxnStatus.STAGING, 0, t, (Write("a", 1),)))
    assert staged.error is not None and staged.error.kind == "txn-aborted"


def test_staging_twice_at_the_same_timestamp_is_a_replay(node: OneNode) -> None:
    t = node.now()
    end = EndTxn("t1", TxnStatus.STAGING, 0, t, (Write("a", 1),))
    first = node.batch("a", end)
    again = node.batch("a", end)
    assert first.error is None and again.error is None
    assert again.results[0] == first.results[0]


def test_aborting_a_committed_record_answers_committed(node: OneNode) -> None:
    t = node.now()
    node.batch("a", EndTxn("t1", TxnStatus.PENDING, 0, t))
    node.batch("a", EndTxn("t1", TxnStatus.COMMITTED, 0, t))
    answer = node.batch("a", EndTxn("t1", TxnStatus.ABORTED, 0, t))
    assert answer.error is None and answer.results[0].status is TxnStatus.COMMITTED


def test_a_push_aborts_an_abandoned_transaction_without_a_record(node: OneNode) -> None:
    ttl = node.core.options.txn_ttl_ms
    young = node.batch("a", Push(meta("t1", node.now())))
    assert young.results == (None,)  # alive, maybe: wait
    node.advance(ttl + 20)
    old = node.batch("a", Push(meta("t1", ts(node.now().wall - ttl - 10))))
    assert old.results[0].status is TxnStatus.ABORTED
    staged = node.batch("a", EndTxn("t1", TxnStatus.STAGING, 0, node.now(),
                                    (Write("a", 1),)))
    assert staged.error is not None and staged.error.kind == "txn-aborted"


def test_a_push_aborts_an_expired_pending_record_only(node: OneNode) -> None:
    node.batch("a", EndTxn("t1", TxnStatus.PENDING, 0, node.now()))
    alive = node.batch("a", Push(meta("t1", node.now())))
    assert alive.results[0].status is TxnStatus.PENDING
    node.advance(node.core.options.txn_ttl_ms + 20)
    expired = node.batch("a", Push(meta("t1", node.now())))
    assert expired.results[0].status is TxnStatus.ABORTED


# ====================================================================== status resolution
def test_a_query_that_finds_nothing_prevents_the_late_write(node: OneNode) -> None:
    t = node.now()
    query = node.batch("a", QueryIntent("t1", Write("a", 1), 0, t))
    assert query.results == (False,)
    late = node.batch("a", Put("a", b"1", 1), txn=meta("t1", t))
    assert late.results[0].ts > t  # above the record's timestamp: it can never count


def test_a_query_finds_an_intent_at_or_below_the_record(node: OneNode) -> None:
    t = node.now()
    node.batch("a", Put("a", b"1", 1), txn=meta("t1", t))
    assert node.batch("a", QueryIntent("t1", Write("a", 1), 0, t)).results == (True,)
    assert node.batch("a", QueryIntent("t1", Write("a", 1), 1, t)).results == (False,)


def _abandon_staged(node: OneNode, keys: list[str], laid: list[str]) -> HLCTimestamp:
    """A coordinator that staged a transaction writing ``keys`` and died after laying
    only the intents of ``laid``."""
    t = node.now()
    txn = meta("dead", t, anchor=keys[0])
    in_flight = tuple(Write(k, i + 1) for i, k in enumerate(keys))
    for w in in_flight:
        if w.key in laid:
            node.batch(w.key, Put(w.key, encode_value(7), w.seq), txn=txn)
    node.batch(keys[0], EndTxn("dead", TxnStatus.STAGING, 0, t, in_flight), txn=txn)
    return t


def test_a_reader_recovers_an_abandoned_implicitly_committed_transaction(node: OneNode
                                                                         ) -> None:
    _abandon_staged(node, ["a", "q"], laid=["a", "q"])
    answer = node.transact(("r", "q"))
    assert answer.error is None and answer.result == (Read("q", (7,), True),)
    record = node.replica("a").machine.records["dead"]
    assert record.status is TxnStatus.COMMITTED
    assert node.core.coordinator.stats["recoveries"] == 1


def test_a_reader_aborts_an_abandoned_transaction_missing_a_write(node: OneNode) -> None:
    t = _abandon_staged(node, ["a", "q"], laid=["q"])
    answer = node.transact(("r", "q"))
    assert answer.error is None and answer.result == (Read("q"),)
    assert node.replica("a").machine.records["dead"].status is TxnStatus.ABORTED
    late = node.batch("a", Put("a", encode_value(7), 1), txn=meta("dead", t, anchor="a"))
    assert late.results[0].ts > t  # prevented: it can never make the record committed


# ====================================================================== the coordinator
def test_a_transaction_reads_what_an_earlier_one_wrote(node: OneNode) -> None:
    assert node.transact(("w", "a", 1), ("append", "q", 5)).error is None
    answer = node.transact(("r", "a"), ("r", "q"), ("add", "a", 2), ("r", "a"))
    assert answer.result == (Read("a", (1,), True), Read("q", (5,), True, True),
                             Read("a", (3,), True))


def test_a_balance_never_goes_below_zero(node: OneNode) -> None:
    answer = node.transact(("add", "a", -1))
    assert isinstance(answer.error, Aborted)
    assert node.transact(("r", "a")).result == (Read("a"),)


def _rounds(**options: Any) -> int:
    """Raft rounds (persists) between a write transaction's submission and its answer
    (the Ready carrying the answer may carry the next round's first persist too: the
    explicit commit, proposed as the client is answered)."""
    node = OneNode(**options)
    rid = "x"
    node.core.submit(rid, Transact(ops(("w", "a", 1), ("w", "q", 2))))
    rounds = 0
    for _ in range(200):
        r = node.core.ready()
        if any(a.request_id == rid for a in r.answers):
            return rounds
        if r.persist:
            rounds += 1
            node.core.on_persisted()
        if not r.persist:
            node.step()
    raise AssertionError("no answer")


def test_parallel_commits_answer_one_consensus_round_before_the_two_round_commit() -> None:
    parallel, two_round = _rounds(), _rounds(commit="two-round")
    assert (parallel, two_round) == (1, 2)


def _skew(isolation: str) -> tuple[Any, Any]:
    """Two transactions, each reading both keys and appending to one, at once."""
    node = OneNode(isolation=isolation)
    node.core.submit("t1", Transact(ops(("r", "a"), ("r", "q"), ("append", "a", 1))))
    node.core.submit("t2", Transact(ops(("r", "a"), ("r", "q"), ("append", "q", 1))))
    node.run_until(lambda: {"t1", "t2"} <= set(node.answers))
    return node.answers["t1"], node.answers["t2"]


def test_snapshot_isolation_lets_write_skew_through() -> None:
    t1, t2 = _skew("snapshot")
    assert t1.error is None and t2.error is None
    # each read the other's key empty, and both committed: no serial order explains it
    assert t1.result[1] == Read("q") and t2.result[0] == Read("a")


def test_serializable_isolation_does_not() -> None:
    t1, t2 = _skew("serializable")
    assert t1.error is None and t2.error is None
    assert t1.result[1] != Read("q") or t2.result[0] != Read("a")


def test_the_lease_and_a_pushed_intent_are_replayed_from_the_log() -> None:
    """Followers apply what the leaseholder evaluated: the same commands, the same state."""
    node = OneNode()
    assert node.transact(("w", "a", 1)).error is None
    replica = node.replica("a")
    again = RangeMachine(replica.desc)
    for entry in replica.raft.log.entries():
        if entry.kind.name == "NORMAL":
            again.execute(decode(entry.command))
    assert again.lease == replica.machine.lease
    assert again.records == replica.machine.records
    assert again.mvcc.versions("a") == replica.machine.mvcc.versions("a")


def test_a_txn_meta_keeps_its_write_sequence() -> None:
    m = meta("t", ts(1))
    assert replace(m, seq=3).seq == 3 and m.seq == 0


def test_a_read_waits_for_a_write_in_raft_on_its_key(node: OneNode) -> None:
    """Latches: a Get evaluated while a Put on its key is in Raft would read the state
    without that intent, and record a read above it that the intent, once applied,
    sits under. It waits, then meets the intent."""
    t = node.now()
    got: list[Any] = []
    rid = node.range("a").range_id
    put = BatchRequest(rid, Header(t, meta("w", t), t), (Put("a", b"1", 1),))
    get = BatchRequest(rid, Header(t, meta("r", ts(t.wall + 50)), ts(t.wall + 50)),
                       (Get("a"),))
    node.core._send_batch("n1", put, got.append)  # both before the Put is applied
    node.core._send_batch("n1", get, got.append)
    node.run_until(lambda: len(got) == 2)
    assert got[1].error is not None and got[1].error.kind == "write-intent"


def test_no_attempt_starts_once_the_client_has_given_up(node: OneNode) -> None:
    """A transaction waiting on a live one's intent is refused at ``txn_timeout_ms``:
    its client gives up about then, and must not see it start again later."""
    t = node.now()
    node.batch("a", Put("a", b"1", 1), txn=meta("other", t))
    node.batch("a", EndTxn("other", TxnStatus.PENDING, 0, t))
    rid = "reader"
    node.core.submit(rid, Transact(ops(("r", "a"))))
    start = node.now().wall
    while rid not in node.answers:
        node.advance(100)
        node.batch("a", Heartbeat("other"))
        assert node.now().wall - start < 3000, "still waiting"
    answer = node.answers[rid]
    assert isinstance(answer.error, Aborted) and "within" in str(answer.error)
    # the check runs at each retry, and retries back off by up to 8 x 5 ticks (x2)
    assert node.now().wall - start <= node.core.options.txn_timeout_ms + 800


def test_a_write_landing_after_its_transaction_committed_is_discarded(node: OneNode
                                                                        ) -> None:
    """A Put resent after its reply was lost may land after its transaction committed
    and its intent was resolved: a new intent, above the record. Resolving it as
    committed would move the value above its commit; it is a stale copy: discarded
    (bank seed 193 of the second sweep)."""
    t = node.now()
    txn = meta("t1", t)
    node.batch("a", Put("a", b"1", 1), txn=txn)
    node.batch("a", EndTxn("t1", TxnStatus.PENDING, 0, t))
    node.batch("a", EndTxn("t1", TxnStatus.COMMITTED, 0, t))
    node.batch("a", Resolve("a", "t1", TxnStatus.COMMITTED, t, 0))
    late = node.batch("a", Put("a", b"1", 1), txn=txn)
    assert late.results[0].ts > t  # above the committed version: a new intent
    resolved = node.batch("a", Resolve("a", "t1", TxnStatus.COMMITTED, t, 0))
    assert resolved.error is None
    mvcc = node.replica("a").machine.mvcc
    assert mvcc.intent("a") is None and [v.ts for v in mvcc.versions("a")] == [t]


def test_a_blind_write_stopped_by_an_abandoned_intent_pushes_it(node: OneNode) -> None:
    """A transaction that only writes reads nothing, so only its own push can clear an
    intent left by a coordinator that died (bank seeds 110, 131, ...: the seed write
    restarted forever)."""
    node.batch("a", Put("a", b"7", 1), txn=meta("dead", node.now()))
    node.advance(node.core.options.txn_ttl_ms + 50)
    answer = node.transact(("w", "a", 5))
    assert answer.error is None
    assert node.transact(("r", "a")).result == (Read("a", (5,), True),)
