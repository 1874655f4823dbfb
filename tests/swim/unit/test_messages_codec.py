"""Every SWIM message survives the wire: dataclass -> protobuf bytes -> dataclass."""

from __future__ import annotations

from typing import Any

import pytest

from protocols._pb import swim_pb2
from protocols.runtime.codec import from_proto, to_proto
from protocols.swim import SPEC
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
    Rumor,
    State,
    UserEvent,
)

GOSSIP = Gossip(
    (MemberUpdate("n2", State.SUSPECT, 3, "n4"), MemberUpdate("n3", State.LEFT, 1, "n3")),
    (Entry("n2", 7, 2, {"dc": "eu", "zone": "b"}, 10, 3),),
    (UserEvent("n5", 2, "deploy", b"\x00v2"),))
MESSAGES: list[Any] = [
    Ping(1, "n2", GOSSIP), Ping(2, "n3"), Ack(1, GOSSIP), PingReq(9, "n3", True, GOSSIP),
    PingReqReply(9, False), PingReqReply(9, True, GOSSIP),
    DigestSyn(GOSSIP.members, (Digest("n2", 7, 2), Digest("n1", 1))),
    DigestAck(GOSSIP.members, GOSSIP.entries, ("n3",)), DigestAck2(GOSSIP.entries),
    Rumor(GOSSIP),
]


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips(msg: Any) -> None:
    pb_type = getattr(swim_pb2, type(msg).__name__)
    wire = to_proto(msg, pb_type).SerializeToString()
    back = from_proto(pb_type.FromString(wire), type(msg))
    assert back == msg
    if isinstance(back, Ping | Ack) and back.gossip.members:
        assert type(back.gossip.members[0].state) is State


def test_every_declared_message_is_covered() -> None:
    declared = {getattr(k, "request", None) or k.message for k in SPEC.messages.kinds}
    declared |= {k.reply for k in SPEC.messages.kinds if hasattr(k, "reply")}
    assert declared == {type(m) for m in MESSAGES}


def test_message_sizes_grow_with_the_gossip_they_carry() -> None:
    assert SPEC.message_size(Ping(1, "n2", GOSSIP)) > SPEC.message_size(Ping(1, "n2"))
