"""The transaction record's rules, one test per rule (``protocols.txnkv.record``;
CockroachDB RFC 20180324 "Parallel Commits" and its TLA+ model)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from protocols.clocks.hlc import HLCTimestamp
from protocols.txnkv.record import (
    IllegalTransition,
    Intent,
    QueryOutcome,
    Recovery,
    TxnRecord,
    TxnStatus,
    Write,
    WriteOutcome,
    WriteSlot,
    abort,
    ack_allowed,
    commit,
    counts,
    expired,
    heartbeat,
    implicitly_committed,
    stage,
)

T1, T2, T3 = HLCTimestamp(10), HLCTimestamp(20), HLCTimestamp(30)
W1, W2 = Write("a", 1), Write("b", 2)


def pending() -> TxnRecord:
    return TxnRecord.begin("t1", T2, now=HLCTimestamp(5))


def staging(epoch: int = 0, ts: HLCTimestamp = T2) -> TxnRecord:
    return stage(pending(), [W1, W2], epoch=epoch, write_ts=ts)


def intent(w: Write, epoch: int = 0, ts: HLCTimestamp = T2) -> Intent:
    return Intent(w.key, w.seq, epoch, ts)


# ------------------------------------------------------------------ transitions

def test_pending_stages_then_commits_or_aborts() -> None:
    s = staging()
    assert s.status is TxnStatus.STAGING and s.in_flight == (W1, W2)
    assert commit(s).status is TxnStatus.COMMITTED
    assert abort(s).status is TxnStatus.ABORTED


def test_two_round_commit_from_pending() -> None:
    assert commit(pending()).status is TxnStatus.COMMITTED
    assert abort(pending()).status is TxnStatus.ABORTED


@pytest.mark.parametrize("final", [commit, abort])
@pytest.mark.parametrize("move", [
    lambda r: commit(r), lambda r: abort(r), lambda r: stage(r, [W1], write_ts=T3),
    lambda r: heartbeat(r, T3)], ids=["commit", "abort", "stage", "heartbeat"])
def test_finalized_record_never_changes(final: Callable[[TxnRecord], TxnRecord],
                                        move: Callable[[TxnRecord], object]) -> None:
    done = final(staging())
    with pytest.raises(IllegalTransition, match="never changes"):
        move(done)
    assert done.status.finalized


def test_staging_needs_in_flight_writes() -> None:
    with pytest.raises(IllegalTransition, match="in-flight"):
        stage(pending(), [])
    with pytest.raises(ValueError):
        TxnRecord("t", TxnStatus.STAGING)
    with pytest.raises(ValueError):
        TxnRecord("t", TxnStatus.PENDING, in_flight=(W1,))


def test_refresh_only_grows() -> None:
    s = staging(epoch=1, ts=T2)
    assert stage(s, [W1, W2], write_ts=T3).write_ts == T3          # a refresh
    assert stage(s, [W1, W2], epoch=2).epoch == 2                  # a restart
    with pytest.raises(IllegalTransition, match="higher epoch or timestamp"):
        stage(s, [W1, W2])                                         # same attempt
    with pytest.raises(IllegalTransition, match="only grow"):
        stage(s, [W1, W2], write_ts=T1)                            # timestamp down
    with pytest.raises(IllegalTransition, match="only grow"):
        stage(s, [W1, W2], epoch=0, write_ts=T3)                   # epoch down


def test_stage_from_pending_does_not_go_below_the_record() -> None:
    with pytest.raises(IllegalTransition, match="only grow"):
        stage(pending(), [W1], write_ts=T1)


def test_heartbeat_only_moves_forward_and_expiry() -> None:
    r = heartbeat(pending(), HLCTimestamp(50))
    assert heartbeat(r, HLCTimestamp(40)).last_heartbeat == HLCTimestamp(50)
    assert not expired(r, HLCTimestamp(55), ttl=10)
    assert expired(r, HLCTimestamp(61), ttl=10)
    assert not expired(commit(r), HLCTimestamp(99), ttl=10)


# ------------------------------------------------------------------ implicit commit

def test_implicit_commit_needs_every_write() -> None:
    s = staging()
    assert not implicitly_committed(s, [intent(W1)])
    assert implicitly_committed(s, [intent(W1), intent(W2)])


def test_implicit_commit_needs_staging() -> None:
    assert not implicitly_committed(pending(), [intent(W1), intent(W2)])
    assert not implicitly_committed(abort(staging()), [intent(W1), intent(W2)])


def test_write_pushed_above_the_record_does_not_count() -> None:
    """An intent above the record's timestamp was pushed: it cannot commit at it."""
    s = staging(ts=T2)
    assert not counts(s, W2, intent(W2, ts=T3))
    assert not implicitly_committed(s, [intent(W1), intent(W2, ts=T3)])


def test_write_of_an_earlier_epoch_does_not_count() -> None:
    """An intent left by an attempt the transaction restarted (lower epoch, lower
    timestamp) does not count for the new attempt."""
    s = staging(epoch=1, ts=T3)
    assert not counts(s, W2, intent(W2, epoch=0, ts=T2))
    assert not implicitly_committed(s, [intent(W1, epoch=1, ts=T3),
                                        intent(W2, epoch=0, ts=T2)])


