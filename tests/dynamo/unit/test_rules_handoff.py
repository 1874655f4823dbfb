"""The stand-in's side of the sloppy quorum and hinted handoff (DeCandia et al., SOSP 2007,
§4.6), on one core driven by hand: a hinted version is recovered as a hint, served to
gets, delivered only to an owner believed healthy, and dropped only on the ack of the
version delivered; a non-owner forwards to the first owner it believes healthy (§4.5)."""

from __future__ import annotations

import random
from typing import Any

from protocols.common.ids import NodeId
from protocols.dynamo.core import DynamoCore, DynamoOptions, Get, Put, hinted_key
from protocols.dynamo.messages import Forward, ReplicaGet, ReplicaPut, ReplicaPutAck
from protocols.vkv.core import KeyRecord
from protocols.vkv.state import encode

NODES = [NodeId(f"n{i}") for i in range(1, 6)]
QUIET = {"membership": "static", "anti_entropy": "off", "handoff_interval_ms": 100,
         "failure_memory_ms": 1000}  # ticks of 10 ms: handoff every 10, failures 100


def make(me: str, recovered: dict[str, bytes] | None = None, **options: Any) -> DynamoCore:
    opts = DynamoOptions.from_mapping({**QUIET, **options}, NODES)
    c = DynamoCore(NodeId(me), [n for n in NODES if n != me], random.Random(0), opts,
                   recovered or {}, 0.01, f"{me}~0000000{me[1:]}")
    c.ready()
    return c


def written(writer: str, value: str, key: str = "k") -> bytes:
    """The state of ``key`` after one blind write coordinated at ``writer`` (an owner)."""
    c = make(writer)
    c.submit(1, Put(key, value, w=1))
    return encode(c.store[key])


def roles(key: str = "k") -> tuple[str, str, str, str, str]:
    o1, o2, o3, stand_in, outsider = make("n1").preference_list(key)
    return o1, o2, o3, stand_in, outsider


def puts_to(c: DynamoCore, dst: str) -> list[Any]:
    return [e.msg for e in c.ready().messages
            if e.dst == dst and isinstance(e.msg, ReplicaPut)]


def ticks(c: DynamoCore, n: int) -> None:
    for _ in range(n):
        c.tick()


def test_hinted_versions_are_recovered_as_hints_not_as_keys() -> None:
    o1, _, o3, stand_in, _ = roles()
    c = make(stand_in, {hinted_key(o3, "k"): written(o1, "a")})
    assert not c.store  # nothing of its own
    assert c.hinted["k"][o3].values() == ["a"]


def test_a_get_at_the_stand_in_is_answered_with_the_hinted_version() -> None:
    o1, _, o3, stand_in, _ = roles()
    c = make(stand_in)
    c.on_message(NodeId(o1), ReplicaPut("k", written(o1, "a"), o3, 1))
    reply = c.on_message(NodeId(o1), ReplicaGet("k", 2))
    assert c._decode(reply.state).values() == ["a"]


def test_a_hint_is_delivered_only_once_its_owner_is_believed_healthy() -> None:
    o1, _, o3, stand_in, _ = roles()
    c = make(stand_in)
    c.on_message(NodeId(o1), ReplicaPut("k", written(o1, "a"), o3, 1))
    c.on_send_failed(NodeId(o3), ReplicaGet("k", 99))  # o3 failed a request just now
    ticks(c, 50)  # five handoff rounds within the failure memory
    assert puts_to(c, o3) == []
    ticks(c, 60)  # the failure is forgotten
    (put,) = puts_to(c, o3)
    assert put.key == "k" and put.hint == ""  # to the owner, as its own


def test_an_ack_of_an_older_version_keeps_the_hint_and_the_newer_one_is_delivered() -> None:
    o1, o2, o3, stand_in, _ = roles()
    c = make(stand_in)
    c.on_message(NodeId(o1), ReplicaPut("k", written(o1, "a"), o3, 1))
    ticks(c, 10)
    (first,) = puts_to(c, o3)
    c.on_message(NodeId(o2), ReplicaPut("k", written(o2, "b"), o3, 2))  # a second write
    c.ready()
    c.on_reply(NodeId(o3), first, ReplicaPutAck("k"))  # acknowledges "a" alone
    assert sorted(c.hinted["k"][o3].values()) == ["a", "b"]
    assert KeyRecord(hinted_key(o3, "k"), b"") not in c.ready().persist
    ticks(c, 10)
    (second,) = puts_to(c, o3)
    assert sorted(c._decode(second.state).values()) == ["a", "b"]
    c.on_reply(NodeId(o3), second, ReplicaPutAck("k"))
    assert "k" not in c.hinted
    assert KeyRecord(hinted_key(o3, "k"), b"") in c.ready().persist  # the drop is durable


def test_a_non_owner_forwards_to_the_first_owner_it_believes_healthy() -> None:
    o1, o2, _, _, outsider = roles()
    c = make(outsider)
    c.on_send_failed(NodeId(o1), ReplicaGet("k", 99))
    c.submit(1, Get("k"))
    (fwd,) = [e for e in c.ready().messages if isinstance(e.msg, Forward)]
    assert fwd.dst == o2
