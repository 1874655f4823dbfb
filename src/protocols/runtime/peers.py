"""The receiving side of peer messages on a node process's gRPC server.

Nodes send each other protocol messages on one long-lived stream per peer process
(``protos/peer.proto``): request frames in, reply frames out, each frame naming the
group (the core) it is for. Each message goes through its core's ``Inbox``
(``protocols.contract``), which decides what its arrival means; this module supplies only
the IO: a reply frame written on the stream, a deferred reply let go at the sender's
deadline, a refusal frame for a message the core refused.

The protocol's own gRPC service (``/protocols.raft.v1.Raft/AppendEntries`` ...) is served
too, one unary call per message, for grpcurl, tools and tests; nodes use the stream.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio
from google.protobuf.message import DecodeError

from protocols._pb import peer_pb2
from protocols.common.errors import ConfigError, InvalidRequest, Timeout, UnknownNode
from protocols.common.ids import NodeId, validate_node_id
from protocols.contract import Deferred
from protocols.runtime.errors import abort_with
from protocols.runtime.shell import Route
from protocols.runtime.slot import CoreFailed, CoreSlot
from protocols.runtime.transport import BATCH_MAX

if TYPE_CHECKING:
    from protocols.runtime.host import NodeHost

__all__ = ["GROUP_KEY", "PEER_SERVICE", "SENDER_ID_KEY", "PeerServer"]

SENDER_ID_KEY = "x-node-id"  # metadata naming the peer that sent a protocol RPC
GROUP_KEY = "x-group"  # metadata naming the group (core) a unary call is for
PEER_SERVICE = "protocols.peer.v1.Peer"  # protocol messages between nodes, streamed


class PeerServer:
    """Serves the peer stream and the protocols' unary routes of one node process."""

    def __init__(self, host: NodeHost) -> None:
        self.host = host

    # ------------------------------------------------------------------ registration
    def add_routes(self, server: grpc.aio.Server, routes: list[Route]) -> list[str]:
        """The unary handler of every route; returns the service names."""
        by_service: dict[str, dict[str, grpc.RpcMethodHandler]] = {}
        for route in routes:
            by_service.setdefault(route.service, {})[route.method] = (
                grpc.unary_unary_rpc_method_handler(
                    self._route_handler(route),
                    request_deserializer=route.request_pb.FromString,
                    response_serializer=lambda m: m.SerializeToString(),
                )
            )
        for service, handlers in sorted(by_service.items()):
            server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service,
                                                                                  handlers),))
        return sorted(by_service)

    def add_stream(self, server: grpc.aio.Server) -> str:
        """The stream other nodes send their protocol messages on (protos/peer.proto)."""
        handler = grpc.stream_stream_rpc_method_handler(
            self._peer_stream, request_deserializer=peer_pb2.Frame.FromString,
            response_serializer=lambda m: m.SerializeToString())
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            PEER_SERVICE, {"Stream": handler}),))
        return PEER_SERVICE

    # ------------------------------------------------------------------ who is speaking
    def sender_of(self, context: grpc.aio.ServicerContext) -> NodeId | None:
        """The peer named in the call's metadata, if this node may hear it: a configured
        peer, or (open membership) any well-formed id but its own. With TLS, only a
        certificate issued to that very node may speak for it (a client's certificate,
        signed by the same CA, may not)."""
        sender = metadata(context).get(SENDER_ID_KEY, "")
        if self.host.tls is not None and sender not in certified_names(context):
            return None
        if sender in self.host.peer_ids():
            return NodeId(sender)
        if self.host.open_membership and sender != self.host.node_id:
            with contextlib.suppress(ConfigError):  # a joiner: any well-formed id
                return validate_node_id(sender)
        return None

    async def _refuse_unknown(self, context: grpc.aio.ServicerContext) -> None:
        sender = metadata(context).get(SENDER_ID_KEY, "?")
        if self.host.tls is not None and sender not in certified_names(context):
            await context.abort(grpc.StatusCode.PERMISSION_DENIED,
                                f"node {self.host.node_id}: the caller's certificate names "
                                f"{sorted(certified_names(context)) or 'nobody'}, not the "
                                f"sender it claims ({sender!r})")
        await abort_with(context, UnknownNode(sender, sorted(self.host.peer_ids())))

    # ------------------------------------------------------------------ the stream
    async def _peer_stream(self, frames: Any, context: grpc.aio.ServicerContext
                           ) -> AsyncIterator[Any]:
        """A peer's stream: its request frames in, our reply frames out (in the order they
        become sendable: after the persist of what produced them)."""
        src = self.sender_of(context)
        if src is None:
            await self._refuse_unknown(context)
        out: asyncio.Queue[Any] = asyncio.Queue()

        async def read() -> None:
            try:
                async for frame in frames:
                    for one in frame.batch or (frame,):  # coalesced frames, one by one
                        self.on_frame(src, one, out.put_nowait)  # type: ignore[arg-type]
                    self.host.drain_all()
            finally:
                out.put_nowait(None)

        reader = asyncio.ensure_future(read())
        try:
            while (frame := await out.get()) is not None:
                batch = [frame]  # the replies ready by now leave as one frame
                while not out.empty() and len(batch) < BATCH_MAX:
                    more = out.get_nowait()
                    if more is None:
                        out.put_nowait(None)
                        break
                    batch.append(more)
                yield batch[0] if len(batch) == 1 else peer_pb2.Frame(batch=batch)
        finally:
            reader.cancel()

    def on_frame(self, src: NodeId, frame: Any, send: Callable[[Any], None]) -> None:
        """One request frame from ``src``: to its group's core, through the inbox (in
        step mode, once a step delivers it: ``protocols.runtime.stepper``)."""
        stepper = self.host.stepper
        if stepper is not None:
            stepper.hold("oneway" if frame.one_way else "request", src, frame.method,
                         frame.body, lambda: self.handle_frame(src, frame, send))
            return
        self.handle_frame(src, frame, send)

    def handle_frame(self, src: NodeId, frame: Any, send: Callable[[Any], None]) -> None:
        def refuse(why: str) -> None:
            if not frame.one_way:
                send(peer_pb2.Frame(id=frame.id, error=why))

        slot = self.host.slots.get(frame.group)
        if slot is None:
            refuse(f"node {self.host.node_id} hosts no group {frame.group!r}")
            return
        route = slot.routes_by_method.get(frame.method)
        if route is None:
            refuse(f"{slot.shell.name} has no message {frame.method!r}")
            return
        events = self.host.events
        if events is not None:
            events.recv(src, frame.method, frame.mid, frame.clock)

        def respond(message: Any) -> None:
            if not self.host.crash_points.before_send(slot, message):
                return  # a crash point fired: the process is gone
            reply_frame = peer_pb2.Frame(
                id=frame.id, body=route.encode(message, reply=True).SerializeToString())
            if events is not None:
                mid, clock = events.send(src, type(message).__name__)
                reply_frame.mid = mid
                reply_frame.clock.update(clock)
            send(reply_frame)

        try:
            msg = route.decode(route.request_pb.FromString(frame.body))
            arrival = slot.receive(src, msg, respond)
        except (InvalidRequest, DecodeError) as e:
            refuse(str(e))
            return
        except CoreFailed:
            return
        if isinstance(arrival, Deferred):  # owed until the sender's deadline, then let go
            asyncio.get_running_loop().call_later(frame.deadline_ms / 1000,
                                                  slot.inbox.expire, arrival)

    # ------------------------------------------------------------------ unary calls
    def _route_handler(
        self, route: Route
    ) -> Callable[[Any, grpc.aio.ServicerContext], Coroutine[Any, Any, Any]]:
        """A unary call carrying one message (grpcurl, tools, tests: nodes use the stream)."""
        async def handle(request_pb: Any, context: grpc.aio.ServicerContext) -> Any:
            src = self.sender_of(context)
            if src is None:
                await self._refuse_unknown(context)
            slot = self._slot_for(context, route)
            if slot is None:
                await context.abort(grpc.StatusCode.NOT_FOUND,
                                    f"node {self.host.node_id} hosts no group "
                                    f"{metadata(context).get(GROUP_KEY, '')!r} of "
                                    f"{route.service}")
                raise AssertionError("abort() returned")
            fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

            def respond(message: Any) -> None:
                if not fut.done():
                    fut.set_result(message)

            try:
                msg = route.decode(request_pb)
                arrival = slot.receive(src, msg, respond)  # type: ignore[arg-type]
            except InvalidRequest as e:
                await abort_with(context, e)
            except CoreFailed:
                if self.host.failed:
                    await context.abort(grpc.StatusCode.INTERNAL, f"{self.host.node_id} failed")
                await context.abort(grpc.StatusCode.UNAVAILABLE,
                                    f"{self.host.node_id} is stopping")
            slot.drain()
            if route.one_way:
                return route.reply_pb()
            return route.encode(await self._reply(slot, arrival, fut, context), reply=True)

        return handle

    def _slot_for(self, context: grpc.aio.ServicerContext, route: Route) -> CoreSlot | None:
        slot = self.host.slots.get(metadata(context).get(GROUP_KEY, ""))
        if slot is None or route.method not in slot.routes_by_method:
            return None
        return slot

    async def _reply(self, slot: CoreSlot, arrival: Any, fut: asyncio.Future[Any],
                     context: grpc.aio.ServicerContext) -> Any:
        """Wait for the reply within the caller's deadline: an immediate one once its
        cause is durable, a deferred one when the core emits it; a dropped request gets
        none (the caller's deadline passes)."""
        remaining = context.time_remaining()
        try:
            return await asyncio.wait_for(fut, None if remaining is None else remaining)
        except TimeoutError:
            await abort_with(context, Timeout(f"no reply from {self.host.node_id} in time"))
        finally:
            if isinstance(arrival, Deferred):
                slot.inbox.expire(arrival)
        raise AssertionError("abort_with returned")


def certified_names(context: grpc.aio.ServicerContext) -> set[str]:
    """The names the caller's (CA-verified) TLS certificate carries: its common name and
    its subject alternative names; empty without TLS."""
    auth = context.auth_context() or {}
    names = [*auth.get("x509_common_name", ()), *auth.get("x509_subject_alternative_name", ())]
    return {n.decode() if isinstance(n, bytes) else str(n) for n in names}


def metadata(context: grpc.aio.ServicerContext) -> dict[str, str]:
    return {k: str(v) for k, v in (context.invocation_metadata() or ())}
