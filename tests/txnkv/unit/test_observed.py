"""The TLA+ model's properties as checked on processes (``protocols.txnkv.observed``):
each violation planted in a run's notes is named; a restart's replay is not one."""

from __future__ import annotations

from typing import Any

from protocols.clocks.hlc import HLCTimestamp
from protocols.txnkv.messages import PutRecordEffect, WriteBatch
from protocols.txnkv.observed import ack_note, prevented_note, record_note, violations
from protocols.txnkv.ranges import RangeDescriptor
from protocols.txnkv.record import TxnRecord, TxnStatus, Write
from protocols.txnkv.replica import RangeMachine

STAGING = TxnRecord("t1", TxnStatus.STAGING, 0, HLCTimestamp(5, 0), (Write("a", 1),))
COMMITTED = TxnRecord("t1", TxnStatus.COMMITTED, 0, HLCTimestamp(5, 0), (Write("a", 1),))
ABORTED = TxnRecord("t1", TxnStatus.ABORTED, 0, HLCTimestamp(5, 0), (Write("a", 1),))


def note(node: str, text: str) -> dict[str, Any]:
    return {"t": 0.0, "node": node, "kind": "note", "text": text}


def applied(node: str, record: TxnRecord) -> dict[str, Any]:
    return note(node, record_note("r1", record))


def start(node: str) -> dict[str, Any]:
    return {"t": 0.0, "node": node, "kind": "start"}


def test_a_commit_seen_on_every_replica_and_acknowledged_is_clean() -> None:
    events = [applied(n, r) for r in (STAGING, COMMITTED) for n in ("n1", "n2", "n3")]
    assert violations([*events, note("n3", ack_note("t1"))], final=True) == []


def test_a_restart_replaying_the_log_is_not_a_change() -> None:
    events = [applied("n2", STAGING), applied("n2", COMMITTED), start("n2"),
              applied("n2", STAGING), applied("n2", COMMITTED)]
    assert violations(events) == []


def test_a_finalized_record_that_changes_on_a_replica_is_caught() -> None:
    (v,) = violations([applied("n1", COMMITTED), applied("n1", STAGING)])
    assert v.startswith("a finalized record changed at n1: t1 was committed")


def test_a_record_finalized_two_ways_is_caught() -> None:
    (v,) = violations([applied("n1", COMMITTED), applied("n2", ABORTED)])
    assert v.startswith("finalized two ways: t1 committed at n1, aborted at n2")


def test_an_acknowledged_transaction_aborted_is_caught() -> None:
    (v,) = violations([note("n3", ack_note("t1")), applied("n1", STAGING),
                       applied("n1", ABORTED)])
    assert v == "acknowledged to its client by n3, then aborted: t1 (at n1)"


def test_a_commit_at_an_attempt_whose_write_was_prevented_is_caught() -> None:
    prevented = note("n2", prevented_note("t1", 0, HLCTimestamp(5, 0), "a"))
    (v,) = violations([applied("n1", STAGING), prevented, applied("n1", COMMITTED)])
    assert v.startswith("committed at an attempt whose write of 'a' n2 prevented: t1")
    later = note("n2", prevented_note("t1", 0, HLCTimestamp(6, 0), "a"))  # another attempt
    assert violations([applied("n1", STAGING), later, applied("n1", COMMITTED)]) == []
    # after the commit: a recovery from a stale view, too late to matter
    assert violations([applied("n1", STAGING), applied("n1", COMMITTED), prevented]) == []


def test_an_acknowledged_transaction_never_committed_is_caught_at_the_end_only() -> None:
    events = [note("n3", ack_note("t1")), applied("n1", STAGING)]
    assert violations(events) == []  # it may still be committed
    (v,) = violations(events, final=True)
    assert v == "acknowledged to its client by n3, and no replica ever committed its record: t1"


def test_a_heartbeat_is_not_a_transition() -> None:
    """The replica notes a record only when more than its heartbeat changed."""
    machine = RangeMachine(RangeDescriptor("r1", "", None, ("n1",)))
    beat = TxnRecord("t1", TxnStatus.PENDING, 0, HLCTimestamp(5, 0), (),
                     HLCTimestamp(9, 0))
    for record in (TxnRecord("t1", TxnStatus.PENDING, 0, HLCTimestamp(5, 0)), beat,
                   COMMITTED):
        machine.execute(WriteBatch(0, (PutRecordEffect(record),)))
    assert [r.status for r in machine.transitions] == [TxnStatus.PENDING,
                                                      TxnStatus.COMMITTED]
