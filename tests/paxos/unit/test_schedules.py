"""Schedules found by reading Multi-Paxos's core, each driven step by step on real
cores with a disk per node (``tests.support.by_hand``), each one a test that failed on
the code that had the bug."""

from __future__ import annotations

from typing import Any

from protocols.check.invariants import InvariantViolation
from protocols.check.paxos import MultiPaxosSafety
from protocols.kv.commands import KvCommand
from protocols.paxos import SPEC
from protocols.paxos.core import PaxosCore
from protocols.paxos.messages import Ballot, Heartbeat, HeartbeatReply, P1a, P1b, P2a, P2b
from tests.support.by_hand import ByHand, InFlight


def request(kind: type, src: str | None = None, dst: str | None = None) -> Any:
    def match(m: InFlight) -> bool:
        return (not m.is_reply and isinstance(m.msg, kind)
                and src in (None, m.src) and dst in (None, m.dst))
    return match


def reply(kind: type, src: str | None = None, dst: str | None = None) -> Any:
    """A reply of ``kind`` from ``dst`` back to ``src``."""
    def match(m: InFlight) -> bool:
        return (m.is_reply and isinstance(m.reply, kind)
                and src in (None, m.src) and dst in (None, m.dst))
    return match


def put(value: str) -> KvCommand:
    return KvCommand("put", "k", value)


def scout(h: ByHand, n: str) -> Ballot:
    """Make ``n`` start phase 1 now (as its election timer would)."""
    core: PaxosCore = h.core(n)
    assert not core.leader.active, f"{n} leads: it would not start phase 1"
    core._start_scout()
    h._input(n)
    return core.leader.ballot_number


def decisions(h: ByHand) -> MultiPaxosSafety:
    """Every up node's decisions, checked against what its acceptors hold now."""
    safety = MultiPaxosSafety(3)
    up = [n for n in h.ids if h.nodes[n].core is not None]
    for n in up:
        safety.accept(n, h.core(n).acceptor.accepted.values())
    for n in up:
        for slot, command in h.core(n).replica.decisions.items():
            safety.decide(n, slot, command)
    return safety


def test_a_ballot_is_never_reused_after_a_crash() -> None:
    """Lamport's rule: a proposal number is never used twice, crashes included.

    n5 leads ballot 1.n5 and gets X accepted by itself alone. n1 runs phase 1 for 2.n1,
    finds X and, on adoption, sends P2a(2.n1, slot 1, X) ahead of its own write; n2
    accepts it; n1 loses power before its write lands. Had n1 not made round 2 durable
    before its P1a left, it would restart at round 1, pick 2.n1 again, be adopted by
    n3 and n4 (who promised 2.n1 in its first life: an equal ballot), and get Y chosen
    in slot 1 under the same ballot — while n2, which holds X at 2.n1, decides X from
    the next heartbeat of 2.n1: two decisions in one slot."""
    h = ByHand(SPEC, 5, options={"stickiness": False})
    # n5 leads 1.n5 with n1 and n3; X reaches n5's own acceptor only
    b1 = scout(h, "n5")
    for peer in ("n1", "n3"):
        h.deliver(request(P1a, "n5", peer))
        h.deliver(reply(P1b, "n5", peer))
    assert h.core("n5").leader.active and b1 == Ballot(1, "n5")
    h.submit("n5", "x", put("X"))
    h.drop(request(P2a, "n5"))
    h.drop(lambda m: m.src == "n5")  # and everything else n5 said
    # n1 runs phase 1 for 2.n1: n5 and n2 answer first (X is in n5's reply)
    b2 = scout(h, "n1")
    assert b2 == Ballot(2, "n1")
    for peer in ("n3", "n4"):  # they promise 2.n1; their answers come too late
        h.deliver(request(P1a, "n1", peer))
    h.hold_writes("n1")  # n1's disk is slow from here on
    for peer in ("n5", "n2"):
        h.deliver(request(P1a, "n1", peer))
        h.deliver(reply(P1b, "n1", peer))
    assert h.core("n1").leader.active
    h.deliver(request(P2a, "n1", "n2"))  # left ahead of n1's own write; n2 accepts X
    assert h.core("n2").acceptor.accepted[1].command == put("X").encode()
    h.crash("n1")  # before its write of ballot 2.n1 and pvalue X reached disk
    h.flight.clear()
    h.start("n1")
    b3 = scout(h, "n1")
    assert b3 > b2, f"n1 reused its ballot {b2} after a crash"
    for peer in ("n3", "n4"):
        h.deliver(request(P1a, "n1", peer))
        h.deliver(reply(P1b, "n1", peer))
    assert h.core("n1").leader.active
    h.submit("n1", "y", put("Y"))
    for peer in ("n3", "n4"):
        h.deliver(request(P2a, "n1", peer))
        h.deliver(reply(P2b, "n1", peer))
    assert h.answers["y"].error is None  # Y is acknowledged
    h.drop(lambda m: m.dst != "n2" or isinstance(m.msg, P2a))  # Y never reaches n2
    h.tick("n1", h.core("n1").options.heartbeat_interval_ticks)  # heartbeats carry slot_out
    h.deliver_all(lambda m: (m.src == "n1" and m.dst == "n2") or m.src == "n2")
    try:
        decisions(h)
    except InvariantViolation as e:
        raise AssertionError(f"one slot, two decisions: {e}") from None
    assert h.core("n2").replica.decisions.get(1, put("Y").encode()) == put("Y").encode()


