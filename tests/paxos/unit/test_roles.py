"""The roles of "Paxos Made Moderately Complex" (van Renesse & Altinbuken 2015, PMMC),
one at a time: the acceptor, the scout, the commander (through the leader) and the
replica, each rule with the test that fails without it (docs/paxos-rules.md)."""

from __future__ import annotations

import pytest

from protocols.contract import Answer
from protocols.kv.commands import KvCommand
from protocols.kv.rsm import ReplicatedKv
from protocols.paxos.acceptor import Acceptor
from protocols.paxos.leader import NOOP, Leader, Scout
from protocols.paxos.messages import Ballot, P1a, P2a, PValue
from protocols.paxos.replica import Replica

B1, B2, B3 = Ballot(1, "n1"), Ballot(2, "n2"), Ballot(3, "n1")


def cmd(value: str) -> bytes:
    return KvCommand("put", "k", value).encode()


# ====================================================================== acceptor
def test_acceptor_adopts_only_a_higher_ballot() -> None:
    """PMMC Acceptor: on ⟨p1a, b⟩, if b > ballot_num then ballot_num := b; the reply
    carries ballot_num either way (a higher one tells the scout it was preempted)."""
    a = Acceptor()
    reply, changed = a.on_p1a(P1a(B2, 1))
    assert changed and reply.ballot == B2 and a.ballot_number == B2
    reply, changed = a.on_p1a(P1a(B1, 1))
    assert not changed and reply.ballot == B2 and a.ballot_number == B2
    reply, changed = a.on_p1a(P1a(B2, 1))  # the same ballot again: nothing changes
    assert not changed and reply.ballot == B2


def test_acceptor_refusing_keeps_its_ballot() -> None:
    """Stickiness refuses a higher ballot (always safe: it only withholds a promise)."""
    a = Acceptor(ballot_number=B1)
    reply, changed = a.on_p1a(P1a(B2, 1), refuse=True)
    assert not changed and reply.ballot == B1 and a.ballot_number == B1


def test_acceptor_reports_what_it_accepted_from_the_asked_slot_on() -> None:
    a = Acceptor()
    a.on_p2a(P2a((PValue(B1, 1, cmd("a")), PValue(B1, 2, cmd("b")), PValue(B1, 3, cmd("c")))))
    reply, _ = a.on_p1a(P1a(B2, 2))
    assert [pv.slot for pv in reply.accepted] == [2, 3]


def test_acceptor_accepts_unless_it_adopted_a_higher_ballot() -> None:
    """PMMC Acceptor: on ⟨p2a, (b, s, c)⟩, if b ≥ ballot_num then accept (and
    ballot_num := b); a lower ballot is refused, and the reply names the higher one."""
    a = Acceptor(ballot_number=B2)
    reply, accepted = a.on_p2a(P2a((PValue(B1, 1, cmd("old")),)))
    assert accepted == [] and reply.ballot == B2 and reply.slots == () and 1 not in a.accepted
    reply, accepted = a.on_p2a(P2a((PValue(B3, 1, cmd("new")),)))
    assert [pv.command for pv in accepted] == [cmd("new")] and a.ballot_number == B3
    assert reply.slots == (1,)


def test_acceptor_keeps_only_the_newest_pvalue_per_slot_and_never_a_lower_one() -> None:
    a = Acceptor()
    a.on_p2a(P2a((PValue(B2, 5, cmd("x")),)))
    a.on_p2a(P2a((PValue(B1, 5, cmd("y")),)))  # lower: refused
    assert a.accepted[5] == PValue(B2, 5, cmd("x"))


def test_acceptor_garbage_collection_forgets_decided_slots_and_says_so() -> None:
    a = Acceptor()
    a.on_p2a(P2a(tuple(PValue(B1, s, cmd(str(s))) for s in range(1, 6))))
    a.collect(4)
    assert sorted(a.accepted) == [4, 5]
    reply, _ = a.on_p1a(P1a(B2, 1))
    assert reply.decided_upto == 4 and [pv.slot for pv in reply.accepted] == [4, 5]
    _, accepted = a.on_p2a(P2a((PValue(B2, 2, cmd("late")),)))  # below the GC point
    assert accepted == [] and 2 not in a.accepted


