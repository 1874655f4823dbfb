"""Dynamo on real processes through the proxies (DeCandia et al., "Dynamo", SOSP 2007):
N/R/W quorums at every node and siblings resolved by a context (§4.4-4.5), a put through
a hinted stand-in handed back to the owner once it returns (§4.6), keys moving to a node
that joins (§4.9), bad input refused over gRPC. Every wait polls the nodes' status
within a deadline; none sleeps."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from collections.abc import Awaitable, Callable, Sequence

import grpc
import grpc.aio
import pytest

from cluster.runner import LocalCluster
from cluster.waiting import wait_until
from protocols._pb import dynamo_pb2, dynamo_pb2_grpc
from protocols.common.errors import InvalidRequest
from protocols.dynamo.client import DynamoClient
from protocols.hashing import Ring

Factory = Callable[..., Awaitable[LocalCluster]]

N, R, W, VNODES = 3, 2, 2, 64
OPTIONS = {"n": N, "r": R, "w": W, "vnodes": VNODES, "handoff_interval_ms": 100,
           "aae_interval_ms": 300, "replica_timeout_ms": 1000,  # a loaded machine is slow
           "swim": {"probe_interval_ms": 200, "probe_timeout_ms": 100}}


def preference_list(nodes: Sequence[str], key: str) -> list[str]:
    """Every node in ``key``'s order on the ring the nodes build (§4.3)."""
    ring = Ring(VNODES)
    for n in sorted(nodes):
        ring.add(n)
    return ring.nodes_for(key, len(nodes))


async def details(c: LocalCluster, nodes: Sequence[str]) -> dict[str, dict[str, str]]:
    """Each node's status details ({} for one that does not answer)."""
    out = {}
    for n in nodes:
        st = await c.status(n)
        out[n] = dict(st.details) if st is not None else {}
    return out


async def test_quorum_round_trip_at_every_node_and_siblings_a_context_resolves(
        cluster: Factory) -> None:
    """R + W > N: a write acknowledged through any node is read through every node
    (§4.5). Two blind writes are concurrent: both stay, as siblings; a write with the
    context of the read that showed both replaces them (§4.4)."""
    c = await cluster("dynamo", nodes=5, options=OPTIONS)
    ids = [str(n) for n in c.ids]
    async with DynamoClient(c.client_addresses) as kv:
        for n in ids:
            values, context = await kv.put(f"k-{n}", f"from {n}", node=n)
            assert values == [f"from {n}"] and sum(context.values()) == 1
        for key_node in ids:
            for n in ids:
                assert (await kv.get(f"k-{key_node}", node=n))[0] == [f"from {key_node}"]
        assert await kv.get("never-written", node="n3") == ([], {})

        await kv.put("cart", "milk", node="n1")
        await kv.put("cart", "eggs", node="n4")  # blind: knows nothing of "milk"
        for n in ids:
            assert (await kv.get("cart", node=n))[0] == ["eggs", "milk"]
        _, context = await kv.get("cart", node="n2")
        assert (await kv.put("cart", "milk+eggs", context, node="n5"))[0] == ["milk+eggs"]
        for n in ids:
            assert (await kv.get("cart", r=N, node=n))[0] == ["milk+eggs"]
        view = await kv.members("n3")  # the SWIM member n3 embeds (§4.8)
        assert sorted(view.members) == sorted(ids)


async def test_a_put_through_a_hinted_stand_in_reaches_the_owner_once_it_returns(
        cluster: Factory) -> None:
    """§4.6: with an owner of the key down (kill -9), the put goes to the next node of
    the preference list, with a hint naming the owner; the stand-in keeps it apart
    (hinted=1). Once the owner is back, the stand-in hands it over and drops it: hinted=0
    everywhere and the owner holds the value (read from its own copy, R=1)."""
    c = await cluster("dynamo", nodes=5, options=OPTIONS)
    ids = [str(n) for n in c.ids]
    prefs = preference_list(ids, "cart")
    owner, stand_in, outsider = prefs[0], prefs[N], prefs[N + 1]
    live = [n for n in ids if n != owner]
    async with DynamoClient(c.client_addresses) as kv:
        await kv.put("cart", "milk", w=N, node=outsider)  # on every owner
        await c.kill(owner)

        async def suspected() -> bool:  # everyone routes around the owner
            seen = await details(c, live)
            return all(owner in d.get("suspects", "").split(",") for d in seen.values())

        await wait_until(suspected, 15, describe=lambda: details(c, live))
        values, context = await kv.get("cart", node=outsider)
        assert values == ["milk"]
        assert (await kv.put("cart", "milk+eggs", context, node=outsider))[0] == ["milk+eggs"]

        async def hinted_at_stand_in() -> bool:
            return (await details(c, [stand_in]))[stand_in].get("hinted") == "1"

        await wait_until(hinted_at_stand_in, 10, describe=lambda: details(c, live))
        assert sum(int(d["hinted"]) for d in (await details(c, live)).values()) == 1
        await c.restart(owner)

        async def handed_back() -> bool:
            seen = await details(c, ids)
            if any(d.get("hinted") != "0" for d in seen.values()):
                return False
            return (await kv.get("cart", r=1, node=owner))[0] == ["milk+eggs"]

        await wait_until(handed_back, 20, describe=lambda: details(c, ids))
        assert (await kv.get("cart", r=N, node=outsider))[0] == ["milk+eggs"]


