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
  delay / reorder, per directed peer, seeded.

Every failure surfaces as ``PeerUnreachable`` (the RPC surely or possibly did not get a
reply); callers never see a raw ``grpc.RpcError`` from here.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any, TypeVar

import grpc
import grpc.aio
from google.protobuf.message import Message

from protocols.common.errors import Unavailable, UnknownNode
from protocols.common.ids import NodeId
from protocols.runtime.faults import FaultDecision, MessageFaults

__all__ = ["CHANNEL_OPTIONS", "SERVER_OPTIONS", "PeerUnreachable", "Transport"]

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
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        for ch in self._channels.values():
            await ch.close(grace=None)
        self._channels.clear()
        self._calls.clear()
