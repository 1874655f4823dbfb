"""The shared node shell: one asyncio gRPC server hosting one protocol core.

This is DESIGN.md's "thin asyncio shell". It owns no protocol logic; it turns the world
into core inputs and core outputs into the world:

* gRPC requests from peers (``Route``s) -> ``core.on_message`` -> reply;
* a ticker -> ``core.tick()`` every ``tick_ms``;
* client commands (``submit``) -> ``core.submit`` -> an awaitable answer;
* after inputs, the contract's ``Pump``: persist (write + fsync) -> send -> apply ->
  answer, the order that makes "persist before you speak" true. The write and fsync
  run when the event loop has nothing else to do (on a thread while the disk is slow),
  and everything that arrived while one was pending shares the next (group commit);
  a peer's reply leaves
  only once the input that produced it is durable, a deferred reply when the core emits
  it, and a one-way message gets no reply at all;
* messages to peers go straight onto each peer's stream (``Transport.send``): a bounded
  queue and one writer per peer, so the core never waits on the network and a slow peer
  never slows the others; replies and failures come back as callbacks into the core.

It also serves the standard gRPC health service (SERVING only once everything is up),
server reflection (so ``grpcurl`` works), the Admin service and the Probe service.
SIGTERM/SIGINT stop it gracefully (exit 0); SIGKILL is survivable by design because
state is recovered from storage.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import fcntl
import logging
import os
import random
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from typing import Any

import grpc
import grpc.aio
from google.protobuf.message import DecodeError
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from protocols._pb import admin_pb2, admin_pb2_grpc, peer_pb2
from protocols.common.errors import (
    ConfigError,
    InvalidRequest,
    NotLeader,
    ProtocolError,
    StorageError,
    Timeout,
    Unavailable,
    UnknownNode,
)
from protocols.common.fs import OsFileSystem
from protocols.common.ids import NodeId, validate_node_id
from protocols.contract import (
    Answer,
    Core,
    Deferred,
    Envelope,
    NodeContext,
    NodeStatus,
    Pump,
    PumpActions,
    Reply,
    Storage,
)
from protocols.runtime import admin_input
from protocols.runtime.codec import from_proto, to_proto
from protocols.runtime.config import NodeConfig, parse_address
from protocols.runtime.errors import abort_with
from protocols.runtime.eventlog import EventLog
from protocols.runtime.faults import LinkFaults, MessageFaults
from protocols.runtime.malformed import RefuseMalformed
from protocols.runtime.shell import ProtocolShell, Route
from protocols.runtime.transport import SERVER_OPTIONS, PeerUnreachable, Transport

__all__ = ["SENDER_ID_KEY", "NodeHost", "StartupError"]

log = logging.getLogger("protocols.host")

SENDER_ID_KEY = "x-node-id"  # metadata naming the peer that sent a protocol RPC
PEER_SERVICE = "protocols.peer.v1.Peer"  # protocol messages between nodes, streamed
SLOW_WRITE_S = 0.005  # a WAL write slower than this sends the next ones to the I/O thread
DEADLINE_GRAIN_S = 0.01  # client commands' deadlines share one loop timer per 10 ms


class StartupError(ProtocolError):
    """The node could not start (port in use, data dir locked, bad storage)."""


class NodeHost:
    """Runs one node: ``await NodeHost(config, shell).run()`` until SIGTERM or Shutdown."""

    def __init__(self, config: NodeConfig, shell: ProtocolShell, *,
                 inline_writes: bool = True) -> None:
        """``inline_writes=False`` puts every WAL write on the I/O thread (tests that
        hold a write open use it; see ``_persist``)."""
        self.config = config
        self.shell = shell
        self.node_id = config.node_id
        self.faults = MessageFaults(config.node_id, config.seed)
        self.transport = Transport(config.node_id, config.peers, config.rpc_deadline_s,
                                   self.faults)
        # a peer's listening address -> what this node dials to reach it (its link's proxy,
        # when the runner set one up): an address a core learned is dialed the same way
        self._routes = {config.addresses[p]: config.peers[p] for p in config.peers
                        if p in config.addresses}
        self.core: Core
        self.storage: Storage
        self.pump: Pump
        self.started_at = time.monotonic()
        self.pings_received: dict[str, int] = {}
        self._routes_by_type: dict[type[Any], Route] = {r.request_type: r for r in shell.routes}
        self._answers: dict[int, asyncio.Future[Any]] = {}
        self._deadlines = _Deadlines(self._answers)
        self._routes_by_method: dict[str, Route] = {r.method: r for r in shell.routes}
        self._deferred: dict[Deferred, Callable[[Any], None]] = {}  # -> how to send it
        self._next_request_id = 0
        self._pump_wake = asyncio.Event()
        self._io = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="wal")
        self._inline_writes = inline_writes
        self._disk_slow = False  # writes go to self._io while the disk is slow
        self._stop = asyncio.Event()
        self._health = health.aio.HealthServicer()
        self._server: grpc.aio.Server | None = None
        self._lock_fd = -1
        self._recovered = False
        self._fatal: Exception | None = None  # a bug in the core stops the node
        self._halted = False  # the core failed or the node is stopping: no input, no output
        self.events: EventLog | None = None  # with the cluster's event_log on

    # ------------------------------------------------------------------ lifecycle
    async def run(self) -> int:
        """Start, serve until asked to stop, stop gracefully. Returns the exit code."""
        self._recover()
        try:
            await self._start_server()  # StartupError: python -m protocols exits 2
        except BaseException:
            await self._shutdown()
            raise
        code = 0
        try:
            self._install_signal_handlers()
            async with asyncio.TaskGroup() as tg:
                tg.create_task(self._pump_loop())
                tg.create_task(self._ticker())
                await self._set_serving(True)
                log.info("node %s (%s) serving on %s", self.node_id, self.shell.name,
                         self.config.address)
                await self._stop.wait()
                raise _Stopping()
        except* _Stopping:
            pass
        except* (StorageError, OSError) as group:
            # fail-stop: a write that may not have reached the disk must not be answered
            error = group.exceptions[0]
            log.critical("node %s: storage failed, stopping: %s", self.node_id, error)
            with contextlib.suppress(OSError):  # stderr may sit on the failing disk
                print(f"error: node {self.node_id}: storage failed: {error}", file=sys.stderr)
            code = 3
        except* Exception as group:  # the ticker or the pump: a bug in the core
            self.core_failed(group.exceptions[0])
        finally:
            await self._shutdown()
        if self._fatal is not None and code == 0:
            print(f"error: node {self.node_id}: internal error, stopped: "
                  f"{type(self._fatal).__name__}: {self._fatal}", file=sys.stderr)
            code = 4
        return code

    def request_stop(self) -> None:
        self._stop.set()

    def core_failed(self, error: Exception) -> None:
        """The core raised something other than InvalidRequest: a bug. Its state can no
        longer be trusted, so the node stops (fail-stop) rather than answer anyone."""
        self._halted = True  # its state can no longer be trusted: step it no more
        if self._fatal is None:
            log.critical("node %s: the %s core failed, stopping", self.node_id,
                         self.shell.name, exc_info=error)
            self._fatal = error
        self.request_stop()

    def _recover(self) -> None:
        data_dir = self.config.data_dir or f"/tmp/protocols-{self.node_id}-{os.getpid()}"
        OsFileSystem().makedirs(data_dir)  # durably: fsynced in its parent
        self._lock_data_dir(data_dir)
        # seeded per node and incarnation (NodeContext): a process start is a new life,
        # and a node on a wiped disk must not draw what a past life drew (vkv's replica id)
        rng = random.Random(f"{self.config.seed}/{self.node_id}/{os.urandom(8).hex()}")
        try:
            parts = self.shell.spec.create_node(NodeContext(
                self.node_id, tuple(sorted(self.config.peers)), OsFileSystem(), data_dir, rng,
                time.monotonic, self.config.options, self.config.tick_s, self.config.address,
                dict(self.config.addresses)))
        except StorageError as e:
            raise StartupError(f"node {self.node_id}: cannot recover from {data_dir}: {e}") from e
        self.core, self.storage = parts.core, parts.storage
        self._recovered = True
        if self.config.event_log:
            self.events = EventLog(self.node_id, self.config.event_log_path)
        self.pump = Pump(self.core, PumpActions(send=self._send, reply=self._reply,
                                                answer=self._answer, trace=self._trace))

    def _lock_data_dir(self, data_dir: str) -> None:
        """Two processes on one data dir would corrupt it: refuse the second."""
        fd = os.open(os.path.join(data_dir, "LOCK"), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StartupError(f"node {self.node_id}: data dir {data_dir} is in use by "
                               "another process") from None
        self._lock_fd = fd

    async def _start_server(self) -> None:
        server = grpc.aio.server(options=SERVER_OPTIONS)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        ours: Any = RefuseMalformed(server)  # undecodable requests: INVALID_ARGUMENT
        admin_pb2_grpc.add_AdminServicer_to_server(_AdminServicer(self), ours)
        admin_pb2_grpc.add_ProbeServicer_to_server(_ProbeServicer(self), ours)
        names = [
            "protocols.admin.v1.Admin",
            "protocols.admin.v1.Probe",
            *self._add_routes(ours),
            self._add_peer_stream(server),
            *self.shell.add_services(ours, self),
        ]
        self._service_names = sorted(set(names))
        reflection.enable_server_reflection(
            [*self._service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
        )
        host, port = parse_address(self.config.address, f"node {self.node_id} address")
        try:
            bound = server.add_insecure_port(f"{host}:{port}")
        except RuntimeError as e:
            raise StartupError(f"node {self.node_id}: cannot listen on {self.config.address}: "
                               f"{e} (is the port in use?)") from None
        if bound == 0:
            raise StartupError(f"node {self.node_id}: cannot listen on {self.config.address} "
                               "(port in use?)")
        await server.start()
        self._server = server

    def _add_routes(self, server: grpc.aio.Server) -> list[str]:
        by_service: dict[str, dict[str, grpc.RpcMethodHandler]] = {}
        for route in self.shell.routes:
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

    def _add_peer_stream(self, server: grpc.aio.Server) -> str:
        """The stream other nodes send their protocol messages on (protos/peer.proto)."""
        handler = grpc.stream_stream_rpc_method_handler(
            self._peer_stream, request_deserializer=peer_pb2.Frame.FromString,
            response_serializer=lambda m: m.SerializeToString())
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
            PEER_SERVICE, {"Stream": handler}),))
        return PEER_SERVICE

    def _install_signal_handlers(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)

    async def _set_serving(self, serving: bool) -> None:
        status = (health_pb2.HealthCheckResponse.SERVING if serving
                  else health_pb2.HealthCheckResponse.NOT_SERVING)
        for name in ["", *self._service_names]:
            await self._health.set(name, status)

    async def _shutdown(self) -> None:
        log.info("node %s stopping", self.node_id)
        self._halted = True  # what arrives from now on (replies, timers) reaches no core
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._set_serving(False)
            await self._server.stop(grace=1.0)
        await self.transport.close()
        for fut in self._answers.values():
            if not fut.done():
                fut.set_exception(Unavailable(f"node {self.node_id} is shutting down"))
        self._answers.clear()
        self._io.shutdown(wait=True)  # a write in progress completes before we close
        if self._recovered:
            self.storage.close()
        if self.events is not None:
            self.events.close()
            self.events = None
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    # ------------------------------------------------------------------ the pump
    def _input(self) -> int:
        """Note that the core took an input; the pump will drain what it produced."""
        self._pump_wake.set()
        return self.pump.note_input()

    async def _durable_after(self, seq: int) -> None:
        """Wait until the output of input ``seq`` has been persisted (and acted on)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def release() -> None:
            if not fut.done():  # the handler may have been cancelled meanwhile
                fut.set_result(None)

        self.pump.after_durable(seq, release)
        await fut

    def _drain(self) -> None:
        """Step the pump now, right after an input, until it is idle or holds a write
        (the pump task makes that durable). Called at the end of a handler, once it has
        registered what waits for the output, so the output does not wait a loop turn."""
        try:
            while not self._halted and self.pump.needs_step:
                if self.pump.step() is not None:
                    self._pump_wake.set()
                    return
        except Exception as e:  # a bug in the core (or a message it cannot encode)
            self.core_failed(e)

    async def _pump_loop(self) -> None:
        """Drive the Pump: one write (WAL write + fsync) at a time; inputs that arrive
        while it is pending go into the next one (group commit)."""
        while True:
            await self._pump_wake.wait()
            self._pump_wake.clear()
            self._drain()
            while (write := self.pump.writing) is not None:
                await self._persist(write.records)
                if self._halted:  # a failed core's output is never acted on
                    return
                self.pump.write_done()
                self._drain()

    async def _persist(self, records: Sequence[Any]) -> None:
        """Make ``records`` durable, on the event loop once it has nothing else to run.

        Waiting for the idle loop first lets the messages sent ahead of this write leave
        and lets the requests being handled become input for the next write (group
        commit). Inline, because handing a write to a thread costs more than the fsync:
        both threads want the GIL, and a put waited 0.3-0.8 ms for the hand-offs where
        the fsync took 0.15-0.25 (README, Benchmarks: where the time goes). A slow disk
        would stall the loop (heartbeats, reads), so after a write slower than
        ``SLOW_WRITE_S`` the next ones go to the I/O thread until one is fast again."""
        loop = asyncio.get_running_loop()
        if self._disk_slow or not self._inline_writes:
            took = await loop.run_in_executor(self._io, _timed, self.storage.save, records)
        else:
            await _until_idle(loop)
            took = _timed(self.storage.save, records)
        self._disk_slow = took > SLOW_WRITE_S

    def _send(self, envelope: Envelope) -> None:
        """Put one message on its peer's stream; its reply (or failure) comes back as a
        callback into the core (``_replied``), with no task of its own."""
        route = self._routes_by_type.get(type(envelope.msg))
        if route is None:
            raise TypeError(f"{self.shell.name}: no route for {type(envelope.msg).__name__}")
        if envelope.address:  # the core knows where dst listens: the book grows
            self.transport.set_address(envelope.dst, self._routes.get(envelope.address,
                                                                      envelope.address))
        elif envelope.dst not in self.transport.peers:  # nowhere to send it: lost
            asyncio.get_running_loop().call_soon(self._send_failed, envelope, route)
            return
        mid, clock = self.events.send(envelope.dst, route.method) if self.events else ("", None)
        body = to_proto(envelope.msg, route.request_pb).SerializeToString()
        self.transport.send(
            envelope.dst, route.method, body, one_way=route.one_way,
            on_reply=lambda frame: self._replied(envelope, route, frame),
            on_failure=lambda _: self._send_failed(envelope, route),
            metadata=((SENDER_ID_KEY, self.node_id),), clock=clock, mid=mid)

    def _replied(self, envelope: Envelope, route: Route, frame: Any) -> None:
        """A reply frame for ``envelope``: decode it and give it to the core."""
        if route.reply_type is None or self._halted:
            return
        if self.events is not None:
            self.events.recv(envelope.dst, route.reply_type.__name__, frame.mid, frame.clock)
        try:
            reply = from_proto(route.reply_pb.FromString(frame.body), route.reply_type)
        except (InvalidRequest, DecodeError):  # a malformed reply: as if none came
            self._send_failed(envelope, route)
            return
        except Exception as e:  # the codec's own bug (a plan mismatch): fail-stop
            self.core_failed(e)
            return
        try:
            self.core.on_reply(envelope.dst, envelope.msg, reply)
        except Exception as e:  # a bug in the core: fail-stop
            self.core_failed(e)
            return
        self._input()
        self._drain()

    def _send_failed(self, envelope: Envelope, route: Route) -> None:
        if route.one_way or self._halted:  # one-way: nothing to say
            return
        try:
            self.core.on_send_failed(envelope.dst, envelope.msg)
        except Exception as e:  # a bug in the core: fail-stop
            self.core_failed(e)
            return
        self._input()
        self._drain()

    def _reply(self, reply: Reply) -> None:
        send = self._deferred.pop(reply.to, None)
        if send is not None:  # else the requester stopped waiting
            send(reply.msg)

    def _answer(self, answer: Answer) -> None:
        fut = self._answers.pop(answer.request_id, None)
        if fut is None or fut.done():
            return
        if answer.error is not None:
            fut.set_exception(answer.error)
        else:
            fut.set_result(answer.result)

    def _trace(self, line: str) -> None:
        log.debug("%s %s", self.node_id, line)

    async def _ticker(self) -> None:
        """Call core.tick() every tick_s. Missed ticks are skipped, not burst: a stalled
        event loop must not look like many elapsed heartbeat intervals at once."""
        loop = asyncio.get_running_loop()
        tick_s = self.config.tick_s
        next_at = loop.time() + tick_s
        while True:
            await asyncio.sleep(max(0.0, next_at - loop.time()))
            self.core.tick()
            self._input()
            if self.events is not None:
                st = self.core.status()
                self.events.state(st.role, st.epoch)
                self.events.maybe_flush()
            next_at = max(next_at + tick_s, loop.time())

    # ------------------------------------------------------------------ peers
    def _receive(self, src: NodeId, route: Route, msg: Any) -> tuple[Any, int]:
        """Hand a peer's message to the core: (its reply, a Deferred or None; the input's
        number). InvalidRequest if it refused it; _CoreFailed (node stopping) on a bug."""
        if self._halted:
            raise _CoreFailed()
        try:
            reply = self.core.on_message(src, msg)
            if route.one_way and reply is not None:
                raise AssertionError(f"{self.shell.name} replied to the one-way {route.method}")
        except InvalidRequest:
            self._input()
            raise
        except Exception as e:
            self.core_failed(e)
            raise _CoreFailed() from e
        return reply, self._input()

    async def _peer_stream(self, frames: Any, context: grpc.aio.ServicerContext
                           ) -> AsyncIterator[Any]:
        """A peer's stream: its request frames in, our reply frames out (in the order they
        become sendable: after the persist of what produced them)."""
        src = self._sender_of(context)
        if src is None:
            await abort_with(context, UnknownNode(_metadata(context).get(SENDER_ID_KEY, "?"),
                                                  list(self.config.peers)))
        out: asyncio.Queue[Any] = asyncio.Queue()

        async def read() -> None:
            try:
                async for frame in frames:
                    self._on_frame(src, frame, out.put_nowait)  # type: ignore[arg-type]
                    self._drain()
            finally:
                out.put_nowait(None)

        reader = asyncio.ensure_future(read())
        try:
            while (frame := await out.get()) is not None:
                yield frame
        finally:
            reader.cancel()

    def _on_frame(self, src: NodeId, frame: Any, send: Callable[[Any], None]) -> None:
        route = self._routes_by_method.get(frame.method)

        def refuse(why: str) -> None:
            if not frame.one_way:
                send(peer_pb2.Frame(id=frame.id, error=why))

        if route is None:
            refuse(f"{self.shell.name} has no message {frame.method!r}")
            return
        if self.events is not None:
            self.events.recv(src, frame.method, frame.mid, frame.clock)
        try:
            msg = from_proto(route.request_pb.FromString(frame.body), route.request_type)
            reply, seq = self._receive(src, route, msg)
        except (InvalidRequest, DecodeError) as e:
            refuse(str(e))
            return
        except _CoreFailed:
            return
        if route.one_way or reply is None:  # dropped: silence until the sender's deadline
            return

        def respond(message: Any) -> None:
            reply_frame = peer_pb2.Frame(
                id=frame.id, body=to_proto(message, route.reply_pb).SerializeToString())
            if self.events is not None:
                mid, clock = self.events.send(src, type(message).__name__)
                reply_frame.mid = mid
                reply_frame.clock.update(clock)
            send(reply_frame)

        if isinstance(reply, Deferred):
            self._deferred[reply] = respond
            asyncio.get_running_loop().call_later(frame.deadline_ms / 1000,
                                                  self._deferred.pop, reply, None)
        else:
            self.pump.after_durable(seq, lambda: respond(reply))  # persist before it leaves

    def _route_handler(
        self, route: Route
    ) -> Callable[[Any, grpc.aio.ServicerContext], Coroutine[Any, Any, Any]]:
        """A unary call carrying one message (grpcurl, tools, tests: nodes use the stream)."""
        async def handle(request_pb: Any, context: grpc.aio.ServicerContext) -> Any:
            src = self._sender_of(context)
            if src is None:
                await abort_with(context, UnknownNode(_metadata(context).get(SENDER_ID_KEY, "?"),
                                                      list(self.config.peers)))
            try:
                msg = from_proto(request_pb, route.request_type)
                reply, seq = self._receive(src, route, msg)  # type: ignore[arg-type]
            except InvalidRequest as e:
                await abort_with(context, e)
            except _CoreFailed:
                if self._fatal is not None:
                    await context.abort(grpc.StatusCode.INTERNAL, f"{self.node_id} failed")
                await context.abort(grpc.StatusCode.UNAVAILABLE, f"{self.node_id} is stopping")
            if route.one_way:
                return route.reply_pb()
            if reply is None:  # dropped: the requester hears silence until its deadline
                reply = Deferred("dropped")
            if isinstance(reply, Deferred):
                reply = await self._deferred_reply(reply, context)
            else:
                await self._durable_after(seq)  # persist before the reply leaves
            return to_proto(reply, route.reply_pb)

        return handle

    async def _deferred_reply(self, deferred: Deferred, context: grpc.aio.ServicerContext
                              ) -> Any:
        """Wait for the core's ``Reply(deferred, ...)``, within the caller's deadline."""
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()

        def send(message: Any) -> None:
            if not fut.done():
                fut.set_result(message)

        self._deferred[deferred] = send
        remaining = context.time_remaining()
        try:
            return await asyncio.wait_for(fut, None if remaining is None else remaining)
        except TimeoutError:
            await abort_with(context, Timeout(f"no reply from {self.node_id} in time"))
        finally:
            self._deferred.pop(deferred, None)

    def _sender_of(self, context: grpc.aio.ServicerContext) -> NodeId | None:
        sender = _metadata(context).get(SENDER_ID_KEY, "")
        if sender in self.config.peers:
            return NodeId(sender)
        if self.shell.spec.open_membership and sender != self.node_id:
            with contextlib.suppress(ConfigError):  # a joiner: any well-formed id
                return validate_node_id(sender)
        return None

    # ------------------------------------------------------------------ clients
    async def submit(self, command: Any, timeout_s: float | None = None) -> Any:
        """Hand a client command to the core and wait for its answer."""
        if self._halted:
            raise Unavailable(f"node {self.node_id} is stopping")
        self._next_request_id += 1
        request_id = self._next_request_id
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._answers[request_id] = fut
        try:
            self.core.submit(request_id, command)
        except InvalidRequest:
            self._answers.pop(request_id, None)
            raise
        except Exception as e:
            self._answers.pop(request_id, None)
            self.core_failed(e)
            raise Unavailable(f"node {self.node_id} failed") from None
        self._input()
        self._drain()  # proposals arriving while a write is pending share the next fsync
        due = None if timeout_s is None else self._deadlines.add(request_id, timeout_s)
        try:
            return await fut
        finally:
            self._answers.pop(request_id, None)
            if due is not None:
                self._deadlines.discard(request_id, due)

    async def submit_for_rpc(self, context: grpc.aio.ServicerContext,
                             build: Callable[[], Any], default_deadline_s: float) -> Any:
        """What a client-facing servicer does with one request: build the command (a
        malformed request raises InvalidRequest and changes nothing), submit it within
        the caller's deadline, and end the RPC with the mapped status on any error."""
        try:
            command = build()
            remaining = context.time_remaining()
            timeout = default_deadline_s if remaining is None else max(0.0, remaining - 0.01)
            return await self.submit(command, timeout_s=timeout)
        except TimeoutError:
            await abort_with(context, Timeout("no answer before the deadline; the request "
                                              "may still take effect"))
        except ProtocolError as e:
            await abort_with(context, e)
        raise AssertionError("abort_with returned")

    def status(self) -> NodeStatus:
        return self.core.status()


