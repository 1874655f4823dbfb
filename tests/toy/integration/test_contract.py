"""The toy protocol on real processes through the proxies: the same scenario as
tests/toy/sim/test_contract.py (see tests/toy/scenario.py), with the same expected
counters, so a one-way message and a deferred reply mean the same in the host and in the
simulator. Also: the shared Kv service and KvClient work on a second protocol."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from cluster.pytest_plugin import wait_until
from cluster.runner import LocalCluster
from protocols.common.errors import ConfigError, Timeout, Unavailable
from protocols.kv.client import KvClient
from tests.toy.scenario import NODES, check_after_cut, check_after_forward

Factory = Callable[..., Awaitable[LocalCluster]]
TOY = "tests.toy.protocol:ENTRY"


async def details(c: LocalCluster) -> dict[str, dict[str, str]]:
    return {n: dict(st.details) for n, st in (await c.statuses()).items() if st is not None}


async def test_one_way_and_deferred_reply_semantics(cluster: Factory) -> None:
    c = await cluster(TOY, nodes=NODES)
    await c.kill("n5")
    async with KvClient({"n2": c.node("n2").client_address}, deadline_s=10) as kv:
        await kv.put("k", "v1")  # n2 forwards to n1, whose reply is deferred
        assert await kv.get("k") == "v1"

    def forward_checked(d: dict[str, dict[str, str]]) -> bool:
        try:
            check_after_forward(d)
        except AssertionError:
            return False
        return True

    await wait_until(lambda: _holds(c, forward_checked), 15, describe=lambda: details(c),
                     what="deferred replies and one-way deliveries counted")
    await c.nemesis.cut([("n1", "n3"), ("n1", "n4")])  # n5 is dead: nothing can commit
    async with KvClient({"n2": c.node("n2").client_address}, deadline_s=2,
                        attempt_timeout_s=1.0) as kv:
        with pytest.raises((Unavailable, Timeout)):
            await kv.put("k", "v2")
    check_after_cut(await details(c))


async def _holds(c: LocalCluster, check: Callable[[dict[str, dict[str, str]]], bool]) -> bool:
    return check(await details(c))


async def test_kv_semantics_through_any_node(cluster: Factory) -> None:
    c = await cluster(TOY, nodes=3)
    async with KvClient(c.client_addresses, deadline_s=10) as kv:
        for node in ("n1", "n2", "n3"):
            kv.leader = node
            await kv.put(f"from-{node}", node)
        assert [await kv.get(f"from-{n}") for n in ("n1", "n2", "n3")] == ["n1", "n2", "n3"]
        assert await kv.cas("from-n1", "n1", "x") is True
        assert await kv.cas("from-n1", "n1", "y") is False


async def test_options_reach_the_processes_and_on_persisted_is_reported(
        cluster: Factory, tmp_path: Path) -> None:
    """On real processes: a bad option is refused before any process starts; a good one
    is taken; the host reports each write's fsync to the core (``on_persisted``), so the
    primary's own durable copy catches up with its log."""
    with pytest.raises(ConfigError, match="toy option resend_ticks must be an integer >= 1"):
        LocalCluster(TOY, nodes=3, data_dir=tmp_path / "bad", options={"resend_ticks": 0})
    assert not (tmp_path / "bad").exists()
    c = await cluster(TOY, nodes=3, options={"resend_ticks": 5})
    async with KvClient({"n1": c.node("n1").client_address}, deadline_s=10) as kv:
        for i in range(5):
            await kv.put(f"k{i}", str(i))

    async def primary() -> dict[str, str]:
        return (await details(c))["n1"]

    async def durable() -> bool:
        d = await primary()
        return d["durable"] == d["log_length"] == d["commit_index"] \
            and int(d["commit_index"]) >= 5  # the five puts (and any session entries)

    await wait_until(durable, 10, describe=primary, what="n1's log durable and committed")
