"""The asyncio host keeps the contract's rules on real gRPC: a reply to a peer never
leaves before the state that produced it is durable, a one-way message is answered at
once with nothing for the core, and a deferred reply that never comes ends the caller's
RPC at its deadline. The host runs in this process, on the toy protocol, with a storage
whose writes the test holds."""

from __future__ import annotations

import asyncio
import collections
import threading
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest

import protocols.runtime.slot as slot_module
from cluster.ports import allocate_ports
from cluster.waiting import wait_until
from protocols._pb import admin_pb2, admin_pb2_grpc, common_pb2, peer_pb2, toy_pb2
from protocols.common.ids import NodeId
from protocols.contract import NodeContext, NodeParts, Storage
from protocols.kv.commands import KvCommand
from protocols.runtime.config import NodeConfig
from protocols.runtime.host import SENDER_ID_KEY, NodeHost
from protocols.runtime.shell import routes_for
from protocols.runtime.transport import PeerUnreachable, Transport
from tests.toy.protocol import ToySpec
from tests.toy.protocol.messages import Committed
from tests.toy.protocol.node import ToyShell
from tests.toy.protocol.storage import LogEntry

SERVICE = "/protocols.toy.v1.Toy/"


class HeldStorage(Storage):
    """Writes wait until the test lets them through; ``saved`` lists what got written."""

    def __init__(self, inner: Storage) -> None:
        self.inner = inner
        self.entered = threading.Event()
        self.release = threading.Event()
        self.saved: list[Any] = []

    def save(self, records: Sequence[Any]) -> None:
        self.entered.set()
        if not self.release.wait(10):
            raise AssertionError("the test never released the write")
        self.inner.save(records)
        self.saved.extend(records)

    def close(self) -> None:
        self.inner.close()


class HeldSpec(ToySpec):
    def __init__(self) -> None:
        super().__init__()
        self.storage: HeldStorage | None = None

    def create_node(self, ctx: NodeContext) -> NodeParts:
        parts = super().create_node(ctx)
        self.storage = HeldStorage(parts.storage)
        return NodeParts(parts.core, self.storage)


class HeldShell(ToyShell):
    spec: HeldSpec

    def __init__(self) -> None:
        self.spec = HeldSpec()
        self.routes = routes_for(self.spec, "protocols.toy.v1.Toy", toy_pb2)


@pytest.fixture
async def host(request: pytest.FixtureRequest, tmp_path: Path
               ) -> AsyncIterator[tuple[NodeHost, HeldSpec, grpc.aio.Channel]]:
    """One toy node (``request.param``: "n1" the primary, "n2" a backup) of a 3-node
    cluster whose other nodes are not running."""
    me = NodeId(request.param)
    lease = allocate_ports(3)
    addresses = {NodeId(f"n{i}"): f"127.0.0.1:{p}" for i, p in enumerate(lease.ports, 1)}
    config = NodeConfig(me, "toy", addresses[me], str(tmp_path / me),
                        {n: a for n, a in addresses.items() if n != me}, rpc_deadline_ms=300)
    shell = HeldShell()
    node = NodeHost(config, shell, inline_writes=False)  # held writes need the I/O thread
    task = asyncio.create_task(node.run())
    channel = grpc.aio.insecure_channel(config.address)
    try:
        await admin_pb2_grpc.AdminStub(channel).Status(admin_pb2.StatusRequest(),
                                                       wait_for_ready=True, timeout=10)
        yield node, shell.spec, channel
    finally:
        if shell.spec.storage is not None:
            shell.spec.storage.release.set()
        node.request_stop()
        assert await asyncio.wait_for(task, 10) == 0
        await channel.close()
        lease.release()


def call(channel: grpc.aio.Channel, method: str, request: Any, reply: Any, sender: str
         ) -> Any:
    fn = channel.unary_unary(SERVICE + method, request_serializer=lambda m: m.SerializeToString(),
                             response_deserializer=reply.FromString)
    return fn(request, timeout=5, metadata=((SENDER_ID_KEY, sender),))