class _Deadlines:
    """When each waiting client command times out, in buckets ``DEADLINE_GRAIN_S`` wide
    with one loop timer per bucket: a timer per command (``call_later``, or
    ``asyncio.wait_for``'s task) cost ~15% of a busy leader. A command times out at most
    one grain before its timeout, never after it."""

    def __init__(self, answers: dict[int, asyncio.Future[Any]]) -> None:
        self._answers = answers  # request id -> its answer, while it waits
        self._buckets: dict[int, set[int]] = {}  # bucket number -> request ids due in it

    def add(self, request_id: int, timeout_s: float) -> int:
        """Fail ``request_id``'s answer with TimeoutError after ``timeout_s``; returns
        its bucket (for ``discard``)."""
        loop = asyncio.get_running_loop()
        due = int((loop.time() + timeout_s) / DEADLINE_GRAIN_S)  # rounded down: not late
        bucket = self._buckets.get(due)
        if bucket is None:
            bucket = self._buckets[due] = set()
            loop.call_at(due * DEADLINE_GRAIN_S, self._expire, due)
        bucket.add(request_id)
        return due

    def discard(self, request_id: int, due: int) -> None:
        """It was answered (or gave up): forget its deadline."""
        bucket = self._buckets.get(due)
        if bucket is not None:
            bucket.discard(request_id)

    def _expire(self, due: int) -> None:
        for request_id in self._buckets.pop(due, ()):
            fut = self._answers.get(request_id)
            if fut is not None and not fut.done():
                fut.set_exception(TimeoutError())


