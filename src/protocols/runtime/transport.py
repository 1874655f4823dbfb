"""The transport: the one place that owns gRPC channels to peers.

* one ``grpc.aio`` channel per peer, created lazily, addressed through the cluster's
  link table (so through the fault proxies when the runner set them up);
* a deadline on every RPC (``rpc_deadline_s``) — a partitioned peer costs a timeout, never
  a hang;
* low reconnect backoff (``grpc.initial/min/max_reconnect_backoff_ms``): the default
  backoff grows to 120 s, so a healed partition could stay "down" for minutes;
* keepalive pings, so a black-holed connection (data silently dropped) is detected and
  replaced instead of waiting on a dead TCP stream forever;
* mutual TLS when the cluster has it (``protocols.runtime.tls``): the peer must show the
  certificate naming it, signed by the cluster's CA;
* the message-fault hook (``protocols.runtime.faults``): drop / drop reply / duplicate /
  delay / reorder, per directed peer, seeded;
* protocol messages on one long-lived bidirectional stream per peer (``send``, and
  ``request`` as a coroutine; ``protos/peer.proto``): frames with ids, written in order by
  one writer per peer, a deadline per request (a frame still queued at its deadline is
  never sent), reopened for the next frame after the stream breaks. Unary calls
  (``call``) remain for probes and tools.

Every failure surfaces as ``PeerUnreachable`` (the RPC surely or possibly did not get a
reply); callers never see a raw ``grpc.RpcError`` from here.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import grpc
import grpc.aio
from google.protobuf.message import Message

from protocols._pb import peer_pb2
from protocols.common.errors import Unavailable, UnknownNode
from protocols.common.ids import NodeId
from protocols.runtime.faults import FaultDecision, MessageFaults
from protocols.runtime.tls import TlsMaterial, open_channel

__all__ = ["CHANNEL_OPTIONS", "SERVER_OPTIONS", "STREAM_METHOD", "PeerUnreachable",
           "Transport"]

STREAM_METHOD = "/protocols.peer.v1.Peer/Stream"
OUTBOX_MAX = 4096  # frames waiting for one peer; beyond, a request fails, a one-way is lost
BATCH_MAX = 256  # frames coalesced into one write

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
        tls: TlsMaterial | None = None,
    ) -> None:
        self.node_id = node_id
        self.peers = dict(peers)
        self.tls = tls  # mutual TLS: show our certificate, accept only the peer's own
        self.rpc_deadline_s = rpc_deadline_s
        self.faults = faults or MessageFaults(node_id)
        self._channels: dict[NodeId, grpc.aio.Channel] = {}
        self._calls: dict[tuple[NodeId, str], grpc.aio.UnaryUnaryMultiCallable] = {}
        self._streams: dict[NodeId, _PeerStream] = {}
        self._background: set[asyncio.Task[None]] = set()
        self.closed = False

    def channel(self, peer: NodeId) -> grpc.aio.Channel:
        if peer not in self.peers:
            raise UnknownNode(peer, list(self.peers))
        ch = self._channels.get(peer)
        if ch is None:
            ch = open_channel(self.peers[peer], self.tls, peer, CHANNEL_OPTIONS)
            self._channels[peer] = ch
        return ch

    def set_address(self, peer: NodeId, address: str) -> None:
        """Reach ``peer`` at ``address`` from now on (a membership protocol learned it, or
        the peer moved). A new address closes the old stream and channel: what still
        waits on them fails, from the loop, as a broken stream's requests do."""
        if self.peers.get(peer) == address:
            return
        self.peers[peer] = address
        stream = self._streams.pop(peer, None)
        if stream is not None:
            asyncio.get_running_loop().call_soon(stream.close)
        for key in [k for k in self._calls if k[0] == peer]:
            del self._calls[key]
        channel = self._channels.pop(peer, None)
        if channel is not None:
            self.spawn(channel.close(grace=None))

    def forget(self, peer: NodeId) -> None:
        """``peer`` left the cluster: its address, stream and channel go (what still waits
        on them fails, as on a new address); sending to it is then ``UnknownNode``."""
        if peer in self.peers:
            self.set_address(peer, "")
            del self.peers[peer]

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
        fault = self.faults.decide(peer, method.rpartition("/")[2])
        fn = self._callable(peer, method, reply_type)
        started = time.monotonic()
        return await self._faulty_call(peer, fn, request, deadline, fault, started, metadata)

    def send(self, peer: NodeId, method: str, body: bytes, *, one_way: bool,
             on_reply: ReplyCallback | None = None, on_failure: FailureCallback | None = None,
             metadata: tuple[tuple[str, str], ...] = (),
             clock: Mapping[str, int] | None = None, mid: str = "",
             deadline_s: float | None = None, group: str = "") -> None:
        """Post one protocol message for ``group`` on ``peer``'s stream and return at once.

        A request's outcome arrives later, exactly once: ``on_reply(frame)`` with the reply
        frame, or ``on_failure(PeerUnreachable)`` when no reply came within the deadline
        (dropped by a fault, refused, the stream broke, the peer's queue was full). A
        one-way message's fate is not reported. Callbacks run on the event loop, never
        inside this call. No task per message: a write is queued, a reply is matched by
        id and a deadline is a timer (each hop costs a Python-level loop turn)."""
        loop = asyncio.get_running_loop()
        if self.closed:
            if not one_way and on_failure is not None:
                loop.call_soon(on_failure, PeerUnreachable(peer, "the transport is closed"))
            return
        stream = self._streams.get(peer)
        if stream is None:
            if peer not in self.peers:
                raise UnknownNode(peer, list(self.peers))
            stream = self._streams[peer] = _PeerStream(self, peer, metadata)
        fault = self.faults.decide(peer, method)
        if deadline_s is None:
            deadline_s = self.rpc_deadline_s
        frame = peer_pb2.Frame(id=next(stream.ids), method=method, body=body,
                               one_way=one_way, deadline_ms=max(1, int(deadline_s * 1000)),
                               mid=mid, group=group)
        if clock:
            frame.clock.update(clock)
        expires_at = loop.time() + deadline_s
        request = None
        if not one_way:
            request = _Request(frame.id, on_reply or _ignore, on_failure or _ignore,
                               fault.drop_reply)
            request.timer = loop.call_at(expires_at, stream.expire, request,
                                         "request dropped by the message-fault hook "
                                         "(timeout)" if fault.drop else None)
            stream.pending[frame.id] = request
            if fault.drop:
                return  # silence: the timer reports the loss at the deadline
        elif fault.drop:
            return
        copies = 2 if fault.duplicate else 1  # the second reply finds nobody waiting
        if fault.delay_s:  # delayed (and so overtaken by what is sent meanwhile)
            loop.call_later(min(fault.delay_s, deadline_s), stream.post, frame, expires_at,
                            request, copies)
        else:
            stream.post(frame, expires_at, request, copies)

    async def request(self, peer: NodeId, method: str, body: bytes, *, one_way: bool,
                      metadata: tuple[tuple[str, str], ...] = (),
                      clock: Mapping[str, int] | None = None, mid: str = "") -> Any | None:
        """``send`` as a coroutine: the reply's frame, None for a one-way message, or
        PeerUnreachable (tools and tests; nodes use the callbacks)."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def settle(result: Any) -> None:
            if not fut.done():
                fut.set_result(result)

        def fail(error: PeerUnreachable) -> None:
            if not fut.done():
                fut.set_exception(error)

        self.send(peer, method, body, one_way=one_way, on_reply=settle, on_failure=fail,
                  metadata=metadata, clock=clock, mid=mid)
        if one_way:
            return None
        return await fut

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
        """Stop: every request still waiting fails now (\"the transport is closed\"),
        nothing is sent any more, channels close."""
        self.closed = True
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


ReplyCallback = Callable[[Any], None]
FailureCallback = Callable[[PeerUnreachable], None]


def _ignore(_: Any) -> None:
    return None


def _settle(callback: Callable[[Any], None], outcome: Any) -> None:
    """Run a caller's callback; a bug in it is reported to the loop, and cannot stop the
    stream's reader or writer (the node's callbacks fail-stop on their own)."""
    try:
        callback(outcome)
    except Exception as e:
        asyncio.get_running_loop().call_exception_handler(
            {"message": "a transport callback raised", "exception": e})


class _Request:
    """A request on a stream, waiting for its reply frame or its deadline."""

    __slots__ = ("call", "drop_reply", "failed", "frame_id", "on_failure", "on_reply",
                 "timer")

    def __init__(self, frame_id: int, on_reply: ReplyCallback, on_failure: FailureCallback,
                 drop_reply: bool) -> None:
        self.frame_id = frame_id
        self.on_reply = on_reply
        self.on_failure = on_failure
        self.drop_reply = drop_reply  # the fault hook: the reply arrives and is discarded
        self.failed = False  # its outcome was a failure: a duplicate copy is not sent
        self.timer: asyncio.TimerHandle | None = None
        self.call: grpc.aio.StreamStreamCall | None = None  # the stream it was written on


class _PeerStream:
    """The stream to one peer: request frames out in the order they were posted (one
    writer task), reply frames matched back by id, a deadline timer per request."""

    def __init__(self, transport: Transport, peer: NodeId,
                 metadata: tuple[tuple[str, str], ...]) -> None:
        self.transport = transport
        self.peer = peer
        self.metadata = metadata
        self.call: grpc.aio.StreamStreamCall | None = None
        self.pending: dict[int, _Request] = {}
        self.ids = itertools.count(1)
        self.outbox: deque[tuple[Any, float, _Request | None]] = deque()
        self.wake = asyncio.Event()
        self.writer: asyncio.Task[None] | None = None
        self.closed = False

    def post(self, frame: Any, expires_at: float, request: _Request | None,
             copies: int = 1) -> None:
        """Queue ``frame`` for the writer (a full queue fails it at once)."""
        if self.closed:
            return  # a delay fault's late post: the request failed when we closed
        if len(self.outbox) + copies > OUTBOX_MAX:
            if request is not None:  # reported from the loop, not inside send()
                asyncio.get_running_loop().call_soon(
                    self._fail, request, f"{OUTBOX_MAX} frames already wait for this peer")
            return
        for _ in range(copies):
            self.outbox.append((frame, expires_at, request))
        if self.writer is None or self.writer.done():
            self.writer = asyncio.ensure_future(self._write_loop())
        self.wake.set()

    def expire(self, request: _Request, reason: str | None) -> None:
        """The deadline timer: no (kept) reply in time."""
        request.timer = None
        if reason is None:
            reason = ("reply dropped by the message-fault hook (timeout)" if request.drop_reply
                      else "DEADLINE_EXCEEDED: no reply on the stream in time")
        self._fail(request, reason)

    def _fail(self, request: _Request, reason: str) -> None:
        """Report ``request``'s failure, once (a later reply or timer finds it gone)."""
        if self.pending.get(request.frame_id) is not request:
            return  # already settled
        del self.pending[request.frame_id]
        if request.timer is not None:
            request.timer.cancel()
            request.timer = None
        request.failed = True
        _settle(request.on_failure, PeerUnreachable(self.peer, reason))

    async def _write_loop(self) -> None:
        """Write what is queued: everything posted since the last write travels as one
        frame (``Frame.batch``), so the messages many cores send one peer process in one
        loop turn cost one write, one HTTP/2 message (coalesced heartbeats)."""
        loop = asyncio.get_running_loop()
        while True:
            await self.wake.wait()
            self.wake.clear()
            while self.outbox:
                frames, requests = self._take_batch(loop.time())
                if not frames:
                    continue
                current = self.call
                call = current if current is not None and not current.done() else self._open()
                for request in requests:
                    request.call = call
                out = frames[0] if len(frames) == 1 else peer_pb2.Frame(batch=frames)
                try:
                    await call.write(out)
                except Exception as e:  # the stream broke: the next write opens a new one
                    if self.call is call:
                        self.call = None
                    call.cancel()  # its reader then fails what was written on it
                    for request in requests:
                        self._fail(request, f"stream closed: {e!r}")

    def _take_batch(self, now: float) -> tuple[list[Any], list[_Request]]:
        """The frames to write next (at most ``BATCH_MAX``), with their requests; a frame
        whose deadline passed or whose request failed is dropped, never delivered late."""
        frames: list[Any] = []
        requests: list[_Request] = []
        while self.outbox and len(frames) < BATCH_MAX:
            frame, expires_at, request = self.outbox.popleft()
            remaining = expires_at - now
            if remaining <= 0 or (request is not None and request.failed):
                continue  # its sender stopped waiting: do not deliver it late
            frame.deadline_ms = max(1, int(remaining * 1000))  # what is left of it
            frames.append(frame)
            if request is not None:
                requests.append(request)
        return frames, requests

    def _open(self) -> grpc.aio.StreamStreamCall:
        open_stream = self.transport.channel(self.peer).stream_stream(
            STREAM_METHOD, request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=peer_pb2.Frame.FromString)
        call = self.call = open_stream(metadata=self.metadata)
        self.transport.spawn(self._read(call))
        return call

    async def _read(self, call: grpc.aio.StreamStreamCall) -> None:
        """Hand each reply to its request; when the stream ends, fail what was written on
        it and still waits."""
        reason = "stream closed by the peer"
        try:
            async for received in call:
                for frame in received.batch or (received,):  # coalesced replies
                    self._settle_reply(frame)
        except grpc.aio.AioRpcError as e:
            reason = f"{e.code().name}: {e.details()}"
        finally:
            if self.call is call:
                self.call = None
            if not call.done():
                call.cancel()
            for request in [r for r in self.pending.values() if r.call is call]:
                self._fail(request, reason)

    def _settle_reply(self, frame: Any) -> None:
        request = self.pending.get(frame.id)
        if request is None or request.drop_reply:
            return  # late (expired), a duplicate's reply, or dropped by a fault
        del self.pending[frame.id]
        if request.timer is not None:
            request.timer.cancel()
            request.timer = None
        if frame.error:
            request.failed = True
            _settle(request.on_failure, PeerUnreachable(self.peer, f"refused: {frame.error}"))
        else:
            _settle(request.on_reply, frame)

    def close(self) -> None:
        """Fail every request still waiting; send nothing more."""
        self.closed = True
        if self.writer is not None:
            self.writer.cancel()
            self.writer = None
        if self.call is not None:
            self.call.cancel()
            self.call = None
        self.outbox.clear()
        for request in list(self.pending.values()):
            self._fail(request, "the transport is closed")
