"""The Membership client service against bad input, on real processes (as the Kv
service's test_client_input_never_stops_a_node): oversized, malformed and impossible
requests are refused with INVALID_ARGUMENT naming the field, change nothing, and every
node keeps serving."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import grpc.aio
import pytest

from cluster.runner import LocalCluster
from protocols._pb import swim_pb2
from protocols.swim.client import MembershipClient
from protocols.swim.commands import MAX_DELTA, MAX_EVENT_BYTES, MAX_META_BYTES
from protocols.swim.messages import MAX_KEYS

Factory = Callable[..., Awaitable[LocalCluster]]


async def refused(call: Awaitable[Any], field: str) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await call
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (field, e.value)
    assert field in (e.value.details() or ""), (field, e.value.details())


async def test_bad_membership_requests_are_refused_and_change_nothing(
        cluster: Factory) -> None:
    c = await cluster("swim", nodes=3, tick_ms=50)
    async with MembershipClient(c.client_addresses, timeout_s=10) as client:
        assert await client.incr("n1", 5) == 5
        for i in range(MAX_KEYS):
            await client.set_meta("n1", f"k{i}", "v")
        await client.broadcast("n1", "ok", b"x" * (MAX_EVENT_BYTES - 2))  # at the limit
        before = await client.view("n1")

        # oversized and impossible values, each naming its field
        await refused(client.incr("n1", 0), "delta:")
        await refused(client.incr("n1", MAX_DELTA + 1), "delta:")
        await refused(client.incr("n1", -(2**63)), "delta:")
        await refused(client.set_meta("n1", "", "x"), "key:")
        await refused(client.set_meta("n1", "k", "x" * MAX_META_BYTES), "key, value:")
        await refused(client.set_meta("n1", "one-too-many", "v"), "key:")  # 65th key
        await refused(client.broadcast("n1", "", b"x"), "name:")
        await refused(client.broadcast("n1", "e", b"x" * MAX_EVENT_BYTES), "name, payload:")
        await refused(client.broadcast("n1", "e", b"x" * (8 << 20)), "name, payload:")
        # malformed bytes on the wire: not a protobuf, and a key that is not UTF-8
        async with grpc.aio.insecure_channel(c.client_addresses["n1"]) as ch:
            raw = ch.unary_unary("/protocols.swim.v1.Membership/SetMeta",
                                 request_serializer=lambda b: b,
                                 response_deserializer=swim_pb2.SetMetaReply.FromString)
            await refused(raw(b"\xff\xff\xff", timeout=10), "SetMetaRequest")
            await refused(raw(b"\x0a\x01\xff\x12\x01v", timeout=10), "key")

        after = await client.view("n1")
        assert (after.counter, after.meta, after.events) == \
            (before.counter, before.meta, before.events), "a refused request changed nothing"
        assert await client.incr("n1", 1) == 6, "and the node still serves"
        for n in c.ids:
            view = await client.view(n)  # every node answers, none stopped
            assert view.state("n1") is not None
    assert all(info.proc is not None and info.proc.poll() is None for info in c.nodes.values())