def _timed(save: Callable[[Sequence[Any]], None], records: Sequence[Any]) -> float:
    """Run ``save(records)``; the seconds it took."""
    started = time.perf_counter()
    save(records)
    return time.perf_counter() - started


async def _until_idle(loop: asyncio.AbstractEventLoop, max_turns: int = 256) -> None:
    """Yield to the event loop until no callback waits to run (at most ``max_turns``
    turns, so a loop that is never idle still writes). CPython's loops keep the callbacks
    to run in ``_ready``; a loop without it counts as idle after one turn."""
    await asyncio.sleep(0)
    for _ in range(max_turns):
        if not getattr(loop, "_ready", None):
            return
        await asyncio.sleep(0)


class _Stopping(Exception):
    """Raised inside the task group to cancel every node task on stop."""


class _CoreFailed(Exception):
    """The core raised on a message, or failed earlier, or the node is stopping: it takes
    no input (``NodeHost.core_failed``)."""


def _metadata(context: grpc.aio.ServicerContext) -> dict[str, str]:
    return {k: str(v) for k, v in (context.invocation_metadata() or ())}


def _faults_to_pb(links: list[LinkFaults]) -> list[admin_pb2.LinkFaults]:
    return [admin_pb2.LinkFaults(**{f: getattr(link, f) for f in LinkFaults.__slots__})
            for link in links]