async def test_keys_move_to_a_node_that_joins_and_every_acknowledged_write_stays(
        cluster: Factory) -> None:
    """§4.9: a node that joins (by SWIM, through the configured nodes) takes over the
    keys whose top N now include it; each holder streams them over and the nodes no
    longer among a key's owners drop it once the owners acknowledged it. Afterwards every
    acknowledged value is read with R=N, the newcomer holds exactly the keys the new ring
    gives it, and the cluster holds N copies of each key."""
    c = await cluster("dynamo", nodes=5, options=OPTIONS)
    acked: dict[str, str] = {}
    async with DynamoClient(c.client_addresses) as kv:
        for i in range(40):
            await kv.put(f"key{i}", f"value{i}")
            acked[f"key{i}"] = f"value{i}"
        new = str(await c.add_node())
        ids = [str(n) for n in c.ids]
        ring = ",".join(sorted(ids))
        mine = sum(1 for k in acked if new in preference_list(ids, k)[:N])
        assert mine > 0

        async def moved() -> bool:
            seen = await details(c, ids)
            return (all(d.get("ring") == ring and d.get("moving") == "0"
                        for d in seen.values())
                    and int(seen[new]["keys"]) == mine
                    and sum(int(d["keys"]) for d in seen.values()) == N * len(acked))

        await wait_until(moved, 30, describe=lambda: details(c, ids))
    async with DynamoClient(c.client_addresses) as kv:  # the newcomer among them
        for key, value in acked.items():
            assert (await kv.get(key, r=N))[0] == [value], key
        ownership = await kv.ownership(new)
        assert (ownership.keys, ownership.moving, sorted(ownership.shares)) == (
            mine, 0, sorted(ids))
    # `python -m cluster ring` from another shell, attached by the cluster's state file:
    # a row per node, the shares summing to 1 and to N, the keys each holds
    ring_cli = await asyncio.to_thread(subprocess.run, [
        sys.executable, "-m", "cluster", "ring"], capture_output=True, text=True, timeout=120,
        env={**os.environ, "PROTOCOLS_CLUSTER_DIR": str(c.dir), "COLUMNS": "120"})
    assert ring_cli.returncode == 0, ring_cli.stdout + ring_cli.stderr
    assert f"6 nodes, N={N}" in ring_cli.stdout, ring_cli.stdout
    rows = {m[0]: m[1:] for m in re.findall(
        r"(n\d)\s+│\s+([\d.]+)%\s+│\s+([\d.]+)%\s+│\s+(\d+)\s+│\s+(\d+)\s+│\s+(\d+)",
        ring_cli.stdout)}
    assert sorted(rows) == sorted(ids), ring_cli.stdout
    assert abs(sum(float(r[0]) for r in rows.values()) - 100) < 0.5
    assert abs(sum(float(r[1]) for r in rows.values()) - 100 * N) < 0.5
    assert int(rows[new][2]) == mine and sum(int(r[2]) for r in rows.values()) == N * len(acked)


async def test_bad_input_is_refused_with_invalid_argument_naming_the_field(
        cluster: Factory) -> None:
    """An empty key, or a quorum larger than N, is refused before anything happens:
    INVALID_ARGUMENT whose message names the field; the client raises InvalidRequest."""
    c = await cluster("dynamo", nodes=3, options={**OPTIONS, "r": 2, "w": 2})
    bad = [
        ("Get", dynamo_pb2.GetRequest(key=""), "key: a key is 1 to 1024 bytes, got 0"),
        ("Put", dynamo_pb2.PutRequest(key="", value="x"),
         "key: a key is 1 to 1024 bytes, got 0"),
        ("Get", dynamo_pb2.GetRequest(key="k", r=N + 1),
         f"r: 1 to n={N} replicas (0: the default, {R}), got {N + 1}"),
        ("Put", dynamo_pb2.PutRequest(key="k", value="x", w=N + 1),
         f"w: 1 to n={N} replicas (0: the default, {W}), got {N + 1}"),
    ]
    for node in ("n1", "n3"):
        async with grpc.aio.insecure_channel(c.node(node).client_address) as ch:
            stub = dynamo_pb2_grpc.DynamoKvStub(ch)
            for method, request, message in bad:
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await getattr(stub, method)(request, timeout=10)
                assert (err.value.code(), err.value.details()) == (
                    grpc.StatusCode.INVALID_ARGUMENT, message), (node, method)
    async with DynamoClient(c.client_addresses) as kv:
        with pytest.raises(InvalidRequest, match="^r: 1 to n=3"):
            await kv.get("k", r=4)
        assert await kv.get("k") == ([], {})  # nothing was written
    assert all(info.proc is not None and info.proc.poll() is None for info in c.nodes.values())
