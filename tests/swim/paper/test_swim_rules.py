"""SWIM's rules, one by one, on a core driven by hand (Das, Gupta, Motivala 2002).

Section numbers are the paper's. With ``harness.TICK_S`` = 0.1 s and the default
options, a protocol period is 10 ticks and the probe timeout 5 ticks.
"""

from __future__ import annotations

import pytest

from protocols.common.errors import InvalidRequest
from protocols.common.ids import NodeId
from protocols.contract import Deferred
from protocols.swim.commands import Broadcast, Incr, Leave, Members, SetMeta
from protocols.swim.core import SelfRecord, SwimCore
from protocols.swim.dissemination import BroadcastQueue
from protocols.swim.messages import (
    Ack,
    Digest,
    DigestAck,
    DigestAck2,
    DigestSyn,
    Entry,
    Gossip,
    MemberUpdate,
    Ping,
    PingReq,
    PingReqReply,
    State,
    UserEvent,
    wire_size,
)
from tests.swim.harness import make, sent, tick, tick_acked, tick_until_sent

A, S, D, L = State.ALIVE, State.SUSPECT, State.DEAD, State.LEFT


def gossip(*updates: MemberUpdate) -> Gossip:
    return Gossip(members=updates)


def hear(core: SwimCore, *updates: MemberUpdate, src: str = "n5") -> None:
    core.on_message(NodeId(src), Ping(99, core.node_id, gossip(*updates)))


# ====================================================================== §3.1 the probe
def test_a_ping_is_acked_with_its_sequence_number() -> None:
    c = make()
    reply = c.on_message(NodeId("n2"), Ping(7, "n1"))
    assert isinstance(reply, Ack) and reply.seq == 7


def test_a_ping_meant_for_another_member_is_dropped() -> None:
    """A ping that reaches the wrong process (an address reused) must not be acked."""
    assert make().on_message(NodeId("n2"), Ping(7, "n3")) is None


def test_a_silent_target_gets_a_ping_req_through_k_members_then_is_suspected() -> None:
    c = make(n=6)
    ping = tick_until_sent(c, Ping)
    target = ping.dst
    before = tick(c, 4)
    assert not sent(before, PingReq), "ping-req only after the probe timeout"
    r = tick(c, 1)
    helpers = sent(r, PingReq)
    assert len(helpers) == 3 and {e.dst for e in helpers}.isdisjoint({target, "n1"})
    assert all(e.msg.target == target and e.msg.seq == ping.msg.seq for e in helpers)
    assert c.members[target].state == A
    tick(c, 5)  # the end of the protocol period
    assert c.members[target].state == S
    assert c.stats["suspected"] == 1


def test_a_direct_ack_keeps_the_target_alive() -> None:
    c = make()
    ping = tick_until_sent(c, Ping)
    c.on_reply(ping.dst, ping.msg, Ack(ping.msg.seq))
    r = tick(c, 9)
    assert not sent(r, PingReq) and c.members[ping.dst].state == A
    assert c.probe is not None and c.probe.acked


def test_an_ack_relayed_through_a_ping_req_keeps_the_target_alive() -> None:
    c = make(n=6)
    target = tick_until_sent(c, Ping).dst
    helper = sent(tick(c, 5), PingReq)[0]
    c.on_reply(helper.dst, helper.msg, PingReqReply(helper.msg.seq, True))
    tick(c, 5)
    assert c.members[target].state == A


def test_a_stale_ack_of_an_earlier_period_is_ignored() -> None:
    c = make(n=6)
    first = tick_until_sent(c, Ping)
    tick(c, 10)
    second = tick_until_sent(c, Ping)
    c.on_reply(first.dst, first.msg, Ack(first.msg.seq))  # a late ack for the old probe
    assert c.probe is not None and c.probe.seq == second.msg.seq and not c.probe.acked


# ====================================================================== §3.1 ping-req
def test_a_ping_req_is_answered_once_the_target_acks() -> None:
    c = make()
    deferred = c.on_message(NodeId("n2"), PingReq(4, "n3", True))
    assert isinstance(deferred, Deferred)
    ping = sent(c.ready(), Ping)[0]
    assert ping.dst == "n3"
    c.on_reply(NodeId("n3"), ping.msg, Ack(ping.msg.seq))
    (reply,) = c.ready().replies
    assert reply.to is deferred and reply.msg.acked and reply.msg.seq == 4


@pytest.mark.parametrize("want_nack", [True, False])
def test_a_silent_target_earns_a_nack_only_when_one_was_asked_for(want_nack: bool) -> None:
    """Lifeguard §IV-A: the nack tells the prober its own network is fine."""
    c = make()
    c.on_message(NodeId("n2"), PingReq(4, "n3", want_nack))
    c.ready()
    r = tick(c, 10)
    replies = [rep.msg for rep in r.replies]
    assert replies == ([PingReqReply(4, False, replies[0].gossip)] if want_nack else [])