class _AdminServicer(admin_pb2_grpc.AdminServicer):
    """Admin: status, message faults, reachability probes, graceful shutdown."""

    def __init__(self, host: NodeHost) -> None:
        self.host = host

    async def Status(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        info = self.host.status()
        return admin_pb2.NodeStatus(
            node_id=self.host.node_id,
            protocol=self.host.shell.name,
            role=info.role,
            epoch=info.epoch,
            leader_id=info.leader_id,
            pid=os.getpid(),
            uptime_s=time.monotonic() - self.host.started_at,
            details=info.details,
            pings_received=self.host.pings_received,
        )

    async def Load(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            in_flight, seconds, payload_bytes = admin_input.load(request)
        except InvalidRequest as e:
            await abort_with(context, e)
        make = self.host.shell.spec.bench_command
        if make(0, "") is None:
            await context.abort(grpc.StatusCode.UNIMPLEMENTED,
                                f"protocol {self.host.shell.name} has no bench command")
            raise AssertionError("abort() returned")
        return await run_load(self.host, make, in_flight, seconds, "x" * payload_bytes)

    async def SetMessageFaults(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:  # every link is checked before any is set: a bad one changes nothing
            links = admin_input.link_faults(request, self.host.config.peers, self.host.node_id)
            current = self.host.faults.set(links, seed=request.seed or None)
        except InvalidRequest as e:
            await abort_with(context, e)
        log.info("node %s message faults: %s", self.host.node_id, current or "none")
        return admin_pb2.SetMessageFaultsReply(links=_faults_to_pb(current))

    async def ProbePeers(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            peers, count, deadline = admin_input.probe(request, self.host.config.peers,
                                                       self.host.node_id)
        except InvalidRequest as e:
            await abort_with(context, e)
        results = await asyncio.gather(
            *(self._probe(NodeId(p), count, deadline) for p in peers)
        )
        return admin_pb2.ProbeReply(peers=results)

    async def _probe(self, peer: NodeId, count: int, deadline: float | None) -> Any:
        result = admin_pb2.PeerProbe(peer=peer, sent=count)
        rtts: list[float] = []
        for seq in range(count):
            started = time.monotonic()
            try:
                await self.host.transport.call(
                    peer, "/protocols.admin.v1.Probe/Ping",
                    admin_pb2.PingRequest(from_id=self.host.node_id, seq=seq),
                    admin_pb2.PingReply, deadline_s=deadline,
                    metadata=((SENDER_ID_KEY, self.host.node_id),),
                )
            except PeerUnreachable as e:
                result.failed += 1
                result.last_error = e.reason
            else:
                result.ok += 1
                rtts.append((time.monotonic() - started) * 1000)
        result.mean_rtt_ms = sum(rtts) / len(rtts) if rtts else 0.0
        return result

    async def Shutdown(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            admin_input.shutdown_grace(request)  # checked; the host's own grace applies
        except InvalidRequest as e:
            await abort_with(context, e)
        asyncio.get_running_loop().call_later(0.05, self.host.request_stop)
        return admin_pb2.ShutdownReply()


async def run_load(host: NodeHost, make: Callable[[int, str], Any], in_flight: int,
                   seconds: float, payload: str) -> Any:
    """Closed loop: ``in_flight`` workers, each submitting the next command when the last
    one answered, until ``seconds`` pass. Returns an admin_pb2.LoadReply."""
    latencies: list[float] = []
    failed = 0
    last_error = ""
    started = time.monotonic()
    end = started + seconds
    counter = iter(range(1 << 62))

    async def worker() -> None:
        nonlocal failed, last_error
        while time.monotonic() < end:
            t = time.monotonic()
            try:
                await host.submit(make(next(counter), payload), timeout_s=max(0.1, end - t + 5))
            except NotLeader as e:
                failed += 1
                last_error = str(e)
                return  # proposals here cannot succeed: the load is for the leader
            except (ProtocolError, TimeoutError) as e:
                failed += 1
                last_error = str(e) or type(e).__name__
                await asyncio.sleep(0.01)
            else:
                latencies.append(time.monotonic() - t)

    await asyncio.gather(*(worker() for _ in range(in_flight)))
    latencies.sort()
    n = len(latencies)
    return admin_pb2.LoadReply(
        ok=n, failed=failed, elapsed_s=time.monotonic() - started, last_error=last_error,
        p50_ms=latencies[n // 2] * 1000 if n else 0.0,
        p99_ms=latencies[min(n - 1, int(n * 0.99))] * 1000 if n else 0.0,
    )


class _ProbeServicer(admin_pb2_grpc.ProbeServicer):
    """Counts pings per sender, so tests can see exactly what got through."""

    def __init__(self, host: NodeHost) -> None:
        self.host = host

    async def Ping(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        src = request.from_id
        self.host.pings_received[src] = self.host.pings_received.get(src, 0) + 1
        return admin_pb2.PingReply(node_id=self.host.node_id, seq=request.seq)
