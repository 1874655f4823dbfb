"""Causal broadcast on real processes through the proxies, with jitter on every link
(latency toxics) and delayed and reordered messages (message faults): the causal mode
delivers every broadcast everywhere in causal order; the unordered mode, under the same
faults, is caught breaking it (so the check can fail)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable

import pytest

from cluster.pytest_plugin import wait_until
from cluster.runner import LocalCluster
from protocols.causal.client import BroadcastClient
from protocols.check.causal import causal_violations, missing_deliveries

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
