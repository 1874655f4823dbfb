"""Three-phase commit's rules (Skeen, "Nonblocking Commit Protocols", SIGMOD 1981; BHG
§7.5), one side at a time, fed messages by hand: the coordinator's PRECOMMIT phase, a
participant's PRECOMMITTED record, and the termination protocol's election and rule."""

from __future__ import annotations

from typing import Any

import pytest

from protocols.common.errors import ConfigError
from protocols.common.ids import NodeId
from protocols.contract import Ready
from protocols.twopc.coordinator import Coordinator, shard_of
from protocols.twopc.core import TwoPcOptions
from protocols.twopc.messages import (
    Decision,
    MicroOp,
    PreCommit,
    PreCommitAck,
    Prepare,
    StateReport,
    StateRequest,
    Transact,
    Vote,
    VoteKind,
)
from protocols.twopc.participant import Participant
from protocols.twopc.storage import Decided, InDoubt, PreCommitted, Prepared, Recovered
from protocols.twopc.table import Action, Event, Mode, State, participant_table
from tests.twopc.harness import Box

THREE = Mode(three_phase=True)
C = NodeId("n1")
PEERS = ("n2", "n3", "n4")
TERMINATION = 4


def sent(out: Ready) -> list[tuple[str, Any]]:
    return [(str(m.dst), m.msg) for m in out.messages]


# ====================================================================== a participant
def participant(me: str = "n2", recovered: Recovered | None = None
                ) -> tuple[Participant, Box]:
    box = Box()
    return Participant(NodeId(me), THREE, recovered or Recovered(), box, 3, 5,
                       TERMINATION), box


def prepared(me: str = "n2") -> tuple[Participant, Box]:
    p, box = participant(me)
    p.on_prepare(C, Prepare("t", (MicroOp("w", "x", 1),), PEERS, ts=1))
    box.take()
    return p, box


def timeout(p: Participant) -> None:
    for _ in range(TERMINATION):
        p.tick()


def test_precommitted_is_forced_before_the_ack() -> None:
    """Skeen's PRECOMMITTED is a promise that every vote was YES, which the termination
    protocol relies on after a crash: forced before it is acknowledged, recovered as
    PRECOMMITTED."""
    p, box = prepared()
    p.on_precommit(C, PreCommit("t"))
    out = box.take()
    assert out.persist == [PreCommitted("t")] and sent(out) == [("n1", PreCommitAck("t"))]
    assert p.state_of("t") is State.PRECOMMITTED and p.locks.holds("t")
    rec = Recovered(in_doubt={"t": InDoubt(Prepared("t", "n1", PEERS, (("x", 1),)),
                                          precommitted=True)})
    q, _ = participant(recovered=rec)
    assert q.state_of("t") is State.PRECOMMITTED and q.in_doubt() == ["t"]


def test_a_silent_coordinator_starts_the_termination_protocol() -> None:
    """3PC does not block: at the timeout a PREPARED participant asks its peers for
    their states (2PC's would ask and wait)."""
    p, box = prepared()
    timeout(p)
    assert sent(box.take()) == [("n3", StateRequest("t")), ("n4", StateRequest("t"))]
    assert p.state_of("t") is State.PREPARED


def elect(reports: dict[str, str], me: str = "n2", mine: State = State.PREPARED
          ) -> tuple[Participant, Box]:
    p, box = prepared(me)
    if mine is State.PRECOMMITTED:
        p.on_precommit(C, PreCommit("t"))
    timeout(p)
    box.take()
    for n, s in reports.items():
        p.on_state_report(NodeId(n), StateReport("t", s))
    return p, box


def test_all_uncertain_aborts() -> None:
    """Skeen's rule: nobody PRECOMMITTED, so the coordinator cannot have committed."""
    p, box = elect({"n3": "prepared", "n4": "prepared"})
    out = box.take()
    assert p.outcomes == {"t": False} and not p.locks.holds("t")
    assert [m for m in sent(out) if isinstance(m[1], Decision)] == [
        ("n3", Decision("t", False)), ("n4", Decision("t", False))]


