"""Causal broadcast on real processes through the proxies, with jitter on every link
(latency toxics) and delayed and reordered messages (message faults): the causal mode
delivers every broadcast everywhere in causal order; the unordered mode, under the same
faults, is caught breaking it (so the check can fail)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import grpc
import grpc.aio
import pytest

from cluster.pytest_plugin import wait_until
from cluster.runner import LocalCluster
from protocols._pb import causal_pb2, causal_pb2_grpc
from protocols.causal.client import BroadcastClient
from protocols.causal.core import MAX_PAYLOAD
from protocols.causal.node import SERVICE_NAME
from protocols.check.causal import causal_violations, missing_deliveries
from tests.support import raw_grpc

Factory = Callable[..., Awaitable[LocalCluster]]


async def broadcast_under_faults(cluster: Factory, mode: str
                                 ) -> dict[str, list[tuple[str, int]]]:
    c = await cluster("causal", nodes=4, options={"mode": mode})
    ids = [str(n) for n in c.ids]
    await c.nemesis.latency(20, jitter_ms=20)
    await c.nemesis.delay(0, 150, seed=1)
    await c.nemesis.reorder(0.3, 300, seed=2)
    async with BroadcastClient(c.client_addresses) as client:
        sent = 0

        async def sender(k: int) -> None:
            nonlocal sent
            rng = random.Random(k)
            for i in range(40):
                await client.send(rng.choice(ids), f"{k}-{i}".encode())
                sent += 1
                await asyncio.sleep(rng.uniform(0.005, 0.03))  # pacing the load itself

        await asyncio.gather(*(sender(k) for k in range(3)))
        await c.nemesis.clear_message_faults()
        await c.nemesis.clear_toxics()
        logs: dict[str, list[tuple[str, int]]] = {}

        async def everyone_has_everything() -> bool:
            nonlocal logs
            logs = {n: await client.deliveries(n) for n in ids}
            return all(len(log) == sent for log in logs.values())

        await wait_until(everyone_has_everything, 60,
                         describe=lambda: missing_deliveries(logs))
        held = [await client.held(n) for n in ids]
        print(f"{mode}: {sent} broadcasts; hold-back peaks {[h[1] for h in held]}")
        return logs


async def test_causal_mode_keeps_causal_order_under_jitter_and_reordering(
        cluster: Factory) -> None:
    logs = await broadcast_under_faults(cluster, "causal")
    assert causal_violations(logs) == []
    assert missing_deliveries(logs) == []


@pytest.mark.parametrize("mode", ["none"])
async def test_unordered_delivery_is_caught_under_the_same_faults(cluster: Factory,
                                                                  mode: str) -> None:
    logs = await broadcast_under_faults(cluster, mode)
    assert causal_violations(logs), "the faults reorder messages: causality must break"


async def raw_call(address: str, method: str, body: bytes) -> grpc.aio.AioRpcError:
    """``body`` sent as the request of Broadcaster.``method``; the error it got."""
    return await raw_grpc.raw_call(address, f"/{SERVICE_NAME}/{method}", body)


async def test_bad_input_is_refused_naming_the_field_and_changes_nothing(
        cluster: Factory) -> None:
    """Issue #31: an oversized payload and bytes that are not the request, sent raw as
    any client could, get INVALID_ARGUMENT starting with the field's name (gRPC itself
    refuses a request over its 64 MiB limit); nothing is broadcast, every member stays
    up and goes on broadcasting."""
    c = await cluster("causal", nodes=3)
    ids = [str(n) for n in c.ids]
    async with BroadcastClient(c.client_addresses) as client:
        await client.send("n1", b"before")
        for node in ("n1", "n2"):
            async with grpc.aio.insecure_channel(c.node(node).client_address) as ch:
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await causal_pb2_grpc.BroadcasterStub(ch).Send(
                        causal_pb2.SendRequest(payload=b"x" * (MAX_PAYLOAD + 1)), timeout=10)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert err.value.details() == (f"payload: {MAX_PAYLOAD + 1} bytes, over the "
                                           f"limit of {MAX_PAYLOAD}")
            for method, body, why in (("Send", b"\xff\xff\xff", "Wire format was corrupt"),
                                      ("Deliveries", b"\x08\xff", "Wire format was corrupt")):
                error = await raw_call(c.node(node).address, method, body)
                assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (method, error)
                assert error.details() == ("malformed protocols.causal.v1."
                                           f"{method}Request: {why}"), error.details()
        error = await raw_call(c.node("n1").address, "Send", b"\x0a" + b"\xff" * (65 << 20))
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
        await client.send("n2", b"after")
        logs: dict[str, list[tuple[str, int]]] = {}

        async def both_everywhere() -> bool:
            nonlocal logs
            logs = {n: await client.deliveries(n) for n in ids}
            return all(log == [("n1", 1), ("n2", 1)] for log in logs.values())

        await wait_until(both_everywhere, 20, describe=lambda: logs)
    assert all(info.proc is not None and info.proc.poll() is None for info in c.nodes.values())
