"""Joining by address, moving, and reaping, as memberlist does them, on cores driven by
hand: a member's address travels in its Alive update; a joiner knows nothing but a
seed's address; a member that comes back elsewhere is found there once its old life is
dead; the dead are forgotten after ``reap_ms``."""

from __future__ import annotations

import random
from typing import Any

from protocols.common.ids import NodeId
from protocols.swim.core import SwimCore
from protocols.swim.messages import (
    Ack,
    DigestAck,
    DigestSyn,
    Entry,
    Gossip,
    MemberUpdate,
    Ping,
    PingReq,
    State,
)
from protocols.swim.options import SwimOptions
from tests.swim.harness import TICK_S, make, sent, tick, tick_acked, tick_until_sent

A, S, D, L = State.ALIVE, State.SUSPECT, State.DEAD, State.LEFT


def lone(node: str = "n9", **options: Any) -> SwimCore:
    """A member configured with nobody: only its own address and its options."""
    opts = SwimOptions.from_mapping(options, [node])
    core = SwimCore(NodeId(node), [], random.Random(3), opts, None, TICK_S, f"{node}:7946")
    core.ready()
    return core


def hear(core: SwimCore, *updates: MemberUpdate, src: str = "n5") -> None:
    core.on_message(NodeId(src), Ping(99, core.node_id, Gossip(members=updates)))


# ====================================================================== joining
def test_a_member_with_only_a_seeds_address_joins_and_learns_where_everyone_is() -> None:
    c = lone(seeds=["10.0.0.1:7946"])
    (syn,) = sent(tick(c), DigestSyn)
    assert (syn.dst, syn.address) == ("10.0.0.1:7946", "10.0.0.1:7946"), \
        "the seed is called by its address: its name is not known yet"
    assert MemberUpdate("n9", A, 0, "n9", "n9:7946") in syn.msg.members, \
        "the joiner's Alive says where it listens"
    c.on_reply(syn.dst, syn.msg, DigestAck((MemberUpdate("n1", A, 2, "n1", "10.0.0.1:7946"),
                                            MemberUpdate("n2", A, 1, "n1", "10.0.0.2:7946")),
                                           (), ()))
    assert c.joined and sorted(c.members) == ["n1", "n2", "n9"]
    pings = {}
    for _ in range(2):
        ping = tick_until_sent(c, Ping)
        pings[ping.dst] = ping.address
        c.on_reply(ping.dst, ping.msg, Ack(ping.msg.seq))
    assert pings == {"n1": "10.0.0.1:7946", "n2": "10.0.0.2:7946"}
    assert all(e.dst != "10.0.0.1:7946" for e in sent(tick_acked(c, 30), DigestSyn)), \
        "joined: the seed is not asked again"


def test_a_seed_learns_the_joiner_and_its_address_from_the_join_itself() -> None:
    seed = make("n1", n=3)
    ack = seed.on_message(NodeId("n9"), DigestSyn(
        (MemberUpdate("n9", A, 0, "n9", "n9:7946"),), ()))
    assert isinstance(ack, DigestAck)
    assert seed.members["n9"].state == A and seed.members["n9"].address == "n9:7946"
    assert any(u.member == "n9" and u.address == "n9:7946"
               for u in seed.on_message(NodeId("n2"), Ping(1, "n1")).gossip.members), \
        "and spreads the news, address included"


def test_a_member_heard_of_by_gossip_is_probed_at_its_address() -> None:
    c = make(n=3)
    hear(c, MemberUpdate("n7", A, 4, "n2", "n7:7946"))
    for _ in range(6):
        ping = tick_until_sent(c, Ping)
        c.on_reply(ping.dst, ping.msg, Ack(ping.msg.seq))
        if ping.dst == "n7":
            assert ping.address == "n7:7946"
            return
    raise AssertionError("n7 was not probed within a pass")


def test_a_ping_req_names_the_targets_address_and_a_helper_uses_it() -> None:
    """memberlist's indirectPingReq carries the target's address: a helper that has not
    heard of the target yet still reaches it."""
    c = make(n=6)
    hear(c, MemberUpdate("n7", A, 1, "n2", "n7:7946"))
    while True:
        ping = tick_until_sent(c, Ping)
        if ping.dst == "n7":
            break
        c.on_reply(ping.dst, ping.msg, Ack(ping.msg.seq))
    reqs = sent(tick(c, 5), PingReq)
    assert reqs and {r.msg.address for r in reqs} == {"n7:7946"}
    helper = make("n2", n=6)
    assert "n7" not in helper.members
    helper.on_message(NodeId("n1"), reqs[0].msg)
    (relayed,) = sent(helper.ready(), Ping)
    assert (relayed.dst, relayed.address) == ("n7", "n7:7946")


