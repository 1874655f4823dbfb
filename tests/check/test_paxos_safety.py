"""Paxos's safety checkers (protocols.check.paxos), each caught when a violation is
planted, and the simulator's wiring of them proven on a live run."""

from __future__ import annotations

import pytest

from protocols.check.invariants import InvariantViolation
from protocols.check.paxos import MultiPaxosSafety, SynodAgreement
from protocols.kv.commands import KvCommand
from protocols.paxos.core import PaxosCore
from protocols.paxos.messages import Ballot, Decision, PValue
from protocols.paxos.sim import ADAPTER, SYNOD
from protocols.paxos.synod import SynodCore
from protocols.sim import SimulationFailure, World

B1, B2, B3 = Ballot(1, "n1"), Ballot(2, "n2"), Ballot(3, "n3")


def test_synod_one_value_chosen_passes_and_a_second_is_caught() -> None:
    check = SynodAgreement(majority=2)
    check.observe([("n1", B1, "a"), ("n2", B1, "a")])  # a chosen
    check.observe([("n3", B2, "a"), ("n1", B2, "a")])  # chosen again: the same value
    with pytest.raises(InvariantViolation, match="2 values chosen"):
        check.observe([("n2", B3, "b"), ("n3", B3, "b")])


def test_synod_remembers_acceptances_across_time() -> None:
    """A majority counted over time: n1 accepts (B1, a), moves on; n2 accepts (B1, a)
    later: a was chosen even though both never held it at once."""
    check = SynodAgreement(majority=2)
    check.observe([("n1", B1, "a")])
    check.observe([("n1", B2, "z"), ("n2", B1, "a")])
    assert "a" in check.chosen


def chosen(check: MultiPaxosSafety, slot: int, command: bytes, ballot: Ballot = B1,
           acceptors: tuple[str, ...] = ("n1", "n2")) -> None:
    for acceptor in acceptors:
        check.accept(acceptor, [PValue(ballot, slot, command)])


def test_two_commands_decided_in_one_slot_are_caught() -> None:
    check = MultiPaxosSafety(phase2_quorum=2)
    chosen(check, 4, b"x", B2)
    chosen(check, 4, b"y", B1, ("n3", "n4"))  # seen after x, at a lower ballot
    check.decide("n1", 4, b"x")
    check.decide("n2", 4, b"x")
    with pytest.raises(InvariantViolation, match="slot 4 decided twice"):
        check.decide("n3", 4, b"y")


def test_a_replica_applying_other_than_the_decision_is_caught() -> None:
    check = MultiPaxosSafety(phase2_quorum=2)
    chosen(check, 1, b"x")
    check.decide("n1", 1, b"x")
    with pytest.raises(InvariantViolation):
        check.applied("n2", 1, b"y")


def test_a_decision_no_phase_2_quorum_accepted_is_caught() -> None:
    """A decision needs q2 acceptors that accepted the command with one ballot: two
    acceptors at two different ballots are not a quorum."""
    check = MultiPaxosSafety(phase2_quorum=2)
    check.accept("n1", [PValue(B1, 3, b"x")])
    check.accept("n2", [PValue(B2, 3, b"x")])
    with pytest.raises(InvariantViolation, match="no 2 acceptors accepted it"):
        check.decide("n3", 3, b"x")
    check.accept("n3", [PValue(B2, 3, b"x")])
    check.decide("n3", 3, b"x")  # now chosen at B2


def test_a_pvalue_contradicting_a_choice_is_caught() -> None:
    """P2c: once (B1, 7, x) is chosen, an acceptor accepting (B2, 7, y) breaks Paxos."""
    check = MultiPaxosSafety(phase2_quorum=2)
    check.accept("n1", [PValue(B1, 7, b"x")])
    check.accept("n2", [PValue(B1, 7, b"x")])
    check.accept("n3", [PValue(B2, 7, b"x")])  # a later ballot re-proposing x: fine
    with pytest.raises(InvariantViolation, match="P2c"):
        check.accept("n1", [PValue(B3, 7, b"y")])


def test_the_simulator_checks_that_every_decision_was_chosen() -> None:
    w = World(ADAPTER, 3, seed=1)
    leader = w.run_until(w.leader, 5000)
    w.run_for(200)
    c = w.core(leader)
    assert isinstance(c, PaxosCore)
    c._decide(Decision(c.replica.slot_out, KvCommand("put", "k", "nobody").encode()))
    with pytest.raises(SimulationFailure, match="no 2 acceptors accepted it"):
        w.run_for(50)


def test_the_simulator_checks_multipaxos_after_every_event() -> None:
    w = World(ADAPTER, 3, seed=1)
    w.run_until(w.leader, 5000)
    w.run_for(200)
    n1, n2, n3 = (w.core(n) for n in ("n1", "n2", "n3"))
    assert isinstance(n1, PaxosCore) and isinstance(n2, PaxosCore) and isinstance(n3, PaxosCore)
    slot = n1.replica.slot_out + 10
    planted, another = (KvCommand("put", "k", v).encode() for v in ("planted", "another"))
    for core in (n1, n2):  # planted: a quorum accepted "planted", n2 decided it ...
        core.events = (core.events or []) + [("accepted", PValue(B1, slot, planted))]
    n2.events = (n2.events or []) + [("decided", (slot, planted))]
    n3.events = (n3.events or []) + [("decided", (slot, another))]  # ... n3 another
    with pytest.raises(SimulationFailure, match="decided twice"):
        w.run_for(50)


def test_the_simulator_checks_the_synod_after_every_event() -> None:
    w = World(SYNOD, 3, seed=1)
    acceptors = {}
    for n in w.ids:
        c = w.core(n)
        assert isinstance(c, SynodCore)
        acceptors[n] = c.acceptor
    for n in ("n1", "n2"):  # planted: "a" chosen at ballot 1.n2
        acceptors[n].accepted_ballot, acceptors[n].accepted_value = Ballot(1, "n2"), "a"
    w.run_for(5)
    for n in ("n2", "n3"):  # planted: "b" chosen at ballot 2.n3
        acceptors[n].accepted_ballot, acceptors[n].accepted_value = Ballot(2, "n3"), "b"
    with pytest.raises(SimulationFailure, match="values chosen"):
        w.run_for(50)
