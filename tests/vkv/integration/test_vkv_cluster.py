"""The versioned KV on real processes through the proxies, under a partition: both sides
keep accepting writes; after the heal, the concurrent writes are siblings on every
replica, none lost; a write with the context that read them resolves them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from cluster.pytest_plugin import wait_until
from cluster.runner import LocalCluster
from protocols.vkv.client import VersionedKvClient

Factory = Callable[..., Awaitable[LocalCluster]]


@pytest.mark.parametrize("clock", ["dvv", "vv"])
async def test_partitioned_writes_become_siblings_and_a_read_write_resolves_them(
        cluster: Factory, clock: str) -> None:
    c = await cluster("vkv", nodes=4, options={"clock": clock, "sync_interval_ms": 300})
    ids = [str(n) for n in c.ids]
    async with VersionedKvClient(c.client_addresses) as kv:
        await kv.put("n1", "cart", "milk")

        async def everywhere(values: list[str]) -> bool:
            seen = [(await kv.get(n, "cart"))[0] for n in ids]
            return all(v == values for v in seen)

        await wait_until(lambda: everywhere(["milk"]), 20)
        _, seen = await kv.get("n1", "cart")
        await c.nemesis.partition([["n1", "n2"], ["n3", "n4"]])
        await kv.put("n1", "cart", "milk+eggs", seen)  # each side extends what it saw
        await kv.put("n4", "cart", "milk+bread", seen)
        async def side(node: str, values: list[str]) -> bool:
            return (await kv.get(node, "cart"))[0] == values

        await wait_until(lambda: side("n2", ["milk+eggs"]), 20)  # within its side
        await wait_until(lambda: side("n3", ["milk+bread"]), 20)
        await c.nemesis.heal()
        await wait_until(lambda: everywhere(["milk+bread", "milk+eggs"]), 30,
                         describe=lambda: "replicas not yet showing both siblings")
        _, context = await kv.get("n3", "cart")
        await kv.put("n2", "cart", "milk+bread+eggs", context)
        await wait_until(lambda: everywhere(["milk+bread+eggs"]), 30)