def test_any_precommitted_precommits_the_uncertain_then_commits() -> None:
    """Skeen's rule: someone PRECOMMITTED means every vote was YES, so nobody aborted:
    the elected participant PRECOMMITs itself and the uncertain ones, and commits once
    they acknowledged (so a later election, should it die, still finds a PRECOMMITTED
    one)."""
    p, box = elect({"n3": "precommitted", "n4": "prepared"})
    out = box.take()
    assert out.persist == [PreCommitted("t")] and sent(out) == [("n4", PreCommit("t"))]
    assert p.state_of("t") is State.PRECOMMITTED and p.leads("t")
    p.on_precommit_ack(NodeId("n4"), PreCommitAck("t"))
    out = box.take()
    assert p.outcomes == {"t": True} and p.data == {"x": 1}
    assert [m for m in sent(out) if isinstance(m[1], Decision)] == [
        ("n3", Decision("t", True)), ("n4", Decision("t", True))]


def test_an_elected_participant_missing_a_precommit_ack_commits_at_its_timeout() -> None:
    p, box = elect({"n3": "prepared", "n4": "prepared"}, mine=State.PRECOMMITTED)
    assert sent(box.take()) == [("n3", PreCommit("t")), ("n4", PreCommit("t"))]
    p.on_precommit_ack(NodeId("n3"), PreCommitAck("t"))
    assert not p.outcomes
    timeout(p)
    assert p.outcomes == {"t": True}


def test_a_known_outcome_is_adopted() -> None:
    """Any COMMITTED (or ABORTED) state reported ends the uncertainty, elected or not."""
    p, _ = elect({"n3": "committed"}, me="n4")
    assert p.outcomes == {"t": True}
    q, _ = elect({"n4": "aborted"}, me="n3")
    assert q.outcomes == {"t": False}


def test_only_the_lowest_participant_heard_from_decides() -> None:
    """n3 hears from n2 and n4: n2 is lower, so n3 waits (and asks again at its next
    timeout, leaving out whoever fell silent); n2 hears from both and decides at once."""
    p, box = elect({"n2": "prepared", "n4": "prepared"}, me="n3")
    assert not p.outcomes and not box.take().persist
    timeout(p)  # a new round: n2 is asked again
    assert sent(box.take()) == [("n2", StateRequest("t")), ("n4", StateRequest("t"))]
    p.on_state_report(NodeId("n4"), StateReport("t", "prepared"))
    assert not p.outcomes
    timeout(p)  # n2 stayed silent this round: n3 is the lowest it hears from
    assert p.outcomes == {"t": False}


def test_a_participant_that_hears_nobody_decides_alone() -> None:
    """Skeen's model: a silent site has failed, so the operational ones decide. One that
    hears nobody is the only one, and decides from its own state: this is the rule a
    partition turns into a split decision."""
    p, _ = elect({}, mine=State.PRECOMMITTED)
    timeout(p)
    assert p.outcomes == {"t": True}
    q, _ = elect({})
    timeout(q)
    assert q.outcomes == {"t": False}


def test_a_participant_that_has_not_voted_aborts_when_asked_for_its_state() -> None:
    p, box = participant("n3")
    p.on_state_request(NodeId("n2"), StateRequest("t"))
    out = box.take()
    assert [type(r).__name__ for r in out.persist] == ["Aborted"]
    assert sent(out) == [("n2", StateReport("t", "aborted"))]


def test_a_participant_with_nothing_to_write_votes_yes_under_3pc() -> None:
    """No read-only vote in 3PC: a voter that forgot the transaction would later report
    it aborted to the termination protocol, after a commit."""
    p, box = participant()
    p.on_prepare(C, Prepare("t", (MicroOp("r", "x"),), PEERS, ts=1))
    out = box.take()
    assert [type(r) for r in out.persist] == [Prepared]
    assert [m.msg.vote for m in out.messages] == [VoteKind.YES]
    assert p.state_of("t") is State.PREPARED and p.locks.holds("t")


