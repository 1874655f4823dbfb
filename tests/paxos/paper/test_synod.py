"""The Synod's rules, "Paxos Made Simple" (Lamport 2001) §2, each on real cores driven by
hand (``tests.support.by_hand``) or in the checker with a planted violation: P1 (accept
the first proposal), the promise of phase 1b, the value of phase 2a (the highest-numbered
accepted proposal), P2c (once v is chosen, every higher proposal has value v), stable
storage for the acceptor, and a proposer never issuing one number twice."""

from __future__ import annotations

import pytest

from protocols.check.invariants import InvariantViolation
from protocols.check.paxos import SynodAgreement
from protocols.paxos import SYNOD_SPEC as SPEC
from protocols.paxos.messages import BOTTOM, Ballot
from protocols.paxos.sim import SYNOD
from protocols.paxos.synod import (
    Accept,
    Accepted,
    Acceptor,
    Prepare,
    Promise,
    SynodCore,
)
from protocols.sim import SimulationFailure, World
from tests.support.by_hand import ByHand

B1, B2, B3 = Ballot(1, "n1"), Ballot(2, "n2"), Ballot(3, "n3")


def request(kind: type, src: str, dst: str) -> object:
    return lambda m: (not m.is_reply and isinstance(m.msg, kind)
                      and m.src == src and m.dst == dst)


def a_reply(kind: type, src: str, dst: str) -> object:
    return lambda m: m.is_reply and isinstance(m.reply, kind) and m.src == src and m.dst == dst


# ====================================================================== the acceptor
def test_p1_an_acceptor_accepts_the_first_proposal_it_receives() -> None:
    """P1: with no promise made, an Accept is accepted."""
    a = Acceptor()
    reply, changed = a.on_accept(Accept(B1, "v"))
    assert reply.ok and changed and (a.accepted_ballot, a.accepted_value) == (B1, "v")


def test_phase_1b_promises_only_a_higher_number_and_reports_the_accepted_proposal() -> None:
    a = Acceptor()
    a.on_accept(Accept(B1, "v"))
    reply, changed = a.on_prepare(Prepare(B2))
    assert reply.ok and changed and (reply.accepted_ballot, reply.accepted_value) == (B1, "v")
    reply, changed = a.on_prepare(Prepare(B1))  # below the promise
    assert not reply.ok and not changed and reply.ballot == B2
    reply, changed = a.on_prepare(Prepare(B2))  # the same number again: no new promise
    assert not reply.ok and not changed


def test_phase_2b_accepts_unless_a_higher_number_was_promised() -> None:
    a = Acceptor()
    a.on_prepare(Prepare(B2))
    reply, changed = a.on_accept(Accept(B1, "old"))
    assert not reply.ok and not changed and reply.ballot == B2 and a.accepted_value == ""
    reply, changed = a.on_accept(Accept(B2, "new"))
    assert reply.ok and a.accepted_value == "new"


# ====================================================================== the proposer
def test_phase_2a_proposes_the_value_of_the_highest_numbered_accepted_proposal() -> None:
    """n1 prepares; n2 reports (1.n1, "low"), n3 reports (2.n2, "high"): n1 must
    propose "high", not its client's value."""
    h = ByHand(SPEC, 3)
    h.core("n2").acceptor.accepted_ballot, h.core("n2").acceptor.accepted_value = B1, "low"
    h.core("n3").acceptor.accepted_ballot, h.core("n3").acceptor.accepted_value = B2, "high"
    h.core("n1").proposer.highest_round = 5
    h.submit("n1", "c", "mine")
    for peer in ("n2", "n3"):
        h.deliver(request(Prepare, "n1", peer))  # type: ignore[arg-type]
        h.deliver(a_reply(Promise, "n1", peer))  # type: ignore[arg-type]
    accepts = [m.msg for m in h.flight if isinstance(m.msg, Accept)]
    assert accepts and {a.value for a in accepts} == {"high"}


