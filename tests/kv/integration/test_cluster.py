"""Every protocol that serves the Kv service (Raft, Multi-Paxos), on real node processes
through the proxy layer, the same tests for each: leader election, failover after
kill -9, a partitioned leader stepping down, persistence across a whole-cluster crash,
fail-stop storage, input limits, bounded sessions, and the KV service's semantics
through the async KvClient."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import grpc.aio
import pytest

from cluster.pytest_plugin import wait_until
from cluster.runner import LocalCluster
from protocols._pb import kv_pb2, kv_pb2_grpc
from protocols.common.errors import InvalidRequest, SessionExpired
from protocols.kv.client import KvClient
from protocols.kv.commands import MAX_KEY_BYTES, MAX_VALUE_BYTES
from tests.support import raw_grpc

Factory = Callable[..., Awaitable[LocalCluster]]

KV_PROTOCOLS = ["raft", "paxos"]
pytestmark = pytest.mark.parametrize("protocol", KV_PROTOCOLS)


async def roles(c: LocalCluster) -> dict[str, tuple[str, int, int]]:
    out = {}
    for n, st in (await c.statuses()).items():
        if st is not None:
            out[n] = (st.role, st.epoch, int(st.details.get("commit_index", "0")))
    return out


async def test_election_and_kv_semantics(cluster: Factory, protocol: str) -> None:
    c = await cluster(protocol, nodes=3)
    leader = await c.wait_for_leader()
    seen: dict[str, tuple[str, int, int]] = {}

    async def epochs_agree() -> bool:  # the followers hear the new leader's heartbeat
        nonlocal seen
        seen = await roles(c)
        return len(seen) == len(c.ids) and len({e for _, e, _ in seen.values()}) == 1

    await wait_until(epochs_agree, 10, describe=lambda: seen, what="every node in one epoch")
    # a client pointed at a follower first is redirected to the leader
    follower = next(n for n in c.ids if n != leader)
    addresses = {follower: c.node(follower).client_address,
                 **{n: c.node(n).client_address for n in c.ids}}
    async with KvClient(addresses, deadline_s=10) as kv:
        kv.leader = follower
        await kv.put("x", "1")
        assert kv.leader == leader
        assert await kv.get("x") == "1"
        assert await kv.get("missing") is None
        assert await kv.cas("x", "1", "2") is True
        assert await kv.cas("x", "1", "3") is False
        assert await kv.cas("new", None, "a") is True
        assert await kv.get("x") == "2"
        assert await kv.delete("x") is True
        assert await kv.delete("x") is False
        with pytest.raises(InvalidRequest, match="non-empty"):
            await kv.put("", "v")


async def test_failover_after_kill_9_and_rejoin(cluster: Factory, protocol: str) -> None:
    c = await cluster(protocol, nodes=3)
    async with KvClient(c.client_addresses, deadline_s=15) as kv:
        await kv.put("a", "before")
        old = await c.wait_for_leader()
        await c.nemesis.kill(old)
        survivors = [n for n in c.ids if n != old]
        new = await c.wait_for_leader(among=survivors)
        assert new != old
        await kv.put("a", "after")
        assert await kv.get("a") == "after"
        await c.nemesis.restart(old)
        # the old leader catches up from the log it kept on disk plus the new leader
        target = (await roles(c))[new][2]
        await wait_until(lambda: _caught_up(c, old, target), 15,
                         describe=lambda: roles(c), what=f"{old} catching up")


async def _caught_up(c: LocalCluster, node: str, index: int) -> bool:
    st = await c.status(node)
    return st is not None and int(st.details["commit_index"]) >= index and st.role == "follower"


async def test_partitioned_leader_steps_down_and_majority_continues(
        cluster: Factory, protocol: str) -> None:
    c = await cluster(protocol, nodes=3)
    old = await c.wait_for_leader()
    await c.nemesis.isolate(old)
    majority = [n for n in c.ids if n != old]
    await c.wait_for_leader(among=majority)
    # check-quorum: the isolated leader stops believing it leads
    await wait_until(lambda: _stopped_leading(c, old), 10,
                     describe=lambda: roles(c), what="old leader stepping down")
    async with KvClient({n: c.node(n).client_address for n in majority}, deadline_s=10) as kv:
        await kv.put("p", "majority")
    await c.nemesis.heal()
    async with KvClient(c.client_addresses, deadline_s=10) as kv:
        assert await kv.get("p") == "majority"
    final = (await roles(c))
    await wait_until(lambda: _converged(c), 15, describe=lambda: roles(c), what="convergence")
    assert final


async def _stopped_leading(c: LocalCluster, node: str) -> bool:
    st = await c.status(node)
    return st is not None and not st.leading


async def _converged(c: LocalCluster) -> bool:
    seen = await roles(c)
    return len(seen) == len(c.ids) and len({ci for _, _, ci in seen.values()}) == 1


async def test_committed_writes_survive_a_whole_cluster_crash(
        cluster: Factory, protocol: str) -> None:
    c = await cluster(protocol, nodes=3)
    async with KvClient(c.client_addresses, deadline_s=15) as kv:
        for i in range(20):
            await kv.put(f"k{i}", f"v{i}")
    for n in c.ids:
        await c.kill(n)  # SIGKILL: only what was fsynced survives
    for n in c.ids:
        await c.restart(n)
    await c.wait_for_leader()
    async with KvClient(c.client_addresses, deadline_s=15) as kv:
        for i in range(20):
            assert await kv.get(f"k{i}") == f"v{i}"


@pytest.mark.parametrize("who", ["leader", "follower"])
async def test_a_failed_disk_write_stops_the_node_and_the_cluster_goes_on(
        cluster: Factory, protocol: str, who: str) -> None:
    """Fail-stop storage: a node's WAL writes start failing (RLIMIT_FSIZE at its current
    size: EFBIG), so it exits with code 3 and a clear line instead of answering anything
    it could not write; the others (electing a new leader if it led) keep serving."""
    import os
    import resource

    c = await cluster(protocol, nodes=3)
    async with KvClient(c.client_addresses, deadline_s=15) as kv:
        await kv.put("a", "1" * 20_000)  # the WAL outgrows the node's log file, whose
        leader = await c.wait_for_leader()     # writes must still succeed under the limit
        target = leader if who == "leader" else next(n for n in c.ids if n != leader)
        info = c.node(target)
        wal = next(Path(info.data_dir).glob("*.wal"))  # raft.wal, paxos.wal
        size = os.path.getsize(wal)
        assert size > os.path.getsize(info.log_path) + 10_000
        resource.prlimit(info.pid, resource.RLIMIT_FSIZE, (size, size))
        await kv.put("a", "2")  # the leader's write fails; a new leader commits it
        assert info.proc is not None
        await wait_until(lambda: info.proc.poll() is not None, 10, what=f"{target} exit")
        assert info.proc.returncode == 3
        with open(info.log_path) as f:
            assert "storage failed" in f.read()
        await kv.put("a", "3")
        assert await kv.get("a") == "3"


async def test_client_input_never_stops_a_node(cluster: Factory, protocol: str) -> None:
    """Issue #19 bug 5: a 17 MiB value of quotes used to make a WAL record over the
    limit and stop the leader (and followers). Over-limit keys and values are refused
    with INVALID_ARGUMENT, nothing changes, every node keeps serving.

    Issue #31: every malformed, oversized or impossible request, sent raw as any client
    could, is refused with INVALID_ARGUMENT whose message starts with the field's name,
    at the leader and at a follower alike; nothing changes."""
    c = await cluster(protocol, nodes=3)
    async with KvClient(c.client_addresses, deadline_s=10) as kv:
        await kv.put("k", "small")
        for key, value in (("k", '"' * (17 << 20)), ("k", "v" * (MAX_VALUE_BYTES + 1)),
                           ("k" * (MAX_KEY_BYTES + 1), "v")):
            with pytest.raises(InvalidRequest, match="limit"):
                await kv.put(key, value)
        await kv.put("big", '"' * MAX_VALUE_BYTES)  # at the limit: fine
        assert await kv.get("k") == "small"
        leader = await c.wait_for_leader()
        follower = next(n for n in c.ids if n != leader)
        for node in (leader, follower):
            for method, request, field in BAD_REQUESTS:
                async with grpc.aio.insecure_channel(c.node(node).client_address) as ch:
                    with pytest.raises(grpc.aio.AioRpcError) as err:
                        await getattr(kv_pb2_grpc.KvStub(ch), method)(request, timeout=10)
                assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (node, method)
                assert (err.value.details() or "").startswith(field), (node, method, field,
                                                                       err.value.details())
            for method, body, why in MALFORMED:
                error = await raw_call(c.node(node).address, method, body)
                assert (error.code(), error.details()) == (
                    grpc.StatusCode.INVALID_ARGUMENT,
                    f"malformed protocols.kv.v1.{method}Request: {why}"), (node, method)
        # past gRPC's own message limit (64 MiB) no decoder runs: gRPC refuses it
        error = await raw_call(c.node(leader).address, "Put", b"\x12" + b"\xff" * (65 << 20))
        assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED, error
        assert await kv.get("k") == "small" and await kv.get("nope") is None
        assert await kv.get("big") == '"' * MAX_VALUE_BYTES
        await kv.put("k", "after")  # the client's session is untouched
        assert await kv.get("k") == "after"
    assert all(info.proc is not None and info.proc.poll() is None for info in c.nodes.values())


BAD_REQUESTS = [  # (method, request, what the error starts with)
    ("Get", kv_pb2.GetRequest(key=""), "key: "),
    ("Put", kv_pb2.PutRequest(key="", value="v"), "key: "),
    ("Cas", kv_pb2.CasRequest(key="", value="v"), "key: "),
    ("Delete", kv_pb2.DeleteRequest(key=""), "key: "),
    ("Get", kv_pb2.GetRequest(key="k" * (MAX_KEY_BYTES + 1)), "key: the key is 1025 bytes"),
    ("Put", kv_pb2.PutRequest(key="k", value="é" * MAX_VALUE_BYTES), "value: the value is"),
    ("Cas", kv_pb2.CasRequest(key="k", value="v", expected="x" * (MAX_VALUE_BYTES + 1)),
     "expected: the expected value is"),
    ("Register", kv_pb2.RegisterRequest(client_id=""), "client_id: "),
    ("Register", kv_pb2.RegisterRequest(client_id="c" * 257), "client_id: the client_id is"),
    ("Put", kv_pb2.PutRequest(key="k", value="x", client_id="c" * 257, seq=1),
     "client_id: the client_id is 257 bytes"),
    # impossible session numbers: a seq outside a session; a session write with seq 0,
    # which would be taken for a retry of the registration and silently do nothing
    ("Put", kv_pb2.PutRequest(key="k", value="x", seq=3), "seq: 3 without a client_id"),
    ("Get", kv_pb2.GetRequest(key="k", seq=3), "seq: 3 without a client_id"),
    ("Put", kv_pb2.PutRequest(key="k", value="x", client_id="c", seq=0), "seq: a write"),
    ("Cas", kv_pb2.CasRequest(key="k", value="x", client_id="c"), "seq: a write"),
    ("Delete", kv_pb2.DeleteRequest(key="k", client_id="c"), "seq: a write"),
]
MALFORMED = [  # (method, bytes that are not its request, what the error says)
    ("Put", b"\xff\xff\xff", "Wire format was corrupt"),
    ("Get", b"\x0a\x05k", "Wire format was corrupt"),  # a key cut short
    ("Put", b"\x0a\x01k\x12\x02\xc3\x28", "value: not UTF-8"),
    ("Cas", b"\x0a\x01k\x12\x01\xff", "expected: not UTF-8"),
    ("Register", b"\x0a\x02\xfe\xff", "client_id: not UTF-8"),
    ("Delete", b"\x0a\x01\x80", "key: not UTF-8"),
]


async def raw_call(address: str, method: str, body: bytes) -> grpc.aio.AioRpcError:
    """``body`` sent as the request of Kv.``method``; the error it got."""
    return await raw_grpc.raw_call(address, f"/protocols.kv.v1.Kv/{method}", body)


async def test_sessions_are_bounded_and_an_expired_one_is_a_clear_error(
        cluster: Factory, protocol: str) -> None:
    """Thesis §6.3: with room for two sessions, a third client's registration expires
    the least recently used one; that client's next write is refused with
    SessionExpired (never applied twice), and its next one opens a new session."""
    c = await cluster(protocol, nodes=3, options={"max_sessions": 2})
    async with KvClient(c.client_addresses, client_id="a") as a, \
            KvClient(c.client_addresses, client_id="b") as b, \
            KvClient(c.client_addresses, client_id="c") as third:
        await a.put("k", "a1")
        await b.put("k", "b1")
        await third.put("k", "c1")  # a's session was used least recently: it expires
        with pytest.raises(SessionExpired):
            await a.put("k", "a2")
        assert await b.get("k") == "c1"  # the refused write changed nothing
        await a.put("k", "a3")  # a new session
        assert await b.get("k") == "a3"