@pytest.mark.parametrize("host", ["n2"], indirect=True)
async def test_a_reply_never_leaves_before_its_persist(
        host: tuple[NodeHost, HeldSpec, grpc.aio.Channel]) -> None:
    _, spec, channel = host
    assert spec.storage is not None
    command = KvCommand("put", "k", "v", None, "c", 1).encode()
    rpc = asyncio.ensure_future(call(channel, "Replicate", toy_pb2.Replicate(
        index=1, command=command), toy_pb2.Ack, sender="n1"))
    assert await asyncio.to_thread(spec.storage.entered.wait, 5), "the entry was not written"
    done, _ = await asyncio.wait({rpc}, timeout=0.5)  # the write is held: so is the Ack
    assert not done, "the Ack left before the entry it acknowledges was durable"
    assert spec.storage.saved == []
    spec.storage.release.set()
    ack = await rpc
    assert ack.index == 1 and spec.storage.saved == [LogEntry(1, command)]


def peer_transport(node: NodeHost, sender: str, deadline_s: float) -> Transport:
    """What ``sender`` uses to reach ``node``: a Transport whose stream carries frames
    as a peer's host sends them (protos/peer.proto)."""
    return Transport(NodeId(sender), {node.node_id: node.config.address}, deadline_s)


def frame_of(message: Any) -> bytes:
    return bytes(message.SerializeToString())


@pytest.mark.parametrize("host", ["n2"], indirect=True)
async def test_a_reply_on_the_peer_stream_never_leaves_before_its_persist(
        host: tuple[NodeHost, HeldSpec, grpc.aio.Channel]) -> None:
    """Nodes talk on the peer stream, not the unary methods: the same rule holds there
    (the Ack frame waits for the write of the entry it acknowledges)."""
    node, spec, _ = host
    assert spec.storage is not None
    t = peer_transport(node, "n1", deadline_s=10)
    command = KvCommand("put", "k", "v", None, "c", 1).encode()
    meta = ((SENDER_ID_KEY, "n1"),)
    ack = asyncio.ensure_future(t.request(node.node_id, "Replicate", frame_of(
        toy_pb2.Replicate(index=1, command=command)), one_way=False, metadata=meta))
    try:
        assert await asyncio.to_thread(spec.storage.entered.wait, 5), "no write began"
        done, _ = await asyncio.wait({ack}, timeout=0.5)  # the write is held: so is the Ack
        assert not done, "the Ack frame left before the entry it acknowledges was durable"
        assert spec.storage.saved == []
        spec.storage.release.set()
        reply = toy_pb2.Ack.FromString((await ack).body)
        assert reply.index == 1 and spec.storage.saved == [LogEntry(1, command)]
    finally:
        await t.close()


@pytest.mark.parametrize("host", ["n1"], indirect=True)
async def test_a_deferred_reply_on_the_peer_stream_is_let_go_at_the_senders_deadline(
        host: tuple[NodeHost, HeldSpec, grpc.aio.Channel]) -> None:
    """A forwarded write waits for a commit that cannot come (n2, n3 are down): the
    sender gives up at its deadline, and the host forgets the deferred reply then (the
    frame carries the deadline), so a reply the core emits later is discarded."""
    node, spec, _ = host
    assert spec.storage is not None
    spec.storage.release.set()
    t = peer_transport(node, "n2", deadline_s=0.3)
    command = KvCommand("put", "k", "v", None, "c", 1).encode()
    try:
        with pytest.raises(PeerUnreachable, match="DEADLINE_EXCEEDED"):
            await t.request(node.node_id, "Forward", frame_of(toy_pb2.Forward(
                forward_id=1, command=command)), one_way=False,
                metadata=((SENDER_ID_KEY, "n2"),))
        assert node.status().details["log_length"] == "1"  # taken, not committed
        await wait_until(lambda: not node.main.inbox.waiting, 5,
                         describe=lambda: node.main.inbox.waiting,
                         what="the expired deferred reply let go")
    finally:
        await t.close()


