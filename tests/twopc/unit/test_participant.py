"""A participant alone (protocols.twopc.participant), fed messages by hand: its work,
its locks (conservative strict 2PL with wait-die and a lock timeout), its vote and its
recovery from what it forced."""

from __future__ import annotations

from protocols.common.ids import NodeId
from protocols.contract import Ready
from protocols.twopc.messages import Decision, Inquiry, MicroOp, Outcome, Prepare, Vote, VoteKind
from protocols.twopc.participant import Participant, execute
from protocols.twopc.storage import Prepared, Recovered
from protocols.twopc.table import Mode, State
from tests.twopc.harness import Box

C = NodeId("n1")


def participant(recovered: Recovered | None = None, lock_timeout: int = 3
                ) -> tuple[Participant, Box]:
    box = Box()
    return Participant(NodeId("n2"), Mode(), recovered or Recovered(), box, lock_timeout,
                       5), box


def prepare(txn: str, *ops: tuple[str, str, int], ts: int = 1) -> Prepare:
    return Prepare(txn, tuple(MicroOp(*op) for op in ops), ("n2", "n3"), ts=ts)


def votes(out: Ready) -> list[tuple[str, VoteKind]]:
    return [(m.msg.txn, m.msg.vote) for m in out.messages if isinstance(m.msg, Vote)]


def test_execute_sees_its_own_writes_and_keeps_counters_non_negative() -> None:
    w = execute({"a": 5, "l": (1,)}, (MicroOp("add", "a", -2), MicroOp("r", "a"),
                                      MicroOp("append", "l", 2), MicroOp("r", "l")))
    assert [r.values for r in w.reads] == [(3,), (1, 2)] and w.writes == (("a", 3),
                                                                          ("l", (1, 2)))
    assert "below zero" in execute({"a": 1}, (MicroOp("add", "a", -2),)).failed


def test_yes_is_voted_after_prepared_is_forced_and_locks_are_held_until_the_outcome(
        ) -> None:
    p, box = participant()
    p.on_prepare(C, prepare("t1", ("w", "x", 1), ("r", "y", 0)))
    out = box.take()
    assert [type(r) for r in out.persist] == [Prepared] and votes(out) == [("t1", VoteKind.YES)]
    assert p.locks.holds("t1") and p.state_of("t1") is State.PREPARED
    p.on_decision(C, Decision("t1", True))
    assert p.data == {"x": 1} and not p.locks.holds("t1") and p.outcomes == {"t1": True}


def test_wait_die_the_older_waits_the_younger_dies_and_a_wait_times_out() -> None:
    p, box = participant(lock_timeout=3)
    p.on_prepare(C, prepare("mid", ("w", "x", 1), ts=5))
    box.take()
    p.on_prepare(C, prepare("young", ("w", "x", 2), ts=9))  # younger than the holder: dies
    assert votes(box.take()) == [("young", VoteKind.NO)]
    p.on_prepare(C, prepare("old", ("w", "x", 3), ts=1))  # older: waits, holding nothing
    assert votes(box.take()) == [] and p.state_of("old") is State.WORKING
    for _ in range(3):
        p.tick()
    out = box.take()
    assert votes(out) == [("old", VoteKind.NO)]
    assert "not granted in 3 ticks" in out.messages[0].msg.why


def test_a_waiting_transaction_is_granted_when_the_holder_finishes() -> None:
    p, box = participant(lock_timeout=100)
    p.on_prepare(C, prepare("holder", ("w", "x", 1), ts=5))
    p.on_prepare(C, prepare("old", ("append", "x", 3), ts=1))
    box.take()
    p.on_decision(C, Decision("holder", False))  # aborted: its write never installed
    assert votes(box.take()) == [("old", VoteKind.YES)] and p.locks.holds("old")


def test_a_peer_that_has_not_voted_aborts_when_asked_and_remembers_it() -> None:
    """Cooperative termination (BHG §7.4): asked by an uncertain peer before voting, it
    aborts, forces that, and answers; its vote can then never be YES."""
    p, box = participant()
    p.on_inquiry(NodeId("n3"), Inquiry("t9"))
    out = box.take()
    assert [type(r).__name__ for r in out.persist] == ["Aborted"]
    assert [(m.dst, m.msg) for m in out.messages] == [("n3", Outcome("t9", "aborted"))]
    p.on_prepare(C, prepare("t9", ("w", "x", 1)))
    assert votes(box.take()) == [] and "x" not in p.data


def test_recovery_relocks_an_in_doubt_transaction_and_asks() -> None:
    rec = Recovered(in_doubt={})
    from protocols.twopc.storage import InDoubt
    rec.in_doubt["t1"] = InDoubt(Prepared("t1", "n1", ("n2", "n3"), (("x", 7),), (), 4))
    p, box = participant(rec)
    assert p.in_doubt() == ["t1"] and p.locks.holds("t1")
    p.on_prepare(C, prepare("t2", ("r", "x", 0), ts=9))  # younger, meets it: dies
    assert votes(box.take()) == [("t2", VoteKind.NO)]
    for _ in range(5):
        p.tick()
    asked = sorted(m.dst for m in box.take().messages if isinstance(m.msg, Inquiry))
    assert asked == ["n1", "n3"]
    p.on_outcome(NodeId("n3"), Outcome("t1", "committed"))
    assert p.data == {"x": 7} and not p.in_doubt()