def test_a_slot_assigned_before_a_preemption_is_filled_when_leading_again() -> None:
    """The stall seen on real processes (../shared/repros/paxos-stall): n1 leads, two P2a
    batches are in flight unanswered, so a third request's slot is assigned and its P2a
    held back for batching; n1 is preempted, which forgets that commander, and later
    leads again. Its replica's slot_in is past the forgotten slot, which no acceptor ever
    saw: unless the new leadership proposes a no-op there, that slot stays open forever,
    nothing after it is applied, and every client times out."""
    h = ByHand(SPEC, 3, options={"stickiness": False})
    scout(h, "n1")
    h.deliver_all()
    n1: PaxosCore = h.core("n1")
    assert n1.leader.active
    for value in ("A", "B", "C"):  # two batches in flight, the third held back
        h.submit("n1", value, put(value))
    assert n1.replica.slot_in == 4 and 3 in n1.leader.commanders
    assert not any(isinstance(m.msg, P2a) and any(pv.slot == 3 for pv in m.msg.pvalues)
                   for m in h.flight), "the third P2a was not held back"
    h.flight.clear()  # lost; n1 would hear of it only at the deadline
    scout(h, "n2")  # n2 preempts n1 and decides what it finds (A and B)
    h.deliver_all()
    assert h.core("n2").leader.active and not n1.leader.active
    scout(h, "n1")  # n1 leads again
    h.deliver_all()
    assert n1.leader.active
    h.submit("n1", "D", put("D"))
    h.deliver_all()
    for _ in range(5):  # heartbeats and resends, should anything wait
        h.tick_all(n1.options.heartbeat_interval_ticks)
        h.deliver_all()
    assert "D" in h.answers and h.answers["D"].error is None, \
        f"n1 never answered: slot_out {n1.replica.slot_out}, slot_in {n1.replica.slot_in}, " \
        f"open commanders {sorted(n1.leader.commanders)}"
    assert len({h.core(n).replica.slot_out for n in h.ids}) == 1