@pytest.mark.parametrize("host", ["n2"], indirect=True)
async def test_ticks_a_stalled_loop_missed_are_skipped_not_burst(
        host: tuple[NodeHost, HeldSpec, grpc.aio.Channel]) -> None:
    """The contract: a paused process misses ticks; they are not delivered in a burst
    when it runs again (a burst would look like many heartbeat intervals at once and
    fire every election timeout). The loop the host runs on is stalled for 1 s (what a
    SIGSTOP does to a process), then the ticks are counted by the loop's own clock."""
    node, spec, _ = host
    assert spec.storage is not None
    spec.storage.release.set()
    core: Any = node.core
    await wait_until(lambda: core.ticks > 3, 5, describe=lambda: core.ticks,
                     what="the ticker running")
    time.sleep(1.0)  # the fault: a stalled event loop (100 tick intervals)
    loop = asyncio.get_running_loop()
    resumed, before = loop.time(), core.ticks
    await wait_until(lambda: core.ticks >= before + 3, 5, describe=lambda: core.ticks,
                     what="ticks after the stall", interval_s=0.001)
    elapsed_ticks = (loop.time() - resumed) / node.config.tick_s
    assert core.ticks - before <= elapsed_ticks + 2, (
        f"{core.ticks - before} ticks in {elapsed_ticks:.1f} tick intervals after the "
        "stall: the missed ones were burst")


@pytest.mark.parametrize("host", ["n2"], indirect=True)
async def test_a_one_way_message_is_answered_at_once_and_reaches_the_core(
        host: tuple[NodeHost, HeldSpec, grpc.aio.Channel]) -> None:
    node, spec, channel = host
    assert spec.storage is not None
    spec.storage.release.set()
    reply = await call(channel, "Committed", toy_pb2.Committed(commit_index=0),
                       common_pb2.Empty, sender="n1")
    assert reply == common_pb2.Empty()
    assert node.status().details["one_way_received"] == "1"


@pytest.mark.parametrize("host", ["n1"], indirect=True)
async def test_a_deferred_reply_that_never_comes_ends_at_the_callers_deadline(
        host: tuple[NodeHost, HeldSpec, grpc.aio.Channel]) -> None:
    node, spec, channel = host
    assert spec.storage is not None
    spec.storage.release.set()
    command = KvCommand("put", "k", "v", None, "c", 1).encode()
    fn = channel.unary_unary(SERVICE + "Forward",
                             request_serializer=lambda m: m.SerializeToString(),
                             response_deserializer=toy_pb2.Forwarded.FromString)
    with pytest.raises(grpc.aio.AioRpcError) as e:  # n2, n3 are down: nothing commits
        await fn(toy_pb2.Forward(forward_id=1, command=command), timeout=0.5,
                 metadata=((SENDER_ID_KEY, "n2"),))
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert node.status().details["log_length"] == "1"  # taken, persisted, not committed
    # the server's side of the deadline ends the handler too, and the host lets go of it
    await wait_until(lambda: not node.main.inbox.waiting, 5,
                     describe=lambda: node.main.inbox.waiting,
                     what="the expired deferred reply released")


@pytest.mark.parametrize("host", ["n1"], indirect=True)
async def test_a_command_that_is_never_answered_times_out_and_is_let_go(
        host: tuple[NodeHost, HeldSpec, grpc.aio.Channel]) -> None:
    """n2 and n3 are down, so nothing commits: submit gives up at its timeout (the
    servicer maps that to DEADLINE_EXCEEDED, outcome unknown) and forgets the request."""
    node, spec, _ = host
    assert spec.storage is not None
    spec.storage.release.set()
    loop = asyncio.get_running_loop()
    started = loop.time()
    with pytest.raises(TimeoutError):
        await node.submit(KvCommand("put", "k", "v", None, "c", 1), timeout_s=0.3)
    assert 0.3 - slot_module.DEADLINE_GRAIN_S <= loop.time() - started < 3.0
    assert node.main.answers == {}


