"""Every Dynamo message survives the wire: dataclass -> protobuf bytes -> dataclass, and
every message the spec declares (SWIM's too) has a route on the node shell."""

from __future__ import annotations

from typing import Any

import pytest

from protocols._pb import dynamo_pb2
from protocols.contract import Rpc
from protocols.dynamo import SPEC
from protocols.dynamo.messages import (
    AaeAnswer,
    AaeAsk,
    AaeSegment,
    Forward,
    Forwarded,
    ReplicaGet,
    ReplicaGetReply,
    ReplicaPut,
    ReplicaPutAck,
)
from protocols.dynamo.node import SHELL
from protocols.runtime.codec import from_proto, to_proto
from protocols.swim import SPEC as SWIM_SPEC

TOP = 2**64 - 1  # item and node hashes are 64-bit unsigned
MESSAGES: list[Any] = [
    ReplicaPut("cart", b"\x00\x01state", "n3", 7), ReplicaPut("k", b""),
    ReplicaPutAck("cart"),
    ReplicaGet("cart", 2**40), ReplicaGet("k"),
    ReplicaGetReply("cart", b"\xffstate"), ReplicaGetReply("k", b""),
    Forward("put", "cart", "milk", {"n1~0badcafe": 3, "n2~12345678": 2**62 - 1}, 0, 2, 9),
    Forward("get", "cart", r=3, op=1),
    Forwarded(True, ("milk", "eggs"), {"n1~0badcafe": 1}), Forwarded(True),
    Forwarded(False, error="w=3: 1 of 3 acks", refused=False),
    Forwarded(False, error="key: a key is 1 to 1024 bytes, got 0", refused=True),
    AaeAsk(0), AaeAsk(2, (0, 5, (1 << 20) - 1)), AaeAsk(3, (17,), keys=True),
    AaeAnswer({0: TOP, 3: 0, 15: 12345}),
    AaeAnswer(items={4: AaeSegment({"a": TOP, "b": 1}), 2**20 - 1: AaeSegment()}),
    AaeAnswer(),
]


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: type(m).__name__)
def test_every_message_round_trips(msg: Any) -> None:
    pb_type = getattr(dynamo_pb2, type(msg).__name__)
    wire = to_proto(msg, pb_type).SerializeToString()
    back = from_proto(pb_type.FromString(wire), type(msg))
    assert back == msg


def test_every_declared_dynamo_message_is_covered() -> None:
    own = [k for k in SPEC.messages.kinds if k not in SWIM_SPEC.messages.kinds]
    declared = {k.request if isinstance(k, Rpc) else k.message for k in own}
    declared |= {k.reply for k in own if isinstance(k, Rpc)}
    assert declared == {type(m) for m in MESSAGES} - {AaeSegment}


def test_the_shell_routes_every_declared_message_on_its_own_service() -> None:
    """Dynamo's messages on ``protocols.dynamo.v1.Dynamo``, SWIM's on SWIM's service; one
    route per message, no method name twice (frames name the route by method)."""
    by_type = {r.request_type: r for r in SHELL.routes}
    declared = [k.request if isinstance(k, Rpc) else k.message for k in SPEC.messages.kinds]
    assert sorted(by_type, key=lambda t: t.__name__) == sorted(declared,
                                                              key=lambda t: t.__name__)
    assert len({r.method for r in SHELL.routes}) == len(SHELL.routes)
    swim = {k.request if isinstance(k, Rpc) else k.message for k in SWIM_SPEC.messages.kinds}
    for t, route in by_type.items():
        assert route.service == ("protocols.swim.v1.Swim" if t in swim
                                 else "protocols.dynamo.v1.Dynamo"), t
