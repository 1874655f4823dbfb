"""Targeted faults on real processes: a crash point ends the process exactly where it
says (the record durable, its message never sent), a message hook drops or delays one
message type on one link, a paused disk holds what needs it, and a node process hosts
several cores (groups) that keep their own state. The same faults in the simulator:
tests/sim/test_targeted_faults.py.

The toy protocol (primary-backup; n1 the primary) is the subject. Its status says how
far the primary knows each backup holds the log (``match.<backup>``, from their Acks)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import pytest

from cluster.pytest_plugin import wait_until
from cluster.runner import LocalCluster
from protocols._pb import admin_pb2, kv_pb2, kv_pb2_grpc
from protocols.common.fs import OsFileSystem
from protocols.common.wal import SyncPolicy
from protocols.kv.client import KvClient
from protocols.runtime.crashpoints import CRASH_EXIT_CODE
from protocols.runtime.peers import GROUP_KEY
from tests.toy.protocol import FORWARD_DEADLINE_MS
from tests.toy.protocol.storage import ToyStorage

Factory = Callable[..., Awaitable[LocalCluster]]
TOY = "tests.toy.protocol:ENTRY"


async def detail(c: LocalCluster, node: str, key: str) -> str:
    st = await c.status(node)
    assert st is not None, f"{node} does not answer"
    return st.details[key]


async def put(c: LocalCluster, key: str, value: str, node: str = "n1") -> None:
    async with KvClient({node: c.node(node).client_address}, deadline_s=10) as kv:
        await kv.put(key, value)


@pytest.mark.parametrize("point", ["after_persist:LogEntry", "before_send:Ack"])
async def test_a_crash_point_ends_the_process_with_the_record_durable_and_no_ack_sent(
        cluster: Factory, point: str) -> None:
    c = await cluster(TOY, nodes=3)
    await c.crash_at("n2", point)
    await put(c, "k", "v")  # n1 and n3 commit it
    proc = c.node("n2").proc
    assert proc is not None
    await wait_until(lambda: proc.poll() is not None, 15, what="n2 crashed at its point")
    assert proc.returncode == CRASH_EXIT_CODE
    assert await detail(c, "n1", "match.n2") == "0", "n2's Ack left before it crashed"
    on_disk = ToyStorage(OsFileSystem(), c.node("n2").data_dir, SyncPolicy.ALWAYS)
    assert len(on_disk.recovered) == 1  # the record was durable: what the Ack waited for
    on_disk.close()
    await c.restart("n2")
    length = await detail(c, "n1", "log_length")
    await wait_until(lambda: _is(c, "n1", "match.n2", length), 15,
                     what="n2 acknowledged all once back (a point fires once per life)")


async def _is(c: LocalCluster, node: str, key: str, value: str) -> bool:
    return await detail(c, node, key) == value


async def test_a_message_hook_drops_one_message_type_on_one_link(cluster: Factory) -> None:
    c = await cluster(TOY, nodes=3)
    await c.hook("Replicate", "n1", "n2", drop=1.0)
    await put(c, "k", "v")  # n1 + n3 are a majority
    length = await detail(c, "n1", "log_length")
    await wait_until(lambda: _is(c, "n3", "log_length", length), 15, what="n3 replicated")
    assert await detail(c, "n2", "log_length") == "0"
    await c.admin_call("n1", "SetMessageFaults", admin_pb2.SetMessageFaultsRequest())
    await wait_until(lambda: _is(c, "n2", "log_length", length), 15, what="n2 caught up")


async def test_a_dropped_reply_was_delivered_but_never_heard(cluster: Factory) -> None:
    c = await cluster(TOY, nodes=3)
    await c.hook("Replicate", "n1", "n2", drop_reply=1.0)
    await put(c, "k", "v")
    length = await detail(c, "n1", "log_length")
    await wait_until(lambda: _is(c, "n2", "log_length", length), 15, what="n2 holds it")
    assert await detail(c, "n1", "match.n2") == "0"


async def test_a_paused_disk_holds_the_ack_that_needs_it(cluster: Factory) -> None:
    c = await cluster(TOY, nodes=3)
    await c.pause_disk("n2", 60_000)
    await put(c, "k", "v")
    length = await detail(c, "n1", "log_length")
    await wait_until(lambda: _is(c, "n2", "log_length", length), 15, what="n2 took them")
    assert await detail(c, "n1", "match.n2") == "0"  # not durable on n2: no Ack
    await c.pause_disk("n2", 0)  # resumes now
    await wait_until(lambda: _is(c, "n1", "match.n2", length), 15, what="the Acks after")


async def group_put(c: LocalCluster, group: str, key: str, value: str) -> None:
    async with grpc.aio.insecure_channel(c.node("n1").client_address) as ch:
        await kv_pb2_grpc.KvStub(ch).Put(kv_pb2.PutRequest(key=key, value=value),
                                         metadata=((GROUP_KEY, group),), timeout=10)


async def group_get(c: LocalCluster, node: str, group: str, key: str) -> str:
    async with grpc.aio.insecure_channel(c.node(node).client_address) as ch:
        reply = await kv_pb2_grpc.KvStub(ch).Get(kv_pb2.GetRequest(key=key),
                                                 metadata=((GROUP_KEY, group),), timeout=10)
    return str(reply.value)


async def test_a_process_hosts_several_cores_with_their_own_state(cluster: Factory) -> None:
    """Group g2 (a second toy cluster on the same processes, from the cluster file) and
    g3 (created while the cluster runs) keep their own state beside the cluster's own;
    a restarted process recovers every group; a removed group is gone."""
    c = await cluster(TOY, nodes=3, groups={"g2": {"protocol": TOY}})
    await put(c, "k", "own")
    own = await detail(c, "n1", "log_length")
    await wait_until(lambda: _is(c, "n3", "log_length", own), 15, what="n3 holds own's")
    await group_put(c, "g2", "k", "second")
    await wait_until(lambda: _group_is(c, "n3", "g2", "log_length", "1"), 15,
                     what="n3's core of g2 holds g2's write (frames go to their group)")
    assert await detail(c, "n3", "log_length") == own  # its own core: not g2's write
    await c.create_group("g3", TOY, ["n1", "n2", "n3"])
    await group_put(c, "g3", "k", "third")
    st = await c.status("n2")
    assert st is not None and sorted(g.group for g in st.groups) == ["g2", "g3"]
    await c.kill("n1")
    await c.restart("n1")  # recovers all three cores from their own directories
    assert await group_get(c, "n1", "", "k") == "own"
    assert await group_get(c, "n1", "g2", "k") == "second"
    assert await group_get(c, "n1", "g3", "k") == "third"
    await c.remove_group("g3")
    for n in ("n1", "n2", "n3"):  # its state destroyed, as a removed replica's is
        assert not (Path(c.node(n).data_dir) / "groups" / "g3").exists(), n
    with pytest.raises(grpc.aio.AioRpcError) as e:
        await group_get(c, "n1", "g3", "k")
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE and "no group 'g3'" in str(
        e.value.details())
    st = await c.status("n1")
    assert st is not None and [g.group for g in st.groups] == ["g2"]


async def _group_is(c: LocalCluster, node: str, group: str, key: str, value: str) -> bool:
    st = await c.status(node)
    return st is not None and any(g.group == group and g.details.get(key) == value
                                  for g in st.groups)


async def test_a_bad_group_is_refused_and_changes_nothing(cluster: Factory) -> None:
    c = await cluster(TOY, nodes=3)
    for request, why in [
        (admin_pb2.CreateGroupRequest(group="x", protocol="nope", members=["n1", "n2"]),
         "unknown protocol"),
        (admin_pb2.CreateGroupRequest(group="x", protocol=TOY, members=["n2", "n3"]),
         "not among its members"),
        (admin_pb2.CreateGroupRequest(group="x", protocol=TOY, members=["n1", "n9"]),
         "not peers"),
        (admin_pb2.CreateGroupRequest(group="x", protocol=TOY, members=["n1"],
                                      options_json='{"resend_ticks": 0}'), "resend_ticks"),
        (admin_pb2.CreateGroupRequest(group="", protocol=TOY, members=["n1"]), "empty"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await c.admin_call("n1", "CreateGroup", request)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, request
        assert why in str(e.value.details()), e.value.details()
    st = await c.status("n1")
    assert st is not None and list(st.groups) == []


async def test_a_crash_point_before_a_request_leaves_sends_nothing(cluster: Factory) -> None:
    """The primary dies right before its first Replicate leaves (it is sent ahead of the
    primary's own write): no backup ever hears of the write."""
    c = await cluster(TOY, nodes=3)
    await c.crash_at("n1", "before_send:Replicate")
    with pytest.raises(grpc.aio.AioRpcError):
        async with grpc.aio.insecure_channel(c.node("n1").client_address) as ch:
            await kv_pb2_grpc.KvStub(ch).Put(kv_pb2.PutRequest(key="k", value="v"), timeout=10)
    proc = c.node("n1").proc
    assert proc is not None
    await wait_until(lambda: proc.poll() is not None, 15, what="n1 crashed at its point")
    assert proc.returncode == CRASH_EXIT_CODE
    for n in ("n2", "n3"):
        assert await detail(c, n, "log_length") == "0", n


async def test_each_request_waits_for_its_own_deadline(cluster: Factory) -> None:
    """A Forward declares a deadline of its own (FORWARD_DEADLINE_MS, its answer waits
    for a commit), three times the cluster's rpc_deadline_ms: a Forward the primary never
    gets fails its client only after that deadline, not the cluster's."""
    c = await cluster(TOY, nodes=3)
    assert c.rpc_deadline_ms * 2 < FORWARD_DEADLINE_MS
    await c.hook("Forward", "n2", "n1", drop=1.0)
    started = time.monotonic()
    with pytest.raises(grpc.aio.AioRpcError) as e:
        async with grpc.aio.insecure_channel(c.node("n2").client_address) as ch:
            await kv_pb2_grpc.KvStub(ch).Put(kv_pb2.PutRequest(key="k", value="v"), timeout=30)
    elapsed = time.monotonic() - started
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE, e.value
    assert "no answer from the primary" in str(e.value.details())
    assert FORWARD_DEADLINE_MS / 1000 <= elapsed < FORWARD_DEADLINE_MS / 1000 + 10, elapsed