def test_a_3pc_coordinator_asks_nobody_for_a_read_only_vote() -> None:
    """The coordinator decides who may vote READ-ONLY (``Prepare.read_only``): under 3PC
    nobody, so every participant, the reading ones too, is PREPAREd at once and named as
    a voter (2PC would hold the reading one back to the lock point)."""
    box = Box()
    c = Coordinator(C, THREE, PEERS, Recovered(), box, vote_timeout_ticks=3,
                    resend_ticks=5)
    x, y = (next(f"k{i}" for i in range(100) if shard_of(f"k{i}", PEERS) == n)
            for n in ("n2", "n3"))
    c.submit("r1", Transact((MicroOp("w", x, 1), MicroOp("r", y))))
    prepares = [(dst, m) for dst, m in sent(box.take()) if isinstance(m, Prepare)]
    assert [dst for dst, _ in prepares] == ["n2", "n3"]
    assert all(not m.read_only and m.participants == ("n2", "n3") for _, m in prepares)


def test_the_termination_rules_are_in_the_table() -> None:
    t = participant_table(THREE)
    assert t[State.PREPARED, Event.PRECOMMIT].actions == (Action.FORCE_PRECOMMITTED,
                                                          Action.ACK_PRECOMMIT)
    for s in (State.PREPARED, State.PRECOMMITTED):
        assert t[s, Event.TIMEOUT].actions == (Action.ELECT,)
        assert t[s, Event.BECOME_COORDINATOR].actions == (Action.DECIDE_FROM_STATES,)


# ====================================================================== the coordinator
def coordinator() -> tuple[Coordinator, Box, str]:
    box = Box()
    c = Coordinator(C, THREE, PEERS, Recovered(), box, vote_timeout_ticks=3,
                    resend_ticks=5)
    keys = [next(f"k{i}" for i in range(100) if shard_of(f"k{i}", PEERS) == n)
            for n in PEERS]
    c.submit("r1", Transact(tuple(MicroOp("w", k, 1) for k in keys)))
    (txn,) = c.txns
    box.take()
    return c, box, txn


def all_yes(c: Coordinator, txn: str) -> None:
    for n in PEERS:
        c.on_vote(NodeId(n), Vote(txn, VoteKind.YES))


def test_every_yes_leads_to_precommit_not_commit() -> None:
    c, box, txn = coordinator()
    all_yes(c, txn)
    out = box.take()
    assert sent(out) == [(n, PreCommit(txn)) for n in PEERS]
    assert not out.persist and not out.answers  # no decision yet
    c.on_precommit_ack(NodeId("n2"), PreCommitAck(txn))
    c.on_precommit_ack(NodeId("n3"), PreCommitAck(txn))
    assert not box.take().messages
    c.on_precommit_ack(NodeId("n4"), PreCommitAck(txn))
    out = box.take()
    assert out.persist == [Decided(txn, True, PEERS)]  # forced, then sent and answered
    assert sent(out) == [(n, Decision(txn, True)) for n in PEERS]
    assert [a.error for a in out.answers] == [None]


def test_a_missing_precommit_ack_commits_at_the_timeout() -> None:
    """Skeen: every site voted YES and those that acknowledged are PRECOMMITTED; the
    silent one is taken for failed and will learn COMMIT by termination on recovery."""
    c, box, txn = coordinator()
    all_yes(c, txn)
    c.on_precommit_ack(NodeId("n2"), PreCommitAck(txn))
    box.take()
    for _ in range(3):
        c.tick()
    out = box.take()
    assert out.persist == [Decided(txn, True, PEERS)] and [a.error for a in out.answers] == [
        None]


def test_a_missing_vote_still_aborts() -> None:
    c, box, txn = coordinator()
    c.on_vote(NodeId("n2"), Vote(txn, VoteKind.YES))
    for _ in range(3):
        c.tick()
    out = box.take()
    assert sent(out) == [(n, Decision(txn, False)) for n in PEERS]
    assert out.answers[0].error is not None


# ====================================================================== the option
def test_the_option_picks_the_mode_and_refuses_3pc_with_presumed_commit() -> None:
    assert TwoPcOptions.from_mapping({}).mode == Mode(False)
    assert TwoPcOptions.from_mapping({"commit_protocol": "3pc"}).mode == THREE
    with pytest.raises(ConfigError, match="presume=abort only"):
        TwoPcOptions.from_mapping({"commit_protocol": "3pc", "presume": "commit"})