# ====================================================================== §4.3 round robin
def test_every_member_is_probed_once_per_pass_of_the_shuffled_list() -> None:
    """Time-bounded completeness: n-1 periods probe each other member exactly once."""
    c = make(n=8)
    targets = []
    for _ in range(14):
        ping = tick_until_sent(c, Ping, max_ticks=20)
        targets.append(ping.dst)
        c.on_reply(ping.dst, ping.msg, Ack(ping.msg.seq))
    assert sorted(targets[:7]) == sorted(targets[7:]) == [f"n{i}" for i in range(2, 9)]
    assert targets[:7] != targets[7:], "the list is reshuffled after each pass"


def test_a_new_member_is_probed_within_the_current_pass() -> None:
    c = make(n=9, join="seeds", seeds=["n2"])
    hear(c, *(MemberUpdate(f"n{i}", A, 1) for i in range(2, 9)))
    probed = []
    for _ in range(4):
        ping = tick_until_sent(c, Ping, max_ticks=20)
        probed.append(ping.dst)
        c.on_reply(ping.dst, ping.msg, Ack(ping.msg.seq))
    hear(c, MemberUpdate("n9", A, 1))
    for _ in range(4):
        ping = tick_until_sent(c, Ping, max_ticks=20)
        probed.append(ping.dst)
        c.on_reply(ping.dst, ping.msg, Ack(ping.msg.seq))
    assert "n9" in probed and len(set(probed)) == 8


# ====================================================================== §4.2 suspicion
@pytest.mark.parametrize(("current", "update", "expected"), [
    ((A, 1), MemberUpdate("n2", S, 1, "n3"), (S, 1)),  # suspect(i) overrides alive(i)
    ((A, 2), MemberUpdate("n2", S, 1, "n3"), (A, 2)),  # ... not alive(i+1)
    ((S, 1), MemberUpdate("n2", A, 1), (S, 1)),  # alive(i) does not clear suspect(i)
    ((S, 1), MemberUpdate("n2", A, 2), (A, 2)),  # alive(i+1) does: a refutation
    ((A, 1), MemberUpdate("n2", D, 1, "n3"), (D, 1)),  # confirm overrides alive(i)
    ((S, 3), MemberUpdate("n2", D, 1, "n3"), (S, 3)),  # ... not a newer incarnation
    ((D, 1), MemberUpdate("n2", S, 2, "n3"), (D, 1)),  # the dead are not suspected
    ((D, 1), MemberUpdate("n2", A, 2), (A, 2)),  # a higher incarnation rejoins
    ((D, 1), MemberUpdate("n2", A, 1), (D, 1)),  # ... the same one does not
    ((D, 1), MemberUpdate("n2", L, 1, "n2"), (L, 1)),  # left is more telling than dead
    ((L, 2), MemberUpdate("n2", D, 2, "n3"), (L, 2)),
])
def test_the_override_rules(current: tuple[State, int], update: MemberUpdate,
                            expected: tuple[State, int]) -> None:
    c = make()
    c.members["n2"].state, c.members["n2"].incarnation = current
    hear(c, update)
    assert (c.members["n2"].state, c.members["n2"].incarnation) == expected


def test_a_suspected_member_refutes_with_a_higher_incarnation_made_durable() -> None:
    c = make()
    mine = c.incarnation
    hear(c, MemberUpdate("n1", S, mine, "n3"))
    assert c.incarnation == mine + 1 and c.members["n1"].state == A
    r = c.ready()
    assert r.persist and r.persist[-1].incarnation == mine + 1
    ack = c.on_message(NodeId("n2"), Ping(1, "n1"))
    assert MemberUpdate("n1", A, mine + 1, "n1") in ack.gossip.members


def test_an_old_suspicion_needs_no_refutation() -> None:
    c = make(recovered=SelfRecord(2, Entry("n1", 1), 0))  # a restart: incarnation 3
    hear(c, MemberUpdate("n1", S, c.incarnation - 1, "n3"))
    assert c.stats["refuted"] == 0


def test_a_suspicion_that_stands_its_timeout_is_confirmed_dead() -> None:
    c = make(lha_suspicion=False)  # fixed: 4 * max(1, log10(5)) * 1 s = 40 ticks
    hear(c, MemberUpdate("n2", S, 0, "n3"))
    tick_acked(c, 39)
    assert c.members["n2"].state == S
    tick_acked(c, 1)
    assert c.members["n2"].state == D
    ack = c.on_message(NodeId("n4"), Ping(1, "n1"))
    assert MemberUpdate("n2", D, 0, "n1") in ack.gossip.members


