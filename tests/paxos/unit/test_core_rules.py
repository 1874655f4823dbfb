"""Rules of the Multi-Paxos core that need a whole node to show (quorums, leases, late
replies), each on real cores driven by hand (``tests.support.by_hand``)."""

from __future__ import annotations

from typing import Any

from protocols.paxos import SPEC
from protocols.paxos.core import PaxosCore
from protocols.paxos.messages import Ballot, Heartbeat, HeartbeatReply, P1a, P1b, P2a, P2b
from tests.support.by_hand import ByHand, InFlight

LEASE = {"read_mode": "lease"}


def request(kind: type, src: str, dst: str) -> Any:
    return lambda m: (not m.is_reply and isinstance(m.msg, kind)
                      and m.src == src and m.dst == dst)


def reply(kind: type, src: str, dst: str) -> Any:
    return lambda m: m.is_reply and isinstance(m.reply, kind) and m.src == src and m.dst == dst


def elect(h: ByHand, n: str) -> PaxosCore:
    core: PaxosCore = h.core(n)
    core._start_scout()
    h._input(n)
    h.deliver_all()
    assert core.leader.active
    return core


def test_a_scout_is_adopted_by_a_phase_1_quorum_and_not_before() -> None:
    """PMMC Scout: adopted once a majority (q1) of acceptors adopted the ballot; our own
    acceptor counts, and adopts last."""
    h = ByHand(SPEC, 5)
    n1: PaxosCore = h.core("n1")
    n1._start_scout()
    h._input("n1")
    h.deliver(request(P1a, "n1", "n2"))
    h.deliver(reply(P1b, "n1", "n2"))
    assert not n1.leader.active, "adopted by 2 of 5"
    h.deliver(request(P1a, "n1", "n3"))
    h.deliver(reply(P1b, "n1", "n3"))
    assert n1.leader.active and n1.acceptor.ballot_number == n1.leader.ballot_number


def test_flexible_quorums_adopt_with_q1_and_decide_with_q2() -> None:
    """Howard et al. 2016: with q1 = 4 and q2 = 2 of 5, phase 1 needs four acceptors and
    phase 2 two."""
    h = ByHand(SPEC, 5, options={"phase1_quorum": 4, "phase2_quorum": 2})
    n1: PaxosCore = h.core("n1")
    n1._start_scout()
    h._input("n1")
    for peer in ("n2", "n3"):
        h.deliver(request(P1a, "n1", peer))
        h.deliver(reply(P1b, "n1", peer))
    assert not n1.leader.active, "adopted by 3 of 5 with q1 = 4"
    h.deliver(request(P1a, "n1", "n4"))
    h.deliver(reply(P1b, "n1", "n4"))
    assert n1.leader.active
    h.flight.clear()
    from protocols.kv.commands import KvCommand

    h.submit("n1", "x", KvCommand("put", "k", "x"))
    h.deliver(request(P2a, "n1", "n5"))
    h.deliver(reply(P2b, "n1", "n5"))
    assert h.answers["x"].error is None  # n1 and n5: a phase-2 quorum of two


def test_a_late_heartbeat_reply_changes_nothing_at_a_node_that_no_longer_leads() -> None:
    """A reply to a heartbeat of a leadership that is over says nothing about now: it
    must not make a follower switch the leader it follows, nor reset its timer (no
    stickiness here: n1 takes over at once)."""
    h = ByHand(SPEC, 3, options={"stickiness": False})
    n3 = elect(h, "n3")
    h.tick("n3", n3.options.heartbeat_interval_ticks)
    late = h.find(request(Heartbeat, "n3", "n2"))[0]
    h.flight.remove(late)
    elect(h, "n1")  # n1 takes over; n3 follows it
    assert not n3.leader.active and n3.known_leader == "n1"
    before = (n3.known_leader, n3.following, n3.leader_elapsed, n3.timeout)
    h.flight.append(InFlight("n3", "n2", late.msg, h.nodes["n3"].incarnation,
                             HeartbeatReply(Ballot(99, "n2"))))  # naming a rival's ballot
    h.deliver(reply(HeartbeatReply, "n3", "n2"))
    assert (n3.known_leader, n3.following, n3.leader_elapsed, n3.timeout) == before


def test_a_late_p2b_changes_nothing_at_a_node_that_no_longer_leads() -> None:
    from protocols.kv.commands import KvCommand

    h = ByHand(SPEC, 3, options={"stickiness": False})
    n3 = elect(h, "n3")
    h.submit("n3", "x", KvCommand("put", "k", "x"))
    late = h.find(request(P2a, "n3", "n2"))[0]
    h.flight.clear()
    elect(h, "n1")
    before = (n3.known_leader, n3.following, n3.leader_elapsed, n3.timeout)
    h.flight.append(InFlight("n3", "n2", late.msg, h.nodes["n3"].incarnation,
                             P2b(Ballot(99, "n2"), ())))
    h.deliver(reply(P2b, "n3", "n2"))
    assert (n3.known_leader, n3.following, n3.leader_elapsed, n3.timeout) == before


def test_the_lease_runs_from_when_the_heartbeat_was_sent() -> None:
    """An answer says the acceptor refuses rivals for an election timeout from when it
    *answered*, which is after we sent: counting from our send time is safe, from the
    arrival of a slow answer is not."""
    h = ByHand(SPEC, 3, options=LEASE)
    h.tick_all(31)
    h.flight.clear()
    n1 = elect(h, "n1")
    for _ in range(n1.options.heartbeat_interval_ticks):  # the first round's answers
        h.tick_all()
        h.deliver_all()
    from protocols.kv.commands import KvCommand
    h.submit("n1", "w", KvCommand("put", "k", "v"))
    h.deliver_all()
    h.tick("n1", n1.options.heartbeat_interval_ticks)  # a heartbeat round leaves at t0
    t0 = h.now_s
    lease_s = n1.options.election_timeout_min_ticks * n1.tick_s * 0.8
    h.now_s += lease_s * 0.9  # its answers come back slowly
    h.deliver_all()
    assert n1._lease_valid()
    h.now_s = t0 + lease_s * 1.05
    assert not n1._lease_valid(), "the lease was counted from when the answers arrived"
