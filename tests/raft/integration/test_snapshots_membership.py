"""Snapshots and membership change on real node processes through the proxy layer:
InstallSnapshot in chunks over gRPC to a node restarted after kill -9, recovery from the
snapshot file, a node added as a learner and promoted, a voter removed, leadership
transferred - each checked by reading the data back through the node it concerns."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from cluster.pytest_plugin import wait_until
from cluster.runner import LocalCluster
from protocols.kv.client import KvClient
from protocols.raft.admin_client import RaftAdminClient

Factory = Callable[..., Awaitable[LocalCluster]]


async def details(c: LocalCluster, n: str) -> dict[str, str]:
    st = await c.status(n)
    return dict(st.details) if st is not None else {}


async def read_through(c: LocalCluster, node: str, keys: dict[str, str]) -> None:
    """Make ``node`` the leader and read every key from it: its own state answers."""
    async with RaftAdminClient(c.client_addresses) as admin:
        await admin.transfer_leadership(node)
    await wait_until(lambda: _is_leader(c, node), 15, what=f"{node} leading")
    async with KvClient({node: c.node(node).client_address}, deadline_s=15) as kv:
        for k, v in keys.items():
            assert await kv.get(k) == v, f"{node} lost {k}"


async def _is_leader(c: LocalCluster, node: str) -> bool:
    st = await c.status(node)
    return st is not None and st.leading


async def test_snapshot_install_after_kill_9(cluster: Factory) -> None:
    c = await cluster("raft", nodes=3, options={"snapshot_threshold": 20,
                                                "snapshot_chunk_bytes": 1024})
    leader = await c.wait_for_leader()
    lagger = next(n for n in c.ids if n != leader)
    await c.nemesis.kill(lagger)
    keys = {f"k{i}": f"{i}-" + "x" * 200 for i in range(60)}  # ~13 KB: many chunks
    async with KvClient(c.client_addresses, deadline_s=15) as kv:
        for k, v in keys.items():
            await kv.put(k, v)
    assert int((await details(c, leader))["snapshot_index"]) > 0
    await c.nemesis.restart(lagger)

    async def caught_up() -> bool:
        d, st = await details(c, lagger), await c.status(lagger)
        return bool(d) and st is not None and int(d["snapshot_index"]) >= 20 \
            and int(st.details["last_applied"]) >= 60
    await wait_until(caught_up, 20, describe=lambda: details(c, lagger),
                     what=f"{lagger} installed a snapshot")
    await c.nemesis.kill(lagger)  # and it comes back from its own snapshot file
    await c.nemesis.restart(lagger)
    await read_through(c, lagger, keys)


async def test_add_a_learner_promote_it_and_remove_a_voter(cluster: Factory) -> None:
    c = await cluster("raft", nodes=4, options={"initial_voters": ["n1", "n2", "n3"]})
    await c.wait_for_leader(among=["n1", "n2", "n3"])
    assert (await details(c, "n4"))["voters"] == "n1,n2,n3"
    keys = {f"k{i}": str(i) for i in range(20)}
    async with KvClient(c.client_addresses, deadline_s=15) as kv:
        for k, v in keys.items():
            await kv.put(k, v)
        async with RaftAdminClient(c.client_addresses) as admin:
            m = await admin.add_learner("n4")
            assert m.learners == {"n4"}
            m = await admin.promote("n4")
            assert m.voters == {"n1", "n2", "n3", "n4"}
            leader = await c.wait_for_leader()
            gone = next(n for n in ("n1", "n2", "n3") if n != leader)
            m = await admin.remove(gone)
            assert m.voters == {"n1", "n2", "n3", "n4"} - {gone}
        await c.nemesis.kill(gone)
        await kv.put("after", "removal")  # 3 voters left, all up
        keys["after"] = "removal"
        voters = sorted(m.voters)
        await wait_until(lambda: _all_say(c, voters, "voters", ",".join(voters)), 10,
                         what="every voter knows the configuration")
    await read_through(c, "n4", keys)


async def _all_say(c: LocalCluster, nodes: list[str], key: str, value: str) -> bool:
    said = [(await details(c, n)).get(key) for n in nodes]
    return all(v == value for v in said)