# ====================================================================== moving
def test_a_new_life_at_another_address_replaces_a_dead_one() -> None:
    c = make(n=3)
    c.members["n2"].address = "n2:7946"
    hear(c, MemberUpdate("n2", D, 0, "n3"))
    hear(c, MemberUpdate("n2", A, 1, "n2", "n2:9000"))
    assert (c.members["n2"].state, c.members["n2"].address) == (A, "n2:9000")
    ping = tick_until_sent(c, Ping)
    while ping.dst != "n2":
        c.on_reply(ping.dst, ping.msg, Ack(ping.msg.seq))
        ping = tick_until_sent(c, Ping)
    assert ping.address == "n2:9000"


def test_another_address_is_refused_while_the_old_life_may_be_running() -> None:
    """memberlist's "Conflicting address": two processes claiming one name must not
    take turns; the incumbent keeps it until it is declared dead or leaves."""
    c = make(n=3)
    c.members["n2"].address = "n2:7946"
    for state in (A, S):
        c.members["n2"].state = state
        hear(c, MemberUpdate("n2", A, 5, "n2", "n2:9000"))
        assert (c.members["n2"].incarnation, c.members["n2"].address) == (0, "n2:7946")
    hear(c, MemberUpdate("n2", A, 5, "n2", "n2:7946"))
    assert c.members["n2"].incarnation == 5, "the same address: an ordinary refutation"


def test_a_member_does_not_refute_an_alive_of_another_process_with_its_name() -> None:
    c = lone("n1", seeds=["n2:7946"])
    hear(c, MemberUpdate("n1", A, 7, "n1", "elsewhere:1"))
    assert c.incarnation == 0 and c.stats["refuted"] == 0
    hear(c, MemberUpdate("n1", A, 7, "n1", "n1:7946"))
    assert c.incarnation == 8, "an Alive of its own address is a past life: refuted"


# ====================================================================== reaping
def test_the_dead_are_forgotten_after_reap_ms_and_their_counter_share_stays() -> None:
    c = make(n=4, reap_ms=5000)  # 50 ticks
    c.on_message(NodeId("n2"), Ping(1, "n1", Gossip(entries=(Entry("n2", 1, 0, {}, 7, 0),))))
    hear(c, MemberUpdate("n2", D, 0, "n3"))
    hear(c, MemberUpdate("n3", L, 1, "n3"))
    tick_acked(c, 50)  # the tick they died in is not a whole one: it does not count
    assert c.members["n2"].state == D and c.members["n3"].state == L
    tick_acked(c, 1)
    assert "n2" not in c.members and "n3" not in c.members and c.stats["reaped"] == 2
    assert c.counter() == 7, "its increments happened: the entry outlives the member"
    assert all(u.member not in ("n2", "n3") for u in c._full_state())
    hear(c, MemberUpdate("n2", A, 0, "n2", "n2:7946"))
    assert c.members["n2"].state == A, "a forgotten name may join again"


def test_a_member_is_reaped_for_its_latest_death_not_an_earlier_one() -> None:
    c = make(n=3, reap_ms=5000)  # 50 ticks
    hear(c, MemberUpdate("n2", D, 0, "n3"))
    tick_acked(c, 20)
    hear(c, MemberUpdate("n2", A, 1, "n2"))  # it came back ...
    tick_acked(c, 20)
    hear(c, MemberUpdate("n2", D, 1, "n3"))  # ... and died again, 40 ticks in
    tick_acked(c, 31)  # 51 ticks after the first death
    assert c.members["n2"].state == D, "not reaped for the death it came back from"
    tick_acked(c, 20)
    assert "n2" not in c.members


def test_the_default_keeps_the_dead_for_a_day_so_partitions_can_heal() -> None:
    assert SwimOptions().reap_ms == 24 * 3600 * 1000
    c = make(n=3)
    hear(c, MemberUpdate("n2", D, 0, "n3"))
    tick_acked(c, 3000)  # 5 minutes
    assert c.members["n2"].state == D