def test_a_late_reply_to_an_old_leadership_opens_no_hole_in_the_lease() -> None:
    """A leader lease rests on acceptors refusing rivals while they hear the leader. n3
    used to lead; a reply to one of its old heartbeats, naming n2's ballot, arrives late
    — after n1 took over, holds a lease through n3, and had "old" acknowledged. That
    reply says nothing about now: if n3 took it for news, it would follow n2 by name,
    admit n2's next phase 1 inside n1's lease, and n2 would get "new" acknowledged while
    n1 still answers a lease read with "old"."""
    h = ByHand(SPEC, 3, options={"read_mode": "lease"})
    h.tick_all(31)  # past the quiet period a restarted node keeps in lease mode
    h.flight.clear()
    b_f = scout(h, "n3")
    h.deliver_all()
    assert h.core("n3").leader.active
    h.tick_all(31, nodes=["n1"])  # n1 hears nothing from n3 for an election timeout
    h.flight.clear()
    b_r1 = scout(h, "n2")  # n1 promises n2's ballot; n2 leads with n1
    h.deliver(request(P1a, "n2", "n1"))
    h.deliver(reply(P1b, "n2", "n1"))
    assert h.core("n2").leader.active
    h.flight.clear()
    h.tick_all(h.core("n3").options.heartbeat_interval_ticks, nodes=["n3"])
    h.deliver(request(Heartbeat, "n3", "n1"))  # n1 answers with n2's ballot: the reply
    late = h.find(reply(HeartbeatReply, "n3", "n1"))  # ... that will come late
    assert late and late[0].reply.ballot == b_r1 > b_f
    h.flight.clear()
    h.tick_all(61, nodes=["n3"])  # n3 hears no answers and steps down
    h.flight.clear()
    assert not h.core("n3").leader.active
    b_l = scout(h, "n1")  # n1 leads with n3
    h.deliver_all(lambda m: {m.src, m.dst} == {"n1", "n3"})
    h.flight.clear()
    n1: PaxosCore = h.core("n1")
    assert n1.leader.active and b_l > b_r1
    h.submit("n1", "old", put("old"))
    h.deliver_all(lambda m: {m.src, m.dst} == {"n1", "n3"})
    h.flight.clear()
    assert h.answers["old"].error is None
    for _ in range(61):  # n2 hears nobody and steps down; n1 and n3 go on
        h.tick_all(1)
        h.deliver_all(lambda m: {m.src, m.dst} == {"n1", "n3"})
        h.flight.clear()
    assert not h.core("n2").leader.active and n1._lease_valid()
    h.flight.append(late[0])  # the late reply arrives at n3
    h.deliver(lambda m: m is late[0])
    b_r2 = scout(h, "n2")
    assert b_r2 > b_l
    h.deliver_all(lambda m: {m.src, m.dst} == {"n2", "n3"})
    h.submit("n2", "new", put("new"))
    h.deliver_all(lambda m: {m.src, m.dst} == {"n2", "n3"})
    new_acked = "new" in h.answers and h.answers["new"].error is None
    h.submit("n1", "read", KvCommand("get", "k"))
    read = h.answers.get("read")
    served_old = read is not None and read.error is None and read.result.value == "old"
    assert not (new_acked and served_old), \
        "n2 was adopted inside n1's lease: 'new' acknowledged, then a lease read of 'old'"
    assert not new_acked and served_old  # n3 refused n2; n1's lease read is right


def test_the_leaders_own_vote_counts_once_written() -> None:
    """The leader's P2a leave while its own acceptor's write is under way (as Raft's
    AppendEntries do, thesis §10.2.1); its own acceptance joins a phase-2 quorum only
    once that write is durable, so nothing is decided on a vote a crash could erase."""
    h = ByHand(SPEC, 3)
    scout(h, "n1")
    h.deliver_all()
    n1: PaxosCore = h.core("n1")
    assert n1.leader.active
    h.hold_writes("n1")
    slot = n1.replica.slot_in  # where x goes
    h.submit("n1", "x", put("x"))
    h.deliver(request(P2a, "n1", "n2"))
    h.deliver(reply(P2b, "n1", "n2"))  # n2's vote: with n1's own, a quorum of 2 ...
    assert slot not in n1.replica.decisions and n1.replica.slot_out <= slot, \
        "decided on its own vote before writing it"
    h.complete_write("n1")  # ... once n1's own write is done
    assert n1.replica.decisions.get(slot) == put("x").encode()
    assert h.answers["x"].error is None
