"""The transport: the one place that owns gRPC channels to peers.

* one ``grpc.aio`` channel per peer, created lazily, addressed through the cluster's
  link table (so through the fault proxies when the runner set them up);
* a deadline on every RPC (``rpc_deadline_s``) — a partitioned peer costs a timeout, never
  a hang;
* low reconnect backoff (``grpc.initial/min/max_reconnect_backoff_ms``): the default
  backoff grows to 120 s, so a healed partition could stay "down" for minutes;
* keepalive pings, so a black-holed connection (data silently dropped) is detected and
  replaced instead of waiting on a dead TCP stream forever;
* the message-fault hook (``protocols.runtime.faults``): drop / drop reply / duplicate /
  delay / reorder, per directed peer, seeded;
* protocol messages on one long-lived bidirectional stream per peer (``request``,
  ``protos/peer.proto``): frames with ids, a deadline per request, reopened on the next
  request after the stream breaks. Unary calls (``call``) remain for probes and tools.

Every failure surfaces as ``PeerUnreachable`` (the RPC surely or possibly did not get a
reply); callers never see a raw ``grpc.RpcError`` from here.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Mapping
from typing import Any, TypeVar

import grpc
import grpc.aio
from google.protobuf.message import Message

from protocols._pb import peer_pb2
from protocols.common.errors import Unavailable, UnknownNode
from protocols.common.ids import NodeId
from protocols.runtime.faults import FaultDecision, MessageFaults

__all__ = ["CHANNEL_OPTIONS", "SERVER_OPTIONS", "STREAM_METHOD", "PeerUnreachable",
           "Transport"]

STREAM_METHOD = "/protocols.peer.v1.Peer/Stream"

R = TypeVar("R", bound=Message)

CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.initial_reconnect_backoff_ms", 50),
    ("grpc.min_reconnect_backoff_ms", 50),
    ("grpc.max_reconnect_backoff_ms", 500),
    ("grpc.keepalive_time_ms", 2_000),
    ("grpc.keepalive_timeout_ms", 2_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    ("grpc.max_send_message_length", 64 << 20),
    ("grpc.max_receive_message_length", 64 << 20),
    ("grpc.enable_retries", 0),  # we never want gRPC to resend a protocol message for us
]

SERVER_OPTIONS: list[tuple[str, Any]] = [
    # accept the clients' keepalive pings instead of answering GOAWAY "too_many_pings"
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.min_recv_ping_interval_without_data_ms", 1_000),
    ("grpc.http2.max_ping_strikes", 0),
    ("grpc.max_send_message_length", 64 << 20),
    ("grpc.max_receive_message_length", 64 << 20),
    ("grpc.so_reuseport", 0),  # a port in use must fail loudly, not be shared
]


class PeerUnreachable(Unavailable):
    """An RPC to ``peer`` got no reply: refused, timed out, or dropped by a fault."""

    def __init__(self, peer: str, reason: str, code: grpc.StatusCode | None = None) -> None:
        self.peer = peer
        self.reason = reason
        self.code = code
        super().__init__(f"no reply from {peer}: {reason}")


class Transport:
    """Channels to every peer, with deadlines, fast reconnects and the fault hook."""

    def __init__(
        self,
        node_id: NodeId,
        peers: Mapping[NodeId, str],
        rpc_deadline_s: float,
        faults: MessageFaults | None = None,
    ) -> None:
        self.node_id = node_id
        self.peers = dict(peers)
        self.rpc_deadline_s = rpc_deadline_s
        self.faults = faults or MessageFaults(node_id)
        self._channels: dict[NodeId, grpc.aio.Channel] = {}
        self._calls: dict[tuple[NodeId, str], grpc.aio.UnaryUnaryMultiCallable] = {}
        self._streams: dict[NodeId, _PeerStream] = {}
        self._background: set[asyncio.Task[None]] = set()

    def channel(self, peer: NodeId) -> grpc.aio.Channel:
        if peer not in self.peers:
            raise UnknownNode(peer, list(self.peers))
        ch = self._channels.get(peer)
        if ch is None:
            ch = grpc.aio.insecure_channel(self.peers[peer], options=CHANNEL_OPTIONS)
            self._channels[peer] = ch
        return ch

    def _callable(
        self, peer: NodeId, method: str, reply_type: type[R]
    ) -> grpc.aio.UnaryUnaryMultiCallable:
        key = (peer, method)
        fn = self._calls.get(key)
        if fn is None:
            fn = self.channel(peer).unary_unary(
                method,
                request_serializer=lambda m: m.SerializeToString(),
                response_deserializer=reply_type.FromString,
            )
            self._calls[key] = fn
        return fn

    async def call(
        self,
        peer: NodeId,
        method: str,
        request: Message,
        reply_type: type[R],
        deadline_s: float | None = None,
        metadata: tuple[tuple[str, str], ...] = (),
    ) -> R:
        """One RPC to ``peer`` (``method`` is the full path, e.g. "/pkg.Svc/Method")."""
        deadline = self.rpc_deadline_s if deadline_s is None else deadline_s
        fault = self.faults.decide(peer)
        fn = self._callable(peer, method, reply_type)
        started = time.monotonic()
        return await self._faulty_call(peer, fn, request, deadline, fault, started, metadata)

    async def request(self, peer: NodeId, method: str, body: bytes, *, one_way: bool,
                      metadata: tuple[tuple[str, str], ...] = (),
                      clock: Mapping[str, int] | None = None, mid: str = "") -> Any | None:
        """Send one protocol message on ``peer``'s stream; the reply's frame (``body``, and
        with event logs on its ``clock`` and ``mid``), or None for a one-way message.
        PeerUnreachable if no reply came within the deadline."""
        stream = self._streams.get(peer)
        if stream is None:
            stream = self._streams[peer] = _PeerStream(self, peer, metadata)
        fault = self.faults.decide(peer)
        deadline = self.rpc_deadline_s
        started = time.monotonic()
        if fault.delay_s:
            await asyncio.sleep(min(fault.delay_s, deadline))
        if fault.drop:
            await asyncio.sleep(max(0.0, deadline - (time.monotonic() - started)))
            raise PeerUnreachable(peer, "request dropped by the message-fault hook (timeout)")
        remaining = max(0.001, deadline - (time.monotonic() - started))
        frame = await stream.request(method, body, remaining, one_way, fault.duplicate,
                                     clock, mid)
        if frame is None:
            return None
        if fault.drop_reply:
            await asyncio.sleep(max(0.0, deadline - (time.monotonic() - started)))
            raise PeerUnreachable(peer, "reply dropped by the message-fault hook (timeout)")
        if frame.error:
            raise PeerUnreachable(peer, f"refused: {frame.error}")
        return frame

    async def _faulty_call(
        self,
        peer: NodeId,
        fn: grpc.aio.UnaryUnaryMultiCallable,
        request: Message,
        deadline: float,
        fault: FaultDecision,
        started: float,
        metadata: tuple[tuple[str, str], ...],
    ) -> R:
        if fault.delay_s:
            await asyncio.sleep(min(fault.delay_s, deadline))
        if fault.drop:
            await asyncio.sleep(max(0.0, deadline - (time.monotonic() - started)))
            raise PeerUnreachable(peer, "request dropped by the message-fault hook (timeout)")
        if fault.duplicate:
            self.spawn(self._send_and_forget(fn, request, deadline, metadata))
        remaining = max(0.001, deadline - (time.monotonic() - started))
        reply: R = await self._send(peer, fn, request, remaining, metadata)
        if fault.drop_reply:
            await asyncio.sleep(max(0.0, deadline - (time.monotonic() - started)))
            raise PeerUnreachable(peer, "reply dropped by the message-fault hook (timeout)")
        return reply

    async def _send(
        self,
        peer: NodeId,
        fn: grpc.aio.UnaryUnaryMultiCallable,
        request: Message,
        rpc_timeout_s: float,
        metadata: tuple[tuple[str, str], ...],
    ) -> Any:
        try:
            return await fn(request, timeout=rpc_timeout_s, metadata=metadata)
        except grpc.aio.AioRpcError as e:
            raise PeerUnreachable(peer, f"{e.code().name}: {e.details()}", e.code()) from None

    async def _send_and_forget(
        self,
        fn: grpc.aio.UnaryUnaryMultiCallable,
        request: Message,
        rpc_timeout_s: float,
        metadata: tuple[tuple[str, str], ...],
    ) -> None:
        try:
            await fn(request, timeout=rpc_timeout_s, metadata=metadata)
        except grpc.aio.AioRpcError:
            return

    def spawn(self, coro: Any) -> None:
        """Run a send in the background; the transport cancels it on close."""
        task: asyncio.Task[None] = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def close(self) -> None:
        for stream in self._streams.values():
            stream.close()
        self._streams.clear()
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        for ch in self._channels.values():
            await ch.close(grace=None)
        self._channels.clear()
        self._calls.clear()


class _PeerStream:
    """The stream to one peer: request frames out, reply frames matched back by id."""

    def __init__(self, transport: Transport, peer: NodeId,
                 metadata: tuple[tuple[str, str], ...]) -> None:
        self.transport = transport
        self.peer = peer
        self.metadata = metadata
        self.call: grpc.aio.StreamStreamCall | None = None
        self.pending: dict[int, asyncio.Future[Any]] = {}
        self.ids = itertools.count(1)
        self.lock = asyncio.Lock()  # one writer at a time, in the order requests came

    async def request(self, method: str, body: bytes, deadline_s: float, one_way: bool,
                      duplicate: bool, clock: Mapping[str, int] | None = None,
                      mid: str = "") -> Any | None:
        frame_id = next(self.ids)
        frame = peer_pb2.Frame(id=frame_id, method=method, body=body, one_way=one_way,
                               deadline_ms=max(1, int(deadline_s * 1000)), mid=mid)
        if clock:
            frame.clock.update(clock)
        fut: asyncio.Future[Any] | None = None
        if not one_way:
            fut = self.pending[frame_id] = asyncio.get_running_loop().create_future()
        try:
            await self._write(frame)
            if duplicate:  # delivered twice; the second reply finds nobody waiting
                await self._write(frame)
            if fut is None:
                return None
            return await asyncio.wait_for(fut, deadline_s)
        except TimeoutError:
            raise PeerUnreachable(self.peer, "DEADLINE_EXCEEDED: no reply on the stream "
                                             "in time") from None
        finally:
            self.pending.pop(frame_id, None)

    async def _write(self, frame: Any) -> None:
        async with self.lock:
            call = self.call
            if call is None or call.done():
                call = self._open()
            try:
                await call.write(frame)
            except Exception as e:  # the stream broke: the next request opens a new one
                if self.call is call:
                    self.call = None
                raise PeerUnreachable(self.peer, f"stream closed: {e!r}") from None

    def _open(self) -> grpc.aio.StreamStreamCall:
        open_stream = self.transport.channel(self.peer).stream_stream(
            STREAM_METHOD, request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=peer_pb2.Frame.FromString)
        call = self.call = open_stream(metadata=self.metadata)
        self.transport.spawn(self._read(call))
        return call

    async def _read(self, call: grpc.aio.StreamStreamCall) -> None:
        """Hand each reply to its request; when the stream ends, fail what still waits."""
        reason = "stream closed by the peer"
        try:
            async for frame in call:
                fut = self.pending.get(frame.id)
                if fut is not None and not fut.done():
                    fut.set_result(frame)
        except grpc.aio.AioRpcError as e:
            reason = f"{e.code().name}: {e.details()}"
        finally:
            if self.call is call:
                self.call = None
            for fut in self.pending.values():
                if not fut.done():
                    fut.set_exception(PeerUnreachable(self.peer, reason))

    def close(self) -> None:
        if self.call is not None:
            self.call.cancel()
            self.call = None
