"""Per-node roles and nodes that come and go, on real processes through the proxies: the
toy's primary is the node given the role "primary" (shown by ``Admin.Status`` as its
configured role); a backup added while the cluster runs gets its own port, proxies and
data dir, is told to nobody by hand (the runner's ``Admin.AddPeer`` tells the primary)
and is caught up with every entry; a node removed is stopped for good, its proxies and
data gone, and writes commit without it. A bad role fails before any process starts."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import grpc.aio
import pytest

from cluster.pytest_plugin import wait_until
from cluster.runner import LocalCluster, link_name
from protocols._pb import admin_pb2
from protocols.common.errors import ConfigError
from protocols.kv.client import KvClient

Factory = Callable[..., Awaitable[LocalCluster]]
TOY = "tests.toy.protocol:ENTRY"


async def log_lengths(c: LocalCluster) -> dict[str, str]:
    return {n: st.details["log_length"] if st else "no answer"
            for n, st in (await c.statuses()).items()}


async def test_the_primary_is_the_node_given_the_role(cluster: Factory) -> None:
    c = await cluster(TOY, nodes=3, roles={"n2": "primary", "n3": "backup"})
    assert await c.wait_for_leader() == "n2"
    statuses = await c.statuses()
    assert {n: st.configured_role for n, st in statuses.items() if st} == {
        "n1": "", "n2": "primary", "n3": "backup"}
    config = json.loads((c.dir / "cluster.json").read_text())
    assert config["nodes"]["n2"]["role"] == "primary" and "role" not in config["nodes"]["n1"]


def test_a_bad_role_fails_before_any_process_starts(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="n3: protocol 'toy' has no role 'witness'"):
        LocalCluster(TOY, 3, data_dir=tmp_path, roles={"n3": "witness"})
    with pytest.raises(ConfigError, match="n1, n2 are all given the role 'primary'"):
        LocalCluster(TOY, 3, data_dir=tmp_path, roles={"n1": "primary", "n2": "primary"})
    with pytest.raises(ConfigError, match="'n9', which is not a node"):
        LocalCluster(TOY, 3, data_dir=tmp_path, roles={"n9": "backup"})
    with pytest.raises(ConfigError, match="node n2: .*resend_ticks"):
        LocalCluster(TOY, 3, data_dir=tmp_path, node_options={"n2": {"resend_ticks": 0}})
    assert not list(tmp_path.iterdir())  # nothing was started or written


async def test_a_backup_added_and_one_removed_while_writes_go_on(cluster: Factory) -> None:
    c = await cluster(TOY, nodes=3, roles={"n1": "primary"},
                      node_options={"n3": {"resend_ticks": 5}})
    async with KvClient({"n1": c.node("n1").client_address}, deadline_s=10) as kv:
        for i in range(5):
            await kv.put(f"k{i}", str(i))
        n4 = await c.add_node(role="backup")
        assert n4 == "n4" and c.ids == ["n1", "n2", "n3", "n4"]
        assert {("n1", "n4"), ("n4", "n1"), ("client", "n4")} <= set(c.links)
        await wait_until(lambda: _caught_up(c, "n4", 5), 15, describe=lambda: log_lengths(c),
                         what="n4 holds the 5 entries written before it joined")
        statuses = await c.statuses()
        assert statuses["n4"] is not None and statuses["n4"].configured_role == "backup"
        await c.remove_node("n2")
        assert c.ids == ["n1", "n3", "n4"] and not Path(c.dir / "n2").exists()
        assert not any("n2" in key for key in c.links)
        proxies = c._toxi().list_proxies()
        assert link_name("n1", "n2") not in proxies and link_name("n1", "n4") in proxies
        await kv.put("after", "x")  # a majority of n1, n3, n4 commits it
        assert await kv.get("after") == "x"
    await wait_until(lambda: _caught_up(c, "n4", 6), 15, describe=lambda: log_lengths(c),
                     what="n4 holds the entry written after n2 left")
    config = json.loads((c.dir / "cluster.json").read_text())
    assert sorted(config["nodes"]) == ["n1", "n3", "n4"]
    assert config["nodes"]["n3"]["options"] == {"resend_ticks": 5}
    assert sorted(config["links"]["n1"]) == ["n3", "n4"]
    await c.restart("n1")  # a restarted process reads the new membership from the file
    async with KvClient({"n1": c.node("n1").client_address}, deadline_s=10) as kv:
        await kv.put("restarted", "y")
    await wait_until(lambda: _caught_up(c, "n4", 7), 15, describe=lambda: log_lengths(c),
                     what="the restarted primary replicates to n4")


async def _caught_up(c: LocalCluster, node: str, entries: int) -> bool:
    st = await c.status(node)
    return st is not None and int(st.details["log_length"]) >= entries


async def test_add_peer_and_remove_peer_refuse_bad_input_and_change_nothing(
        cluster: Factory) -> None:
    c = await cluster(TOY, nodes=2)
    bad = [("AddPeer", admin_pb2.AddPeerRequest(node_id="n1", address="127.0.0.1:9"),
            "is this node itself"),
           ("AddPeer", admin_pb2.AddPeerRequest(node_id="bad id", address="127.0.0.1:9"),
            "node_id: invalid node id"),
           ("AddPeer", admin_pb2.AddPeerRequest(node_id="n7", address="nowhere"),
            "peer n7 address: expected 'host:port'"),
           ("RemovePeer", admin_pb2.RemovePeerRequest(node_id="n7"),
            "n1 has no peer 'n7'; its peers are n2")]
    for method, request, error in bad:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await c.admin_call("n1", method, request)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert error in (raised.value.details() or ""), raised.value.details()
    reply = await c.admin_call("n1", "RemovePeer", admin_pb2.RemovePeerRequest(node_id="n2"))
    assert list(reply.peers) == []
    st = await c.status("n1")
    assert st is not None and st.details.get("log_length") == "0"