def test_a_refutation_cancels_the_suspicion_timer() -> None:
    c = make(lha_suspicion=False)
    hear(c, MemberUpdate("n2", S, 0, "n3"))
    tick_acked(c, 20)
    hear(c, MemberUpdate("n2", A, 1))
    tick_acked(c, 40)
    assert c.members["n2"].state == A and c.stats["declared_dead"] == 0


# ====================================================================== §4.1 dissemination
def test_piggybacked_updates_fit_the_byte_budget_and_are_sent_lambda_log_n_times() -> None:
    """memberlist's TransmitLimitedQueue: a message carries as many updates as fit its
    byte budget (piggyback_bytes), least sent first; each goes lambda*log N times."""
    c = make(n=5, piggyback_bytes=64, retransmit_mult=3)  # limit 3*ceil(log10(6)) = 3
    c.queue = type(c.queue)()  # only what this test queues
    events = tuple(UserEvent("n4", i, "e", b"x" * 30) for i in (1, 2, 3))
    assert 64 // 2 < wire_size(events[0]) <= 64, "one event a message"
    first = c.on_message(NodeId("n5"), Ping(0, "n1", Gossip(events=events)))
    carried = [first.gossip] + [c.on_message(NodeId("n5"), Ping(i, "n1")).gossip
                                for i in range(1, 10)]
    assert all(sum(map(wire_size, g.events)) <= 64 for g in carried)
    assert [len(g) for g in carried] == [1] * 9 + [0]
    counts = {e.seq: sum(e in g.events for g in carried) for e in events}
    assert counts == {1: 3, 2: 3, 3: 3}


def test_a_smaller_update_fills_the_room_a_larger_one_leaves() -> None:
    queue = BroadcastQueue()
    for key, size in (("small", 10), ("large", 50), ("medium", 30)):  # newest first
        queue.enqueue(key, size)
    assert queue.take(64, limit=9, size=lambda s: s) == [30, 10]
    assert queue.take(64, limit=9, size=lambda s: s) == [50, 10], "least sent first"


def test_an_update_larger_than_the_budget_travels_alone() -> None:
    """memberlist would never send it; a user event of up to 64 KiB must still go."""
    queue = BroadcastQueue()
    queue.enqueue("small", 10)
    queue.enqueue("huge", 500)
    assert queue.take(64, limit=1, size=lambda s: s) == [500]
    assert queue.take(64, limit=1, size=lambda s: s) == [10]


def test_a_newer_update_replaces_the_queued_one_about_the_same_member() -> None:
    c = make()
    hear(c, MemberUpdate("n2", S, 0, "n3"))
    hear(c, MemberUpdate("n2", A, 1))
    g = c.on_message(NodeId("n5"), Ping(1, "n1")).gossip
    assert [u for u in g.members if u.member == "n2"] == [MemberUpdate("n2", A, 1, "n1")]


# ====================================================================== joining, leaving
def test_a_joining_member_asks_its_seeds_until_one_answers() -> None:
    c = make(n=5, join="seeds", seeds=["n2", "n3"])
    assert not c.joined
    syns = sent(tick(c), DigestSyn)
    assert sorted(e.dst for e in syns) == ["n2", "n3"]
    assert {e.address for e in syns} == {""}, "the driver's configured addresses"
    assert MemberUpdate("n1", A, c.incarnation, "n1") in syns[0].msg.members
    assert len(sent(tick(c, 10), DigestSyn)) == 2, "retried every join_retry_ms"
    c.on_reply(NodeId("n2"), syns[0].msg, DigestAck(
        (MemberUpdate("n2", A, 1, "n2"), MemberUpdate("n4", A, 3, "n2")), (), ()))
    assert c.joined and c.members["n4"].incarnation == 3
    assert not sent(tick(c, 9), DigestSyn)


def test_a_graceful_leave_is_disseminated_then_answered_and_the_member_goes_quiet() -> None:
    c = make(n=3, retransmit_mult=1)  # the left update is sent ceil(log10(4)) = 1 time
    c.submit("leave-1", Leave())
    r = c.ready()
    assert r.persist and not r.answers
    ack = c.on_message(NodeId("n2"), Ping(1, "n1"))
    assert MemberUpdate("n1", L, c.incarnation, "n1") in ack.gossip.members
    assert [a.request_id for a in c.ready().answers] == ["leave-1"]
    assert c.on_message(NodeId("n2"), Ping(2, "n1")) is None
    assert not tick(c, 30).messages


def test_a_leave_is_answered_after_its_timeout_even_if_nobody_pings() -> None:
    c = make(n=3, leave_timeout_ms=1000)
    c.submit("leave-1", Leave())
    answers = tick(c, 10).answers
    assert [a.request_id for a in answers] == ["leave-1"] and c.left


