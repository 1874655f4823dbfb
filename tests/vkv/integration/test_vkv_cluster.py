"""The versioned KV on real processes through the proxies, under a partition: both sides
keep accepting writes; after the heal, the concurrent writes are siblings on every
replica, none lost; a write with the context that read them resolves them."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import grpc.aio
import pytest

from cluster.pytest_plugin import wait_until
from cluster.runner import LocalCluster
from protocols._pb import vkv_pb2, vkv_pb2_grpc
from protocols.vkv.client import VersionedKvClient
from protocols.vkv.core import MAX_KEY, MAX_VALUE
from protocols.vkv.node import SERVICE_NAME
from tests.support import raw_grpc

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


async def raw_call(address: str, method: str, body: bytes) -> grpc.aio.AioRpcError:
    """``body`` sent as the request of VersionedKv.``method``; the error it got."""
    return await raw_grpc.raw_call(address, f"/{SERVICE_NAME}/{method}", body)


async def test_bad_input_is_refused_naming_the_field_and_changes_nothing(
        cluster: Factory) -> None:
    """Issue #31: oversized, malformed and impossible requests, sent raw as any client
    could, get INVALID_ARGUMENT starting with the field's name; nothing changes, every
    node stays up. Impossible: a context naming a stranger, a count no read returns,
    more writes of a replica than the node asked has seen (``{n2: 1000}``)."""
    c = await cluster("vkv", nodes=3, options={"sync_interval_ms": 300})
    async with VersionedKvClient(c.client_addresses) as kv:
        _, mine = await kv.put("n1", "k", "v")
        (n1_id,) = mine
        _, theirs = await kv.put("n2", "other", "w")
        (n2_id,) = theirs
        bad = [
            ("Get", vkv_pb2.GetRequest(key=""), "key: a key is 1 to 1024 bytes, got 0"),
            ("Get", vkv_pb2.GetRequest(key="k" * (MAX_KEY + 1)), "key: "),
            ("Put", vkv_pb2.PutRequest(key="", value="x"), "key: "),
            ("Put", vkv_pb2.PutRequest(key="k", value="é" * MAX_VALUE),
             f"value: {2 * MAX_VALUE} bytes, over the limit of {MAX_VALUE}"),
            ("Put", vkv_pb2.PutRequest(key="k", value="x", context={"n9": 1}),
             "context: names replicas of this cluster only"),
            ("Put", vkv_pb2.PutRequest(key="k", value="x", context={n1_id: 2**62}),
             "context: maps replica ids to counts"),
            ("Put", vkv_pb2.PutRequest(key="k", value="x", context={n2_id: 1000}),
             f"context[{n2_id}] claims 1000 writes to 'k'; this replica has seen 0"),
        ]
        malformed = [("Put", b"\xff\xff\xff", "Wire format was corrupt"),
                     ("Put", b"\x0a\x01k\x12\x02\xc3\x28", "value: not UTF-8"),
                     ("Get", b"\x0a\x01\x80", "key: not UTF-8")]
        for node in ("n1", "n3"):
            async with grpc.aio.insecure_channel(c.node(node).client_address) as ch:
                stub = vkv_pb2_grpc.VersionedKvStub(ch)
                for method, request, field in bad:
                    with pytest.raises(grpc.aio.AioRpcError) as err:
                        await getattr(stub, method)(request, timeout=10)
                    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (node,
                                                                                   field)
                    assert (err.value.details() or "").startswith(field), (
                        node, field, err.value.details())
            for method, body, why in malformed:
                error = await raw_call(c.node(node).address, method, body)
                assert (error.code(), error.details()) == (
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"malformed {SERVICE_NAME.rsplit('.', 1)[0]}.{method}Request: {why}")
        error = await raw_call(c.node("n1").address, "Put", b"\x12" + b"\xff" * (65 << 20))
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
        assert await kv.get("n1", "k") == (["v"], mine)
        await kv.put("n1", "k", "after", mine)
        assert (await kv.get("n1", "k"))[0] == ["after"]
    assert all(info.proc is not None and info.proc.poll() is None for info in c.nodes.values())


async def test_a_node_whose_disk_was_wiped_writes_under_a_new_id(cluster: Factory) -> None:
    """Issue #31 bug 4: after a wiped disk a node counted its writes from 1 again under
    its node id, and its peers dropped its new, acknowledged writes as the old ones.
    Each process start draws a new replica id for a new disk (the host seeds a node's
    randomness per process start)."""
    c = await cluster("vkv", nodes=3, options={"sync_interval_ms": 300})
    ids = [str(n) for n in c.ids]
    async with VersionedKvClient(c.client_addresses) as kv:
        _, before = await kv.put("n1", "cart", "old")
        (old_id,) = before

        async def everywhere(values: list[str]) -> bool:
            seen = [(await kv.get(n, "cart"))[0] for n in ids]
            return all(v == values for v in seen)

        await wait_until(lambda: everywhere(["old"]), 20)
        await c.kill("n1")
        for f in Path(c.node("n1").data_dir).iterdir():  # the disk is wiped
            f.unlink()
        await c.restart("n1")
        _, after = await kv.put("n1", "cart", "new")  # blind: a sibling of "old"
        new_ids = [r for r in after if r.startswith("n1~") and r != old_id]
        assert len(new_ids) == 1 and after[new_ids[0]] == 1, (old_id, after)
        await wait_until(lambda: everywhere(["new", "old"]), 30,
                         describe=lambda: "the wiped node's new write is not everywhere")