def test_a_value_needs_a_majority_of_promises_and_of_accepts() -> None:
    h = ByHand(SPEC, 5)
    h.submit("n1", "c", "v")
    h.deliver(request(Prepare, "n1", "n1"))  # type: ignore[arg-type]
    h.deliver(a_reply(Promise, "n1", "n1"))  # type: ignore[arg-type]
    h.deliver(request(Prepare, "n1", "n2"))  # type: ignore[arg-type]
    h.deliver(a_reply(Promise, "n1", "n2"))  # type: ignore[arg-type]
    assert not any(isinstance(m.msg, Accept) for m in h.flight), "2 of 5 promised"
    h.deliver(request(Prepare, "n1", "n3"))  # type: ignore[arg-type]
    h.deliver(a_reply(Promise, "n1", "n3"))  # type: ignore[arg-type]
    for peer in ("n1", "n2"):
        h.deliver(request(Accept, "n1", peer))  # type: ignore[arg-type]
        h.deliver(a_reply(Accepted, "n1", peer))  # type: ignore[arg-type]
    assert "c" not in h.answers and h.core("n1").chosen is None, "2 of 5 accepted"
    h.deliver(request(Accept, "n1", "n3"))  # type: ignore[arg-type]
    h.deliver(a_reply(Accepted, "n1", "n3"))  # type: ignore[arg-type]
    assert h.answers["c"].result == "v"


# ====================================================================== stable storage
def test_an_acceptor_remembers_its_promise_across_a_crash() -> None:
    """§2.3 ("an acceptor must remember this information even if it fails and then
    restarts"): a promise made, then a crash: the restarted acceptor still refuses a
    lower number."""
    h = ByHand(SPEC, 3)
    h.core("n1").proposer.highest_round = 4
    h.submit("n1", "c", "v")
    h.deliver(request(Prepare, "n1", "n2"))  # type: ignore[arg-type]
    h.restart("n2")
    assert h.core("n2").acceptor.promised == Ballot(5, "n1")


def test_a_proposer_never_issues_one_number_twice_across_a_crash() -> None:
    """§2.2: "a proposer ... must remember the highest-numbered proposal it has tried to
    issue": n1 prepares 1.n1, its own acceptor's promise never reaches disk, it
    crashes; restarted, it must not prepare 1.n1 again."""
    h = ByHand(SPEC, 3)
    h.submit("n1", "c", "first")
    first = next(m.msg.ballot for m in h.flight if isinstance(m.msg, Prepare))
    h.crash("n1")
    h.flight.clear()
    h.start("n1")
    h.submit("n1", "c2", "second")
    again = next(m.msg.ballot for m in h.flight if isinstance(m.msg, Prepare))
    assert again > first


# ====================================================================== P2c, checked
def test_p2c_a_higher_proposal_with_another_value_after_a_choice_is_caught() -> None:
    check = SynodAgreement(majority=2)
    check.observe([("n1", B1, "v"), ("n2", B1, "v")])  # v chosen at 1.n1
    check.issued("n1", B2, "v")  # a higher proposal with v: fine
    check.issued("n3", BOTTOM, "w")  # a lower one: P2c says nothing of it
    with pytest.raises(InvariantViolation, match="P2c"):
        check.issued("n3", B3, "w")


def test_p2c_is_checked_over_proposals_issued_before_the_choice_was_seen() -> None:
    check = SynodAgreement(majority=2)
    check.issued("n3", B3, "w")
    with pytest.raises(InvariantViolation, match="P2c"):
        check.observe([("n1", B1, "v"), ("n2", B1, "v")])


def test_the_simulator_checks_p2c_after_every_event() -> None:
    w = World(SYNOD, 3, seed=1)
    for n in ("n1", "n2"):  # planted: "a" chosen at ballot 1.n2
        c = w.core(n)
        assert isinstance(c, SynodCore)
        c.acceptor.accepted_ballot, c.acceptor.accepted_value = Ballot(1, "n2"), "a"
    w.run_for(5)
    c3 = w.core("n3")
    assert isinstance(c3, SynodCore)
    c3.proposer.issued = (Ballot(4, "n3"), "b")  # planted: a higher proposal of "b"
    with pytest.raises(SimulationFailure, match="P2c"):
        w.run_for(50)