def test_write_below_the_record_in_its_epoch_counts() -> None:
    """The TLA+ model's ``ImplicitCommit``: ``intent.ts <= record.ts`` in the same epoch
    (a refresh moves the record up without rewriting what already landed)."""
    s = stage(staging(ts=T2), [W1, W2], write_ts=T3)
    assert implicitly_committed(s, [intent(W1, ts=T2), intent(W2, ts=T3)])


def test_later_sequence_of_the_same_key_stands_for_an_earlier_one() -> None:
    s = staging()
    assert counts(s, W1, Intent("a", 5, 0, T2))
    assert not counts(s, W1, Intent("a", 0, 0, T2))
    assert not counts(s, W1, Intent("z", 1, 0, T2))


def test_ack_allowed() -> None:
    s = staging()
    assert not ack_allowed(s, [intent(W1)])
    assert ack_allowed(s, [intent(W1), intent(W2)])
    assert ack_allowed(commit(pending()), [])
    assert not ack_allowed(pending(), [intent(W1), intent(W2)])
    assert not ack_allowed(abort(s), [intent(W1), intent(W2)])


# ------------------------------------------------------------------ the race on a key

def test_prevent_then_late_write_is_refused() -> None:
    slot = WriteSlot("b")
    assert slot.query_and_prevent(2, 0, T2) is QueryOutcome.PREVENTED
    assert slot.write(2, 0, T2) is WriteOutcome.REFUSED    # at the prevented timestamp
    assert slot.write(2, 0, T1) is WriteOutcome.REFUSED    # or below
    assert slot.write(2, 0, T3) is WriteOutcome.OK         # above: a new attempt's write
    assert slot.prevented_to == T2


def test_write_then_query_finds_it() -> None:
    slot = WriteSlot("b")
    assert slot.write(2, 0, T2) is WriteOutcome.OK
    assert slot.query_and_prevent(2, 0, T2) is QueryOutcome.FOUND
    assert slot.prevented_to is None


def test_query_at_a_lower_timestamp_than_the_intent_prevents() -> None:
    slot = WriteSlot("b")
    slot.write(2, 0, T3)
    assert slot.query_and_prevent(2, 0, T2) is QueryOutcome.PREVENTED


def test_prevent_marker_only_grows() -> None:
    slot = WriteSlot("b")
    slot.query_and_prevent(2, 0, T3)
    slot.query_and_prevent(2, 0, T1)
    assert slot.prevented_to == T3


def test_stale_epoch_write_refused() -> None:
    slot = WriteSlot("b")
    slot.write(2, 1, T2)
    assert slot.write(2, 0, T3) is WriteOutcome.REFUSED


# ------------------------------------------------------------------ recovery

def test_recovery_all_found_commits() -> None:
    s = staging()
    rec = Recovery(s)
    assert rec.pending() == [W1, W2]
    rec.on_write("a", 1, QueryOutcome.FOUND)
    assert rec.decision() is None
    rec.on_write("b", 2, QueryOutcome.FOUND)
    assert rec.decision() is TxnStatus.COMMITTED
    assert rec.finish(s).status is TxnStatus.COMMITTED


def test_recovery_any_prevented_aborts() -> None:
    s = staging()
    rec = Recovery(s)
    rec.on_write("b", 2, QueryOutcome.PREVENTED)
    assert rec.pending() == [] and rec.decision() is TxnStatus.ABORTED
    assert rec.finish(s).status is TxnStatus.ABORTED


def test_recovery_of_a_refreshed_record_restarts() -> None:
    s = staging(ts=T2)
    rec = Recovery(s)
    rec.on_write("b", 2, QueryOutcome.PREVENTED)
    moved = stage(s, [W1, W2], write_ts=T3)
    assert rec.finish(moved) == moved                       # unchanged: recover it anew


def test_recovery_leaves_a_finalized_record_alone() -> None:
    s = staging()
    rec = Recovery(s)
    rec.on_write("b", 2, QueryOutcome.PREVENTED)
    done = commit(s)
    assert rec.finish(done) == done


def test_recovery_refuses_misuse() -> None:
    with pytest.raises(IllegalTransition):
        Recovery(pending())
    rec = Recovery(staging())
    with pytest.raises(IllegalTransition, match="unanswered"):
        rec.finish(staging())
    with pytest.raises(ValueError, match="not an in-flight write"):
        rec.on_write("z", 9, QueryOutcome.FOUND)


def test_recovery_through_slots() -> None:
    """The whole procedure over two keys: one write landed, the other prevented; the
    late write is then refused, and the record aborted."""
    s = staging()
    slots = {"a": WriteSlot("a"), "b": WriteSlot("b")}
    assert slots["a"].write(1, 0, T2) is WriteOutcome.OK
    rec = Recovery(s)
    for w in rec.pending():
        rec.on_write(w.key, w.seq, slots[w.key].query_and_prevent(w.seq, s.epoch, s.write_ts))
    assert rec.decision() is TxnStatus.ABORTED
    assert slots["b"].write(2, 0, T2) is WriteOutcome.REFUSED
    assert rec.finish(s).status is TxnStatus.ABORTED