async def test_deadlines_fail_only_what_still_waits_and_keep_nothing_answered() -> None:
    """Client commands' timeouts share a timer per 10 ms bucket: a command answered in
    time leaves nothing behind, one still waiting fails at most a grain early."""
    loop = asyncio.get_running_loop()
    answers: dict[int, asyncio.Future[Any]] = {i: loop.create_future() for i in range(200)}
    deadlines = slot_module.Deadlines(answers)
    started = loop.time()
    due = {i: deadlines.add(i, 0.05 + i / 10_000) for i in answers}
    now, grain = loop.time(), slot_module.DEADLINE_GRAIN_S
    for i, bucket in due.items():  # its bucket's timer fires within a grain before it
        assert started + 0.05 + i / 10_000 - grain < bucket * grain <= now + 0.05 + i / 10_000
    for i in range(1, 200):  # all but request 0 are answered in time
        answers[i].set_result("ok")
        deadlines.discard(i, due[i])
    assert all(not bucket for bucket in deadlines._buckets.values()
               if bucket != {0}), "an answered command kept its deadline"
    with pytest.raises(TimeoutError):
        await answers[0]
    assert loop.time() - started >= 0.05 - slot_module.DEADLINE_GRAIN_S
    assert all(answers[i].result() == "ok" for i in range(1, 200))
    await asyncio.sleep(0.1)
    assert deadlines._buckets == {}, "expired buckets are dropped"


@pytest.mark.parametrize("host", ["n2"], indirect=True)
async def test_a_dropped_request_is_silence_until_the_callers_deadline(
        host: tuple[NodeHost, HeldSpec, grpc.aio.Channel]) -> None:
    """A core that returns None for a request dropped it: the requester hears nothing
    back until its deadline, as in the simulator (and as a lost packet would be)."""
    _, spec, channel = host
    assert spec.storage is not None
    spec.storage.release.set()
    command = KvCommand("put", "k", "v").encode()
    fn = channel.unary_unary(SERVICE + "Replicate",
                             request_serializer=lambda m: m.SerializeToString(),
                             response_deserializer=toy_pb2.Ack.FromString)
    started = asyncio.get_running_loop().time()
    with pytest.raises(grpc.aio.AioRpcError) as e:  # index 5 of an empty log: a gap
        await fn(toy_pb2.Replicate(index=5, command=command), timeout=0.4,
                 metadata=((SENDER_ID_KEY, "n1"),))
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert asyncio.get_running_loop().time() - started >= 0.35


class TimedStorage(Storage):
    """Notes which thread made each write; the writes numbered in ``slow`` take 100 ms."""

    def __init__(self, inner: Storage, slow: set[int]) -> None:
        self.inner = inner
        self.slow = slow
        self.threads: list[str] = []

    def save(self, records: Sequence[Any]) -> None:
        if len(self.threads) in self.slow:
            time.sleep(0.1)  # a slow disk: longer than SLOW_WRITE_S
        self.threads.append("loop" if threading.current_thread() is threading.main_thread()
                            else "io thread")
        self.inner.save(records)

    def close(self) -> None:
        self.inner.close()


