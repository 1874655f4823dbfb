"""Multi-Paxos on real node processes through the proxies, what the shared Kv tests
(tests/kv/integration) do not show: flexible quorums deciding with two of five, leases
serving reads without a slot, a whole cluster recovering its decisions and ballots from
disk, and unsafe quorums refused before any process starts."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from cluster.pytest_plugin import wait_until
from cluster.runner import LocalCluster
from protocols.common.errors import ConfigError
from protocols.kv.client import KvClient

Factory = Callable[..., Awaitable[LocalCluster]]


async def details(c: LocalCluster, node: str) -> dict[str, str]:
    st = await c.status(node)
    assert st is not None, f"{node} does not answer"
    return st.details


async def test_flexible_quorums_decide_with_two_of_five(cluster: Factory) -> None:
    """q1 = 4, q2 = 2 (Howard et al. 2016): once a leader is adopted, it and one
    acceptor decide, so three dead nodes of five do not stop writes."""
    c = await cluster("paxos", nodes=5, options={"phase1_quorum": 4, "phase2_quorum": 2})
    leader = await c.wait_for_leader()
    assert (await details(c, leader))["quorums"] == "q1=4 q2=2"
    others = [n for n in c.ids if n != leader]
    for n in others[:3]:
        await c.nemesis.kill(n)
    async with KvClient({leader: c.node(leader).client_address}, deadline_s=10) as kv:
        for i in range(5):
            await kv.put("k", str(i))
        assert await kv.get("k") == "4"


async def test_lease_reads_take_no_slot(cluster: Factory) -> None:
    c = await cluster("paxos", nodes=3, options={"read_mode": "lease"})
    async with KvClient(c.client_addresses, deadline_s=10) as kv:
        await kv.put("k", "v")
        leader = await c.wait_for_leader()

        async def lease_read_served() -> bool:
            before = await details(c, leader)
            assert await kv.get("k") == "v"
            after = await details(c, leader)
            return (int(after["lease_reads"]) > int(before["lease_reads"])
                    and after["slot_in"] == before["slot_in"])

        await wait_until(lease_read_served, 10, what="a read served from the lease")


async def test_a_whole_cluster_restarts_with_its_decisions_and_a_higher_ballot(
        cluster: Factory) -> None:
    """Every node killed with SIGKILL and restarted: the decided state comes back from the
    acceptors' logs and snapshots, and the next leader's ballot is above every ballot
    used before (a ballot is never reused across crashes)."""
    c = await cluster("paxos", nodes=3, options={"snapshot_threshold": 30})
    async with KvClient(c.client_addresses, deadline_s=15) as kv:
        for i in range(50):
            await kv.put(f"k{i % 7}", str(i))
    leader = await c.wait_for_leader()
    ballot_before = (await c.status(leader)).epoch  # type: ignore[union-attr]
    for n in c.ids:
        await c.kill(n)
    for n in c.ids:
        await c.restart(n)
    leader = await c.wait_for_leader()
    assert (await c.status(leader)).epoch > ballot_before  # type: ignore[union-attr]
    async with KvClient(c.client_addresses, deadline_s=15) as kv:
        for i in range(43, 50):
            assert await kv.get(f"k{i % 7}") == str(i)


@pytest.mark.parametrize(("q1", "q2"), [(2, 2), (1, 3), (6, 1)])
async def test_unsafe_quorums_are_refused_before_any_process_starts(
        cluster: Factory, q1: int, q2: int) -> None:
    with pytest.raises(ConfigError, match="quorum"):
        await cluster("paxos", nodes=4, options={"phase1_quorum": q1, "phase2_quorum": q2})
