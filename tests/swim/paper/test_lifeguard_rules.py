"""Lifeguard's three refinements and the phi-accrual alternative, rule by rule, on one
core (Dadgar, Phillips, Currey 2018; Hayashibara et al. 2004 as Cassandra uses it)."""

from __future__ import annotations

from protocols.common.ids import NodeId
from protocols.swim.core import SwimCore
from protocols.swim.lifeguard import Suspicion
from protocols.swim.messages import (
    Ack,
    DigestAck,
    DigestSyn,
    Entry,
    Gossip,
    MemberUpdate,
    Ping,
    PingReq,
    PingReqReply,
    State,
    UserEvent,
)
from tests.swim.harness import make, sent, tick, tick_acked, tick_until_sent

A, S = State.ALIVE, State.SUSPECT


def fail_probe(c: SwimCore, nacks: int) -> None:
    """One probe whose target stays silent; ``nacks`` helpers answer "no". Returns at
    the end of its period (when the next probe has just started)."""
    seq = tick_until_sent(c, Ping).msg.seq
    helpers = sent(tick(c, 5), PingReq)
    for h in helpers[:nacks]:
        c.on_reply(h.dst, h.msg, PingReqReply(h.msg.seq, False))
    while c.probe is not None and c.probe.seq == seq:
        tick(c)


def ack_current_probe(c: SwimCore) -> None:
    p = c.probe
    assert p is not None
    c.on_reply(NodeId(p.target), Ping(p.seq, p.target), Ack(p.seq))


# ====================================================================== §IV-A health
def test_missing_nacks_raise_the_health_multiplier_and_stretch_the_period() -> None:
    c = make(n=6)
    fail_probe(c, nacks=0)  # 3 helpers, no nack: we, not the target, are probably sick
    assert c.awareness.score == 3
    assert c.probe is not None and c.probe.ends_at - c.now == 10 * 4, \
        "the period stretched by (score + 1)"
    assert c.probe.timeout_at - c.now == 5, "not the direct ack's (memberlist)"


def test_nacks_from_every_helper_leave_the_health_alone() -> None:
    c = make(n=6)
    fail_probe(c, nacks=3)
    assert c.awareness.score == 0


def test_a_direct_ack_heals_and_a_suspicion_of_ourselves_hurts() -> None:
    c = make(n=6)
    fail_probe(c, nacks=1)
    assert c.awareness.score == 2
    ack_current_probe(c)
    while c.probe is not None and c.probe.acked:  # to the end of the period
        tick(c)
    assert c.awareness.score == 1
    c.on_message(NodeId("n2"), Ping(1, "n1", Gossip((MemberUpdate("n1", S, c.incarnation,
                                                                  "n3"),))))
    assert c.awareness.score == 2


def test_refuting_a_dead_rumour_hurts_too() -> None:
    """memberlist's refute: any accusation we must out-bid, suspect or dead, worsens our
    local health (the paper's table names the suspicion; memberlist applies it to both)."""
    c = make(n=6)
    c.on_message(NodeId("n2"), Ping(1, "n1", Gossip((MemberUpdate("n1", State.DEAD,
                                                                  c.incarnation, "n3"),))))
    assert c.stats["refuted"] == 1 and c.awareness.score == 1


def test_without_lha_the_health_never_moves() -> None:
    c = make(n=6, lha=False)
    fail_probe(c, nacks=0)
    assert c.awareness.score == 0


# ====================================================================== §IV-B suspicion
def test_the_suspicion_timeout_shrinks_with_independent_confirmations() -> None:
    s = Suspicion(incarnation=1, started=0, min_ticks=10, max_ticks=60, expected=3)
    s.confirm("n2")
    assert s.timeout == 60
    assert s.confirm("n3") and not s.confirm("n3"), "one vote per member"
    assert s.timeout == 35  # 60 - 50 * log(2)/log(4)
    s.confirm("n4")
    s.confirm("n5")
    assert s.timeout == 10 and not s.confirm("n6"), "k confirmations reach the minimum"


def test_one_accuser_alone_leaves_time_to_refute() -> None:
    c = make(n=8)  # min = 4*log10(8) s = 36 ticks, max = 6 * min
    c.on_message(NodeId("n3"), Ping(1, "n1", Gossip((MemberUpdate("n2", S, 0, "n3"),))))
    tick(c, 100)
    assert c.members["n2"].state == S
    for accuser in ("n4", "n5"):  # k = suspicion_mult - 2 = 2 confirmations
        c.on_message(NodeId(accuser), Ping(1, "n1",
                                           Gossip((MemberUpdate("n2", S, 0, accuser),))))
    tick(c, 1)
    assert c.members["n2"].state == State.DEAD


