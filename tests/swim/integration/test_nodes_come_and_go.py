"""A brand-new member added to a running SWIM cluster by the runner
(``LocalCluster.add_node``: its own port, a proxy on every link to and from it, the
members told by ``Admin.AddPeer``) joins by address through its seeds and is seen alive
by all, at its address, and the members reach it through their links' proxies; one
removed (``remove_node``) is declared dead by everyone left."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from cluster.pytest_plugin import wait_until
from cluster.runner import LocalCluster
from protocols._pb import admin_pb2
from protocols.swim.client import MembershipClient, View
from protocols.swim.messages import State

Factory = Callable[..., Awaitable[LocalCluster]]


async def test_a_node_added_joins_and_one_removed_is_declared_dead(cluster: Factory) -> None:
    c = await cluster("swim", nodes=3, tick_ms=50)
    n4 = await c.add_node()
    live = ["n1", "n2", "n3", n4]
    async with MembershipClient(c.client_addresses) as client:
        await _views(client, live, lambda v: all(v.state(m) == State.ALIVE for m in live)
                     and v.addresses.get(n4) == c.node(n4).address, "n4 alive everywhere")
        # n1 knows n4 as a peer and reaches it through the link's proxy: cut, no ping
        # gets through; healed, they do
        assert (await _probe(c, "n1", n4)).ok == 2
        await c.nemesis.cut([("n1", n4)])
        assert (await _probe(c, "n1", n4)).failed == 2
        await c.nemesis.heal()
        await c.remove_node("n2")
        live.remove("n2")
    async with MembershipClient(c.client_addresses) as client:
        await _views(client, live, lambda v: v.state("n2") in (State.DEAD, State.LEFT)
                     and all(v.state(m) == State.ALIVE for m in live), "n2 dead everywhere")
    st = await c.status("n1")
    assert st is not None and "member.n2" in st.details


async def _probe(c: LocalCluster, src: str, dst: str) -> admin_pb2.PeerProbe:
    reply = await c.admin_call(src, "ProbePeers", admin_pb2.ProbeRequest(
        peers=[dst], count=2, deadline_ms=300))
    probe: admin_pb2.PeerProbe = reply.peers[0]
    return probe


async def _views(client: MembershipClient, nodes: list[str], holds: Callable[[View], bool],
                 what: str) -> None:
    last: dict[str, View | None] = {}

    async def check() -> bool:
        nonlocal last
        last = await client.views(nodes)
        return all(v is not None and holds(v) for v in last.values())

    await wait_until(check, 60, what=what, describe=lambda: {
        n: sorted((m, str(s)) for m, (s, _) in v.members.items()) if v else "no answer"
        for n, v in last.items()})