def test_a_restart_starts_a_new_life_above_everything_durable() -> None:
    c = make()
    c.submit(1, Incr(5))
    hear(c, MemberUpdate("n1", S, c.incarnation, "n3"))
    record = [p for p in c.ready().persist][-1]
    again = make(recovered=record)
    assert again.incarnation == record.incarnation + 1
    assert again.entry.version == record.entry.version + 1 and again.entry.p == 5


# ====================================================================== anti-entropy
def test_the_three_way_digest_exchange_sends_each_side_what_it_lacks() -> None:
    a, b = make("n1"), make("n2")
    a.submit(1, SetMeta("dc", "eu"))
    b.submit(2, Incr(3))
    a.entries["n4"] = Entry("n4", 9, 0, {}, 1, 0)
    syn = a._digest_syn()
    ack = b.on_message(NodeId("n1"), syn)
    assert isinstance(ack, DigestAck)
    assert {e.member for e in ack.entries} == {"n2"} and set(ack.wanted) == {"n1", "n4"}
    a.on_reply(NodeId("n2"), syn, ack)
    (env,) = sent(a.ready(), DigestAck2)
    b.on_message(NodeId("n1"), env.msg)
    assert a.counter() == b.counter() == 4
    assert b.entries["n1"].meta == {"dc": "eu"}


def test_a_remote_dead_is_only_a_suspicion_in_a_full_state_merge() -> None:
    """memberlist's mergeRemoteState: after a partition, the other side's verdicts are
    checked again here instead of killing members we can still reach."""
    b = make("n2")
    b.on_message(NodeId("n1"), DigestSyn((MemberUpdate("n3", D, 0, "n1"),), ()))
    assert b.members["n3"].state == S


def test_an_own_entry_is_written_only_by_its_member() -> None:
    c = make()
    c.submit(1, Incr(2))
    c.on_message(NodeId("n2"), DigestAck2((Entry("n1", 999, 0, {}, 1000, 0),)))
    assert c.counter() == 2


# ====================================================================== client commands
def test_client_commands_and_their_validation() -> None:
    c = make()
    c.submit(1, Incr(5))
    c.submit(2, Incr(-2))
    c.submit(3, SetMeta("role", "web"))
    c.submit(4, Broadcast("deploy", b"v2"))
    answers = {a.request_id: a.result for a in c.ready().answers}
    assert answers == {1: 5, 2: 3, 3: None, 4: 1}
    for build, field in ((lambda: Incr(0), "delta"), (lambda: Incr(2**63), "delta"),
                         (lambda: SetMeta("", "x"), "key"),
                         (lambda: SetMeta("k", "x" * 2000), "key, value"),
                         (lambda: Broadcast("", b""), "name"),
                         (lambda: Broadcast("e", b"x" * 70_000), "name, payload")):
        with pytest.raises(InvalidRequest, match=f"^{field}: "):
            c.submit(9, build())
    for i in range(63):  # "role" is the first of 64 keys
        c.submit(10, SetMeta(f"k{i}", "v"))
    with pytest.raises(InvalidRequest, match="^key: this member already has 64"):
        c.submit(9, SetMeta("one-too-many", "v"))
    c.submit(11, SetMeta("k0", "changed"))  # an existing key may change
    c.ready()
    c.submit(5, Members())
    view = c.ready().answers[0].result
    assert view.counter == 3 and view.meta["n1/role"] == "web" and len(view.meta) == 64
    assert [e.name for e in view.events] == ["deploy"]


def test_a_user_event_is_delivered_once_and_passed_on() -> None:
    c = make()
    ev = UserEvent("n3", 1, "deploy", b"v2")
    for _ in range(3):
        c.on_message(NodeId("n2"), Ping(1, "n1", Gossip(events=(ev,))))
    assert list(c.events_delivered) == [ev]
    assert ev in c.on_message(NodeId("n4"), Ping(2, "n1")).gossip.events


def test_a_message_swim_does_not_take_is_refused() -> None:
    with pytest.raises(InvalidRequest):
        make().on_message(NodeId("n2"), Digest("n2", 1))


def test_numbers_beyond_the_wire_are_refused_not_stored() -> None:
    """A counter or incarnation that would not fit the wire's uint64 (or the counter's
    int64) must never be stored: refused as bad input, the node unchanged."""
    c = make()
    with pytest.raises(InvalidRequest):
        c.submit(1, Incr(2**41))
    for _ in range(3):
        c.submit(1, Incr(2**40))
    assert c.counter() == 3 * 2**40
    with pytest.raises(ValueError):
        MemberUpdate("n1", S, 2**63, "n3")  # a peer's message decodes through this
    from protocols.swim.messages import MAX_COUNT
    c.entry = Entry("n1", 1, 0, {}, MAX_COUNT - 1, 0)
    with pytest.raises(InvalidRequest, match="full"):
        c.submit(2, Incr(5))
