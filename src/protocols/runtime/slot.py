"""One core hosted by a node process, and everything that serves it there.

A node process hosts one core per *group* (``NodeHost.slots``): a Raft group of one
range, a SWIM member beside it, a 2PC coordinator and a participant (DESIGN.md,
"Composed systems"). Each core has its own storage, ``Pump`` and ``Inbox``
(``protocols.contract``), its own writes and its own waiting clients; the process
shares its gRPC server, its transport (one stream per peer process) and its ticker.

The slot is the asyncio side of the contract's pump:

* an input (a tick, a peer's message, a reply, a client command) goes to the core, then
  ``drain()`` steps the pump right away, so what needs no write leaves in the same turn;
* a write (WAL append + fsync) runs in ``pump_loop``: one at a time, on the event loop
  once it has nothing else to run, or on the I/O thread while the disk is slow; inputs
  that arrive meanwhile share the next write (group commit);
* messages go onto their peer's stream (``Transport.send``), addressed to this group;
  replies and failures come back as callbacks into the core;
* a client command waits on a future settled by the core's ``Answer``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from google.protobuf.message import DecodeError

from protocols.common.errors import InvalidRequest, ProtocolError, Unavailable
from protocols.common.ids import NodeId
from protocols.contract import (
    Answer,
    Arrival,
    Core,
    Deferred,
    Envelope,
    Inbox,
    NodeStatus,
    Pump,
    PumpActions,
    Storage,
)
from protocols.runtime.shell import ProtocolShell, Route

if TYPE_CHECKING:
    from protocols.runtime.host import NodeHost

__all__ = ["DEADLINE_GRAIN_S", "SLOW_WRITE_S", "CoreFailed", "CoreSlot", "Deadlines"]

log = logging.getLogger("protocols.host")

SLOW_WRITE_S = 0.005  # a WAL write slower than this sends the next ones to the I/O thread
DEADLINE_GRAIN_S = 0.01  # client commands' deadlines share one loop timer per 10 ms
STEPPED_DEADLINE_S = 3600.0  # a request's deadline in step mode, where a timeout is a step


class CoreFailed(Exception):
    """The core raised on an input, or failed earlier, or the node is stopping: it takes
    no input (``NodeHost.core_failed``)."""


class CoreSlot:
    """One core of a node process: ``group`` names it in frames and on disk."""

    def __init__(self, host: NodeHost, group: str, shell: ProtocolShell, core: Core,
                 storage: Storage, *, inline_writes: bool = True) -> None:
        self.host = host
        self.group = group
        self.shell = shell
        self.node_id = host.node_id
        self.core = core
        self.storage = storage
        self.inbox = Inbox(shell.spec.messages)
        self.pump = Pump(core, PumpActions(send=self._send, reply=self.inbox.release,
                                           answer=self._answer, trace=self._trace))
        self.routes_by_type: dict[type[Any], Route] = {r.request_type: r for r in shell.routes}
        self.routes_by_method: dict[str, Route] = {r.method: r for r in shell.routes}
        if len(self.routes_by_method) != len(shell.routes):  # routes on two services
            raise TypeError(f"{shell.name}: two routes share a method name; a peer frame "
                            f"names its route by method alone")
        self.answers: dict[int, asyncio.Future[Any]] = {}
        self.deadlines = Deadlines(self.answers)
        # in step mode (protocols.runtime.stepper) the model's commands are requests 0..k
        self._next_request_id = 0 if host.stepper is None else 1 << 30
        self._wake = asyncio.Event()
        self._io = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="wal")
        self._inline_writes = inline_writes
        self._disk_slow = False  # writes go to self._io while the disk is slow
        self.halted = False  # the core failed, or the slot is going: no input, no output

    # ------------------------------------------------------------------ the pump
    def input(self) -> int:
        """Note that the core took an input; ``drain`` (which every input's handler calls
        once it is done) acts on what it produced. No task switch per input: with a
        hundred cores ticking, waking each one's pump task cost more than the cores."""
        return self.pump.note_input()

    def drain(self) -> None:
        """Step the pump now, right after an input, until it is idle or holds a write
        (``pump_loop`` makes that durable). Called at the end of a handler, once it has
        registered what waits for the output, so the output does not wait a loop turn."""
        try:
            while not self.halted and self.pump.needs_step:
                if self.pump.step() is not None:
                    self._wake.set()
                    return
        except Exception as e:  # a bug in the core (or a message it cannot encode)
            self.failed(e)

    async def durable_after(self, seq: int) -> None:
        """Wait until the output of input ``seq`` has been persisted (and acted on)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def release() -> None:
            if not fut.done():  # the handler may have been cancelled meanwhile
                fut.set_result(None)

        self.pump.after_durable(seq, release)
        await fut

    async def pump_loop(self) -> None:
        """Drive the Pump: one write (WAL write + fsync) at a time; inputs that arrive
        while it is pending go into the next one (group commit)."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            self.drain()
            while (write := self.pump.writing) is not None:
                if self.host.stepper is not None:
                    await self.host.stepper.may_write()  # step mode: a persist step
                await self._persist(write.records)
                if self.halted:  # a failed core's output is never acted on
                    return
                self.host.crash_points.after_durable(self, write.records)  # may crash here
                self.pump.write_done()
                self.drain()

    async def _persist(self, records: Sequence[Any]) -> None:
        """Make ``records`` durable, on the event loop once it has nothing else to run.

        Waiting for the idle loop first lets the messages sent ahead of this write leave
        and lets the requests being handled become input for the next write (group
        commit). Inline, because handing a write to a thread costs more than the fsync:
        both threads want the GIL, and a put waited 0.3-0.8 ms for the hand-offs where
        the fsync took 0.15-0.25 (docs/benchmarks.md, where the time goes). A slow disk
        would stall the loop (heartbeats, reads), so after a write slower than
        ``SLOW_WRITE_S`` the next ones go to the I/O thread until one is fast again."""
        loop = asyncio.get_running_loop()
        await self.host.disk_running.wait()  # a paused disk (Admin.PauseDisk)
        if self._disk_slow or not self._inline_writes:
            took = await loop.run_in_executor(self._io, _timed, self.storage.save, records)
        else:
            await until_idle(loop)
            took = _timed(self.storage.save, records)
        self._disk_slow = took > SLOW_WRITE_S

    def close(self) -> None:
        """Stop: clients still waiting hear Unavailable; a write under way completes
        before the storage closes."""
        self.halted = True
        for fut in self.answers.values():
            if not fut.done():
                fut.set_exception(Unavailable(f"node {self.node_id} is shutting down"))
        self.answers.clear()
        self._io.shutdown(wait=True)
        self.storage.close()

    def failed(self, error: Exception) -> None:
        """A bug in the core: it is stepped no more, and the node stops (fail-stop)."""
        self.halted = True
        self.host.core_failed(error)

    # ------------------------------------------------------------------ time
    def tick(self) -> None:
        if self.halted:
            return
        try:
            self.core.tick()
        except Exception as e:
            self.failed(e)
            return
        self.input()
        self.drain()

    def status(self) -> NodeStatus:
        return self.core.status()

    # ------------------------------------------------------------------ peers: sending
    def _send(self, envelope: Envelope) -> None:
        """Put one message on its peer's stream; its reply (or failure) comes back as a
        callback into the core (``_replied``), with no task of its own."""
        route = self.routes_by_type.get(type(envelope.msg))
        if route is None:
            raise TypeError(f"{self.shell.name}: no route for {type(envelope.msg).__name__}")
        transport = self.host.transport
        if envelope.address:  # the core knows where dst listens: the book grows
            transport.set_address(envelope.dst, self.host.dial_address(envelope.address))
        elif envelope.dst not in transport.peers:  # nowhere to send it: lost
            if self.host.stepper is None:  # (in step mode its timeout is a step)
                asyncio.get_running_loop().call_soon(self._send_failed, envelope, route)
            return
        if not self.host.crash_points.before_send(self, envelope.msg):
            return  # a crash point fired: the process is gone, nothing leaves
        events = self.host.events
        mid, clock = events.send(envelope.dst, route.method) if events else ("", None)
        body = route.encode(envelope.msg).SerializeToString()
        deadline_ms = self.shell.spec.messages.deadline_ms(
            envelope.msg, self.host.config.rpc_deadline_ms, envelope)
        if self.host.stepper is None:
            on_reply, on_failure = self._callbacks(envelope, route)
        else:  # step mode: a reply waits for a step, and a timeout is one
            on_reply, on_failure = self._stepped(envelope, route, body)
            deadline_ms = STEPPED_DEADLINE_S * 1000
        transport.send(
            envelope.dst, route.method, body, one_way=route.one_way,
            on_reply=on_reply, on_failure=on_failure,
            metadata=self.host.sender_metadata, clock=clock, mid=mid,
            deadline_s=deadline_ms / 1000, group=self.group)

    def _callbacks(self, envelope: Envelope, route: Route
                   ) -> tuple[Callable[[Any], None], Callable[[Any], None]]:
        """A request's reply and failure, into the core."""
        def on_reply(frame: Any) -> None:
            self._replied(envelope, route, frame)

        def on_failure(_: Any) -> None:
            self._send_failed(envelope, route)

        return on_reply, on_failure

    def _stepped(self, envelope: Envelope, route: Route, body: bytes
                 ) -> tuple[Callable[[Any], None], Callable[[Any], None]]:
        """Step mode (``protocols.runtime.stepper``): the request is outstanding until
        a step delivers its reply or times it out; the transport's failures are silent."""
        stepper = self.host.stepper
        assert stepper is not None
        sid = 0 if route.one_way else stepper.sent(
            envelope.dst, route.method, body, lambda: self._send_failed(envelope, route))

        def on_reply(frame: Any) -> None:
            stepper.replied(sid, envelope.dst, route.method, frame.body,
                            lambda: self._replied(envelope, route, frame))

        return on_reply, _ignore

    def _replied(self, envelope: Envelope, route: Route, frame: Any) -> None:
        """A reply frame for ``envelope``: decode it and give it to the core."""
        if route.reply_type is None or self.halted:
            return
        if self.host.events is not None:
            self.host.events.recv(envelope.dst, route.reply_type.__name__, frame.mid,
                                  frame.clock)
        try:
            reply = route.decode(route.reply_pb.FromString(frame.body), reply=True)
        except (InvalidRequest, DecodeError):  # a malformed reply: as if none came
            self._send_failed(envelope, route)
            return
        except Exception as e:  # the codec's own bug (a plan mismatch): fail-stop
            self.failed(e)
            return
        try:
            self.core.on_reply(envelope.dst, envelope.msg, reply)
        except Exception as e:  # a bug in the core: fail-stop
            self.failed(e)
            return
        self.input()
        self.drain()

    def _send_failed(self, envelope: Envelope, route: Route) -> None:
        if route.one_way or self.halted:  # one-way: nothing to say
            return
        try:
            self.core.on_send_failed(envelope.dst, envelope.msg)
        except Exception as e:  # a bug in the core: fail-stop
            self.failed(e)
            return
        self.input()
        self.drain()

    # ------------------------------------------------------------------ peers: receiving
    def receive(self, src: NodeId, msg: Any, respond: Callable[[Any], None]
                ) -> Arrival | Deferred:
        """Hand a peer's message to the core through the inbox (``Inbox.receive``).
        InvalidRequest if it refused it; CoreFailed (the node is stopping) on a bug."""
        if self.halted:
            raise CoreFailed()
        try:
            arrival = self.inbox.receive(self.pump, src, msg, respond)
        except Exception as e:
            if not isinstance(e, InvalidRequest):
                self.failed(e)
                raise CoreFailed() from e
            raise
        return arrival

    # ------------------------------------------------------------------ clients
    async def submit(self, command: Any, timeout_s: float | None = None) -> Any:
        """Hand a client command to the core and wait for its answer."""
        if self.halted:
            raise Unavailable(f"node {self.node_id} is stopping")
        self._next_request_id += 1
        request_id = self._next_request_id
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.answers[request_id] = fut
        try:
            self.core.submit(request_id, command)
        except ProtocolError:
            self.answers.pop(request_id, None)
            raise
        except Exception as e:
            self.answers.pop(request_id, None)
            self.failed(e)
            raise Unavailable(f"node {self.node_id} failed") from None
        self.input()
        self.drain()  # proposals arriving while a write is pending share the next fsync
        due = None if timeout_s is None else self.deadlines.add(request_id, timeout_s)
        try:
            return await fut
        finally:
            self.answers.pop(request_id, None)
            if due is not None:
                self.deadlines.discard(request_id, due)

    def _answer(self, answer: Answer) -> None:
        fut = self.answers.pop(answer.request_id, None)
        if fut is None or fut.done():
            return
        if answer.error is not None:
            fut.set_exception(answer.error)
        else:
            fut.set_result(answer.result)

    def _trace(self, line: str) -> None:
        log.debug("%s %s", self.node_id, line)
        if self.host.events is not None:  # the event log keeps it for checkers
            self.host.events.note(line)


class Deadlines:
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


def _ignore(_: Any) -> None:
    """Step mode: a transport failure is not reported (a timeout is a step)."""


def _timed(save: Callable[[Sequence[Any]], None], records: Sequence[Any]) -> float:
    """Run ``save(records)``; the seconds it took."""
    started = time.perf_counter()
    save(records)
    return time.perf_counter() - started


async def until_idle(loop: asyncio.AbstractEventLoop, max_turns: int = 256) -> None:
    """Yield to the event loop until no callback waits to run (at most ``max_turns``
    turns, so a loop that is never idle still writes).

    CPython's event loops keep the callbacks ready to run in ``_ready``, a private
    attribute: ``tests/runtime/test_host_contract.py`` fails if a Python release drops
    it, and without it the write would go after one turn (correct, with less group
    commit)."""
    await asyncio.sleep(0)
    for _ in range(max_turns):
        if not getattr(loop, "_ready", None):
            return
        await asyncio.sleep(0)
