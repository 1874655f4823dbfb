"""Rebalancing (DeCandia et al., SOSP 2007, §4.9) on one core driven by hand: a node
holding a key it does not own streams it to every owner, drops it only once all of them
acknowledged it (durably: a record with an empty state), and forgets a debt to a node
that is no longer an owner."""

from __future__ import annotations

import random

from protocols.common.ids import NodeId
from protocols.dynamo.core import DynamoCore, DynamoOptions, Put
from protocols.dynamo.messages import ReplicaPut, ReplicaPutAck
from protocols.vkv.core import KeyRecord
from tests.dynamo.unit.test_rules_handoff import NODES, QUIET, make, roles, ticks, written


def make_on(nodes: list[NodeId], me: str) -> DynamoCore:
    """A core of a cluster of ``nodes`` only (static membership: the ring is them)."""
    opts = DynamoOptions.from_mapping(QUIET, NODES)
    c = DynamoCore(NodeId(me), [n for n in nodes if n != me], random.Random(0), opts, {},
                   0.01, f"{me}~0000000{me[1:]}")
    c.ready()
    return c


def puts(c: object) -> dict[str, list[ReplicaPut]]:
    """The ReplicaPuts ``c`` sends, by destination."""
    out: dict[str, list[ReplicaPut]] = {}
    for e in c.ready().messages:  # type: ignore[attr-defined]
        if isinstance(e.msg, ReplicaPut):
            out.setdefault(e.dst, []).append(e.msg)
    return out


def _outsider_holding_the_key() -> tuple[list[str], str, object]:
    o1, o2, o3, stand_in, _ = roles()
    c = make(stand_in, {"k": written(o1, "a")})  # e.g. written here on an older ring
    return [o1, o2, o3], stand_in, c


def test_a_non_owner_streams_a_key_to_every_owner_and_drops_it_after_the_last_ack() -> None:
    owners, _, c = _outsider_holding_the_key()
    ticks(c, 10)
    sent = puts(c)
    assert sorted(sent) == sorted(owners)
    assert all(len(p) == 1 and p[0].hint == "" for p in sent.values()), sent
    for o in owners[:2]:
        c.on_reply(NodeId(o), sent[o][0], ReplicaPutAck("k"))
        assert "k" in c.store  # not every owner has it yet
    c.on_reply(NodeId(owners[2]), sent[owners[2]][0], ReplicaPutAck("k"))
    assert "k" not in c.store and not c.moving
    assert KeyRecord("k", b"") in c.ready().persist  # the drop is durable


def test_a_debt_to_a_node_no_longer_an_owner_is_forgotten() -> None:
    owners, me, c = _outsider_holding_the_key()
    gone = owners[0]
    c.on_peers_changed(tuple(n for n in NODES if n not in (me, gone)), {})
    now = c.owners("k")
    assert gone not in now
    ticks(c, 10)
    sent = puts(c)
    assert gone not in sent
    assert sorted(sent) == sorted(o for o in now if o != me)
    for o, (put,) in sent.items():
        c.on_reply(NodeId(o), put, ReplicaPutAck("k"))
    assert not c.moving  # every owner it owed acknowledged
    assert ("k" in c.store) == (me in now)  # an owner keeps it, a non-owner drops it


def test_an_owner_that_loses_a_key_hands_it_to_the_new_owner_before_dropping_it() -> None:
    """It may hold the only copy of a write (W = 1): the new owner gets its version, and
    the key is dropped (the count of its writes kept) only once that owner acknowledged."""
    four, five = make_on(NODES[:4], "n1"), make("n1")
    key = next(f"key{i}" for i in range(1000)
               if set(four.owners(f"key{i}")) - set(five.owners(f"key{i}")))
    before, after = four.owners(key), five.owners(key)
    (me,) = set(before) - set(after)
    c = make_on(NODES[:4], me)
    c.submit(1, Put(key, "only-here", w=1))
    c.ready()
    c.on_peers_changed(tuple(n for n in NODES if n != me), {})
    ticks(c, 10)
    sent = puts(c)
    assert sorted(sent) == sorted(set(after) - set(before))  # the new owner only
    assert key in c.store
    for o, (put,) in sent.items():
        assert c._decode(put.state).values() == ["only-here"]
        c.on_reply(NodeId(o), put, ReplicaPutAck(key))
    assert key not in c.store and c.dropped[key] == 1