async def test_writes_run_on_the_loop_and_on_the_io_thread_while_the_disk_is_slow(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write runs inline once the loop is idle (a thread hand-off costs more than a
    fast fsync); after a slow one the next go to the I/O thread, so a slow disk does not
    stall heartbeats and reads, until a write is fast again."""
    monkeypatch.setattr(slot_module, "SLOW_WRITE_S", 0.05)  # above any fsync of a loaded CI
    storage: list[TimedStorage] = []

    class TimedSpec(ToySpec):
        def create_node(self, ctx: NodeContext) -> NodeParts:
            parts = super().create_node(ctx)
            storage.append(TimedStorage(parts.storage, slow={1}))
            return NodeParts(parts.core, storage[0])

    lease = allocate_ports(3)
    addresses = {NodeId(f"n{i}"): f"127.0.0.1:{p}" for i, p in enumerate(lease.ports, 1)}
    me = NodeId("n2")
    config = NodeConfig(me, "toy", addresses[me], str(tmp_path / me),
                        {n: a for n, a in addresses.items() if n != me}, rpc_deadline_ms=300)
    shell = ToyShell()
    shell.spec = TimedSpec()
    node = NodeHost(config, shell)
    task = asyncio.create_task(node.run())
    channel = grpc.aio.insecure_channel(config.address)
    try:
        await admin_pb2_grpc.AdminStub(channel).Status(admin_pb2.StatusRequest(),
                                                       wait_for_ready=True, timeout=10)
        for index in range(1, 5):
            command = KvCommand("put", "k", f"v{index}", None, "c", index).encode()
            ack = await call(channel, "Replicate", toy_pb2.Replicate(index=index,
                             command=command), toy_pb2.Ack, sender="n1")
            assert ack.index == index
        # write 2 was slow (inline, it stalled the loop once), so write 3 went to the
        # thread; write 3 was fast, so write 4 is back on the loop
        assert storage[0].threads == ["loop", "loop", "io thread", "loop"]
    finally:
        node.request_stop()
        assert await asyncio.wait_for(task, 10) == 0
        await channel.close()
        lease.release()


class BuggySpec(ToySpec):
    """A toy whose core fails on a one-way message: a bug, not bad input."""

    def create_node(self, ctx: NodeContext) -> NodeParts:
        parts = super().create_node(ctx)

        handle = parts.core.on_message

        def on_message(src: NodeId, msg: Any) -> Any:
            if isinstance(msg, Committed):
                raise RuntimeError("a bug in the core")
            return handle(src, msg)

        parts.core.on_message = on_message  # type: ignore[method-assign]
        return parts


async def test_a_core_that_fails_stops_the_node_with_exit_code_4(tmp_path: Path) -> None:
    """Fail-stop: a core that raised anything but InvalidRequest is in a state nobody
    can trust; the node stops (exit 4) instead of serving on, as the simulator fails."""
    lease = allocate_ports(2)
    addresses = {NodeId(f"n{i}"): f"127.0.0.1:{p}" for i, p in enumerate(lease.ports, 1)}
    config = NodeConfig(NodeId("n2"), "toy", addresses[NodeId("n2")], str(tmp_path / "n2"),
                        {NodeId("n1"): addresses[NodeId("n1")]})
    shell = ToyShell()
    shell.spec = BuggySpec()
    node = NodeHost(config, shell)
    task = asyncio.create_task(node.run())
    try:
        async with grpc.aio.insecure_channel(config.address) as channel:
            await admin_pb2_grpc.AdminStub(channel).Status(admin_pb2.StatusRequest(),
                                                           wait_for_ready=True, timeout=10)
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await call(channel, "Committed", toy_pb2.Committed(commit_index=0),
                           common_pb2.Empty, sender="n1")
            assert e.value.code() == grpc.StatusCode.INTERNAL
        # from the failure on, the core gets no input and nothing it says goes out,
        # though the server still drains its calls for a grace period
        sent: list[Any] = []
        command = KvCommand("put", "k", "v", None, "c", 1).encode()
        node.peer_server.on_frame(NodeId("n1"), peer_pb2.Frame(
            id=1, method="Replicate", body=toy_pb2.Replicate(
                index=1, command=command).SerializeToString()), sent.append)
        assert sent == [] and node.status().details["log_length"] == "0"
        assert await asyncio.wait_for(task, 10) == 4
    finally:
        node.request_stop()
        lease.release()


async def test_a_core_that_fails_on_a_reply_stops_the_node_with_exit_code_4(
        tmp_path: Path) -> None:
    """Replies reach the core as callbacks of the transport's reader: a bug there must
    fail-stop the node as a bug on a request does, not just kill the reader."""

    class FailsOnReply(ToySpec):
        def create_node(self, ctx: NodeContext) -> NodeParts:
            parts = super().create_node(ctx)

            def on_reply(src: NodeId, request: Any, reply: Any) -> None:
                raise RuntimeError("a bug in the core's on_reply")

            parts.core.on_reply = on_reply  # type: ignore[method-assign]
            return parts

    lease = allocate_ports(2)
    addresses = {NodeId(f"n{i}"): f"127.0.0.1:{p}" for i, p in enumerate(lease.ports, 1)}
    hosts = {}
    for me in addresses:
        shell = ToyShell()
        if me == "n1":  # the primary: it replicates to n2 and hears the Ack
            shell.spec = FailsOnReply()
        config = NodeConfig(me, "toy", addresses[me], str(tmp_path / me),
                            {n: a for n, a in addresses.items() if n != me})
        hosts[me] = NodeHost(config, shell)
    tasks = {me: asyncio.create_task(h.run()) for me, h in hosts.items()}
    try:
        async with grpc.aio.insecure_channel(addresses[NodeId("n1")]) as channel:
            await admin_pb2_grpc.AdminStub(channel).Status(admin_pb2.StatusRequest(),
                                                           wait_for_ready=True, timeout=10)
        put = asyncio.ensure_future(hosts[NodeId("n1")].submit(
            KvCommand("put", "k", "v", None, "c", 1), timeout_s=10))
        assert await asyncio.wait_for(tasks[NodeId("n1")], 10) == 4
        with pytest.raises(Exception):  # noqa: B017 (unanswered: shutting down)
            await asyncio.wait_for(put, 5)
    finally:
        for h in hosts.values():
            h.request_stop()
        assert await asyncio.wait_for(tasks[NodeId("n2")], 10) == 0
        lease.release()


async def test_a_write_waits_for_the_idle_loop_which_only_cpython_internals_show() -> None:
    """``until_idle`` (the group commit's wait before a write) reads the loop's private
    ``_ready`` queue: this fails if a Python release drops it (the host would still be
    correct, writing after one loop turn, with less group commit)."""
    loop = asyncio.get_running_loop()
    assert isinstance(getattr(loop, "_ready", None), collections.deque), (
        "the event loop no longer keeps its ready callbacks in _ready")
    ran: list[int] = []

    def step(i: int) -> None:  # a chain of callbacks, each scheduling the next
        ran.append(i)
        if i < 20:
            loop.call_soon(step, i + 1)

    loop.call_soon(step, 0)
    await slot_module.until_idle(loop)
    assert ran == list(range(21)), "the write did not wait for the loop to be idle"


@pytest.mark.parametrize("host", ["n2"], indirect=True)
async def test_a_coalesced_batch_of_frames_is_taken_frame_by_frame(
        host: tuple[NodeHost, HeldSpec, grpc.aio.Channel]) -> None:
    """Frames a peer posts in one loop turn arrive as one frame carrying them all
    (``Frame.batch``): the node takes each on its own, and each request gets its Ack."""
    node, spec, _ = host
    assert spec.storage is not None
    spec.storage.release.set()
    t = peer_transport(node, "n1", deadline_s=10)
    meta = ((SENDER_ID_KEY, "n1"),)
    commands = [KvCommand("put", f"k{i}", "v", None, "c", i).encode() for i in range(1, 21)]
    try:
        replies = await asyncio.gather(*(t.request(
            node.node_id, "Replicate", frame_of(toy_pb2.Replicate(index=i, command=c)),
            one_way=False, metadata=meta) for i, c in enumerate(commands, 1)))
    finally:
        await t.close()
    assert None not in replies
    assert [toy_pb2.Ack.FromString(r.body).index for r in replies if r] == list(range(1, 21))
    assert node.status().details["log_length"] == "20"