# ====================================================================== scout
def test_scout_keeps_the_highest_ballot_pvalue_per_slot() -> None:
    """PMMC Scout: pvalues := pvalues union r; the leader then takes pmax per slot."""
    s = Scout(B3, {"n1", "n2", "n3"})
    s.on_p1b("n2", (PValue(B2, 1, cmd("high")), PValue(B1, 2, cmd("only"))), 1)
    s.on_p1b("n3", (PValue(B1, 1, cmd("low")),), 1)
    assert s.pvalues[1].command == cmd("high") and s.pvalues[2].command == cmd("only")
    assert s.waitfor == {"n1"}


def test_scout_remembers_the_furthest_compaction_and_who_reported_it() -> None:
    s = Scout(B3, {"n1", "n2", "n3"})
    s.on_p1b("n2", (), 7)
    s.on_p1b("n3", (), 4)
    assert (s.decided_upto, s.ahead) == (7, "n2")


# ====================================================================== leader
def test_adoption_proposes_pmax_and_fills_holes_with_no_ops() -> None:
    """PMMC Leader on adopted: proposals := proposals ◁ pmax(pvals); every hole up to
    the highest slot found gets a no-op, so later slots can be applied."""
    leader = Leader(proposals={2: cmd("mine")})
    found = {2: PValue(B2, 2, cmd("theirs")), 4: PValue(B1, 4, cmd("four"))}
    leader.adopt(B3, found, first_open=1)
    assert leader.active and leader.ballot_number == B3
    assert leader.proposals == {1: NOOP, 2: cmd("theirs"), 3: NOOP, 4: cmd("four")}


def test_adoption_proposes_nothing_below_the_first_open_slot() -> None:
    """Slots below first_open are decided (or compacted by some acceptor: its P1b said
    so): proposing a no-op there could contradict what was chosen."""
    leader = Leader()
    leader.adopt(B3, {2: PValue(B1, 2, cmd("old")), 5: PValue(B1, 5, cmd("five"))},
                 first_open=4)
    assert sorted(leader.proposals) == [4, 5] and leader.proposals[4] == NOOP


def test_adoption_proposes_in_every_slot_its_replica_handed_out() -> None:
    leader = Leader()
    leader.adopt(B3, {}, first_open=3, last_assigned=5)
    assert leader.proposals == {3: NOOP, 4: NOOP, 5: NOOP}


def test_preemption_stops_leading_and_forgets_what_it_proposed() -> None:
    leader = Leader()
    leader.adopt(B1, {1: PValue(B1, 1, cmd("a"))}, first_open=1)
    leader.preempted()
    assert not leader.active and leader.proposals == {} and leader.commanders == {}


# ====================================================================== replica
def replica(window: int = 4) -> tuple[Replica, list[Answer]]:
    return Replica(ReplicatedKv(None, 100), window), []


def test_replica_hands_out_at_most_window_slots_beyond_the_applied_ones() -> None:
    """PMMC Replica: propose only while slot_in < slot_out + WINDOW."""
    r, _ = replica(window=3)
    assert [r.next_slot() for _ in range(4)] == [1, 2, 3, None]


def test_replica_applies_decisions_in_slot_order_once_each() -> None:
    """PMMC Replica: perform the decision of slot_out, then the next, each once."""
    r, answers = replica()
    assert r.decide(2, cmd("b")) and r.perform(answers) == []  # slot 1 is missing
    assert r.decide(1, cmd("a"))
    assert r.perform(answers) == [(1, cmd("a")), (2, cmd("b"))]
    assert not r.decide(1, cmd("again"))  # decided and applied: ignored
    assert r.slot_out == 3 and r.kv.state_machine.data == {"k": "b"}


def test_replica_applies_a_no_op_as_nothing() -> None:
    r, answers = replica()
    r.decide(1, NOOP)
    r.decide(2, cmd("x"))
    assert r.perform(answers) == [(1, NOOP), (2, cmd("x"))]
    assert r.kv.state_machine.data == {"k": "x"}


def test_replica_compaction_forgets_applied_decisions() -> None:
    r, answers = replica()
    for s in (1, 2, 3):
        r.decide(s, cmd(str(s)))
    r.perform(answers)
    r.compact()
    assert r.decisions == {} and r.snapshot_slot == 4


@pytest.mark.parametrize("window", [1, 2, 8])
def test_replica_window_moves_with_what_is_applied(window: int) -> None:
    r, answers = replica(window)
    handed = [r.next_slot() for _ in range(window)]
    assert r.next_slot() is None
    r.decide(handed[0] or 0, cmd("first"))
    r.perform(answers)
    assert r.next_slot() == window + 1