def test_a_suspicion_of_a_newer_incarnation_restarts_the_timer() -> None:
    """Deviation from memberlist, pinned: memberlist counts a suspicion at a higher
    incarnation as one more confirmation of the running timer, which then declares the
    *old* incarnation dead — a verdict every member that saw the refutation ignores.
    Here the suspicion names a newer life: it starts its own timer, whose "dead" names
    that life."""
    c = make(n=8)
    c.on_message(NodeId("n3"), Ping(1, "n1", Gossip((MemberUpdate("n2", S, 0, "n3"),))))
    tick_acked(c, 20)
    c.on_message(NodeId("n4"), Ping(2, "n1", Gossip((MemberUpdate("n2", S, 1, "n4"),))))
    s = c.suspicions["n2"]
    assert (s.incarnation, s.started, s.sources) == (1, c.now, {"n4"})
    assert c.members["n2"].incarnation == 1
    tick_acked(c, s.max_ticks - 1)  # (acked: our own probes add no confirmation)
    assert c.members["n2"].state == S, "the full timeout again, from the new suspicion"
    tick_acked(c, 1)
    assert (c.members["n2"].state, c.members["n2"].incarnation) == (State.DEAD, 1)


def test_a_new_confirmation_is_passed_on_and_a_repeated_one_is_not() -> None:
    c = make(n=8)
    c.on_message(NodeId("n3"), Ping(1, "n1", Gossip((MemberUpdate("n2", S, 0, "n3"),))))
    c.on_message(NodeId("n5"), Ping(2, "n1"))  # drain the queue of the first suspicion
    for _ in range(12):
        c.on_message(NodeId("n5"), Ping(2, "n1"))
    c.on_message(NodeId("n4"), Ping(3, "n1", Gossip((MemberUpdate("n2", S, 0, "n4"),))))
    g = c.on_message(NodeId("n5"), Ping(4, "n1")).gossip
    assert MemberUpdate("n2", S, 0, "n4") in g.members


# ====================================================================== §IV-C buddy
def _crowded_core(buddy: bool) -> SwimCore:
    c = make(n=4, piggyback_bytes=64, buddy=buddy)  # room for three events a message
    c.on_message(NodeId("n3"), Ping(1, "n1", Gossip((MemberUpdate("n2", S, 0, "n3"),))))
    events = tuple(UserEvent("n4", i, "burst") for i in range(1, 30))
    c.on_message(NodeId("n4"), Ping(2, "n1", Gossip(events=events)))
    return c


def test_a_ping_to_a_suspect_carries_its_suspicion_first() -> None:
    c = _crowded_core(buddy=True)
    pings = sent(tick_acked(c, 30), Ping)
    to_n2 = [p for p in pings if p.dst == "n2"]
    assert to_n2 and to_n2[0].msg.gossip.members[:1] == (MemberUpdate("n2", S, 0, "n3"),)


def test_without_the_buddy_system_a_crowded_queue_hides_the_suspicion() -> None:
    c = _crowded_core(buddy=False)
    for _ in range(20):  # exhaust the suspicion's transmissions on other messages
        c.on_message(NodeId("n4"), Ping(9, "n1"))
    pings = sent(tick_acked(c, 30), Ping)
    to_n2 = [p for p in pings if p.dst == "n2"]
    assert to_n2 and not to_n2[0].msg.gossip.members


# ====================================================================== phi-accrual
def test_phi_mode_suspects_a_member_whose_heartbeats_stop() -> None:
    c = make(n=3, detector="phi", phi_threshold=3.0)
    for beat in range(1, 21):  # n2's heartbeat arrives every period, by anti-entropy
        tick(c, 10)
        c.on_reply(NodeId("n2"), DigestSyn((), ()), DigestAck(
            (), (Entry("n2", 1, beat), Entry("n3", 1, beat)), ()))
    assert c.members["n2"].state == A
    for _ in range(6):  # phi = silence / mean * 0.434 > 3 after ~7 periods
        tick(c, 10)
        c.on_reply(NodeId("n3"), DigestSyn((), ()), DigestAck((), (Entry("n3", 1, 100 + _),),
                                                             ()))
    assert c.members["n2"].state == A
    tick(c, 20)
    assert c.members["n2"].state == S and c.members["n3"].state == A


def test_phi_starts_from_twice_the_heartbeat_interval_as_documented() -> None:
    """phi.py: Cassandra seeds each window with twice its gossip interval; heartbeats
    come every protocol period here, so the first estimate is two periods."""
    c = make(n=3, detector="phi")
    c.on_reply(NodeId("n2"), DigestSyn((), ()), DigestAck((), (Entry("n2", 1, 1),), ()))
    detector = c.phi._detectors["n2"]
    assert detector.mean_interval == 2 * c.options.probe_interval_ms / 1000


def test_phi_mode_sends_its_heartbeat_every_period_and_probes_do_not_suspect() -> None:
    c = make(n=3, detector="phi")
    syns = sent(tick_acked(c, 80), DigestSyn)
    assert len(syns) >= 2
    beats = [d.heartbeat for e in syns for d in e.msg.digests if d.member == "n1"]
    assert beats == sorted(beats) and beats[-1] > beats[0]
    fail_probe(c, nacks=0)
    assert all(m.state == A for m in c.members.values())
