"""The deterministic simulator: one thread, integer time, one seed replays one run.

A ``World`` drives the *same* protocol cores the gRPC nodes run, through the same
``protocols.contract.Pump`` (persist -> send -> apply -> answer). Everything that varies
comes from named random streams derived from one seed — ``network``, ``nemesis``,
``workload`` and one per node (``node/<id>/<incarnation>``) — so one extra draw in one
stream never reshuffles another.

Time is an integer (simulated milliseconds). Events sit in a heap ordered by
(time, sequence number); each node ticks every ``tick_ms`` with a per-node phase.
Peer messages follow their declared kind (``ProtocolSpec.messages``):

* ``Rpc``: request delivered -> ``dst.on_message`` -> dst's outbox pumped; the reply
  leaves only once dst made durable what produced it -> ``src.on_reply``. A deferred
  reply leaves when dst's core emits it. A request or reply that is lost, meets a
  crashed node, or is not answered within ``rpc_timeout_ms`` surfaces at the sender as
  ``on_send_failed`` after ``rpc_timeout_ms`` — what the host's deadline does.
* ``OneWay``: delivered (or lost); the sender hears nothing either way.

A core that raises ``InvalidRequest`` on a message refused it and changed nothing: the
sender hears nothing back (as on real processes). A client command it refuses (any
``ProtocolError`` from ``submit``) is answered with that error, as the host answers it.
Any other exception is a bug: it fails the run at once (a real node stops, exit code 4).

Invariant hooks run after *every* event; the first failure stops the run with the seed,
the event number and the command that replays it.

Public API (what scenario tests use)::

    w = World(adapter, nodes=5, seed=7)
    w.run_for(1000)                       # simulated ms
    w.run_until(lambda: w.leader() is not None, max_ms=5000)
    rid = w.submit("n1", command)         # -> request id; w.answers[rid] once answered
    w.partition([["n1"], ["n2", "n3"]]); w.cut("n1", "n2"); w.heal()
    w.crash("n2"); w.restart("n2"); w.stall("n3", 500); w.slow("n4", 300)
    w.restart("n2", address="n2:7947")   # back on another address (membership protocols)
    w.network.config = UNRELIABLE
    w.rpc_count, w.rpc_bytes, w.trace_hash()
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import random
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from protocols.common.errors import InvalidRequest, ProtocolError
from protocols.common.ids import NodeId, node_ids
from protocols.contract import (
    Answer,
    Core,
    Deferred,
    Envelope,
    Inbox,
    NodeContext,
    NodeStatus,
    OneWay,
    Pump,
    PumpActions,
    Storage,
    Write,
)
from protocols.sim.api import SimAdapter
from protocols.sim.disk import SimFileSystem
from protocols.sim.network import RELIABLE, Network, NetworkConfig

__all__ = ["SimNode", "SimulationFailure", "World"]

SIM_PORT = 7946  # every node listens on "<id>:7946" (memberlist's port), until it moves


class SimulationFailure(AssertionError):
    """An invariant failed (or a core raised): says how to replay the run."""

    def __init__(self, message: str, seed: int, event: int, time_ms: int,
                 replay: str) -> None:
        self.seed, self.event, self.time_ms, self.replay = seed, event, time_ms, replay
        super().__init__(f"{message}\n  at event {event}, t={time_ms} ms, seed {seed}\n"
                         f"  replay: {replay}")


@dataclass(slots=True)
class _Request:
    """A request a node is answering, kept until its reply leaves."""

    src: NodeId
    src_incarnation: int
    msg: Any
    rpc: int
    sent_to: NodeId  # the name the sender used (an address, for a joiner's seed)


@dataclass(slots=True)
class SimNode:
    node_id: NodeId
    fs: SimFileSystem
    address: str = ""  # where it listens: "<id>:7946" unless it moved (restart(address=))
    core: Core | None = None
    storage: Storage | None = None
    pump: Pump | None = None
    up: bool = False
    incarnation: int = 0
    stalled_until: int = 0  # a paused process (SIGSTOP) takes no input before this time
    applied: list[Any] = field(default_factory=list)
    inbox: Inbox | None = None  # the deferred replies it owes (protocols.contract.Inbox)


class World:
    def __init__(
        self,
        adapter: SimAdapter,
        nodes: int = 3,
        seed: int = 0,
        *,
        options: Mapping[str, Any] | None = None,
        network: NetworkConfig = RELIABLE,
        tick_ms: int = 10,
        rpc_timeout_ms: int | None = None,
        torn_writes: bool = False,
        disk_latency_ms: int = 0,
        replay_hint: str = "",
        event_log: bool = False,
    ) -> None:
        self.adapter = adapter
        self.spec = adapter.spec
        self.seed = seed
        self.options = dict(options or {})
        self.spec.check_options(self.options, nodes)
        self.ids = node_ids(nodes)
        self.tick_ms = tick_ms
        # the driver's deadline of every request; the protocol's own by default (a SWIM
        # ping-req waits most of a protocol period for its deferred answer)
        self.rpc_timeout_ms = rpc_timeout_ms or adapter.rpc_timeout_ms
        # a crash keeps a random prefix of the unsynced bytes, and of a write under way
        # (disk_latency_ms > 0): any prefix of a batch, torn at a byte the WAL cuts back
        self.torn_writes = torn_writes
        # > 0: a write takes this long, the node keeps running meanwhile (group commit),
        # messages marked ahead_of_persist leave at once, replies wait for the write, and
        # a crash before it completes loses it - the asyncio host's pump, step by step
        self.disk_latency_ms = disk_latency_ms
        self.replay_hint = replay_hint or f"scripts/sim --protocol {adapter.name} --seed {seed}"
        self.now = 0
        self.events = 0
        self.network = Network(network, self.rng("network"))
        self.nodes = {n: SimNode(n, SimFileSystem(), f"{n}:{SIM_PORT}") for n in self.ids}
        self._listening = {node.address: n for n, node in self.nodes.items()}
        self.answers: dict[Any, Answer] = {}
        self.answer_hooks: list[Callable[[Answer], None]] = []
        self.invariants: list[Callable[[World], None]] = list(adapter.invariants())
        self.rpc_count: Counter[str] = Counter()
        self.rpc_bytes: Counter[str] = Counter()
        self._queue: list[tuple[int, int, str, tuple[Any, ...]]] = []
        self._seq = itertools.count()
        self._rpc_ids = itertools.count()
        self._rpc_done: set[int] = set()
        self._request_ids = itertools.count(1)
        self._trace = hashlib.sha256()
        self.trace_lines: list[str] | None = None
        # the same event log the host writes (protocols.runtime.eventlog), in simulated
        # seconds: for space-time diagrams of a simulated run
        self.event_log: list[dict[str, Any]] | None = [] if event_log else None
        self._clocks: dict[str, dict[str, int]] = {}
        self._last_state: dict[str, tuple[str, int]] = {}
        self._pending_clock: dict[Any, dict[str, int]] = {}  # rpc -> the sender's stamp
        phase_rng = self.rng("phases")
        for n in self.ids:
            self._start_node(n, first_tick=phase_rng.randrange(tick_ms) + 1)

    # ------------------------------------------------------------------ randomness, time
    def clock(self) -> float:
        """The simulated monotonic clock every node reads, in seconds."""
        return self.now / 1000

    def rng(self, stream: str) -> random.Random:
        """A random stream of its own for ``stream``, derived from the seed."""
        return random.Random(f"{self.seed}/{stream}")

    # ------------------------------------------------------------------ scheduling
    def schedule(self, delay_ms: int, kind: str, *args: Any) -> None:
        heapq.heappush(self._queue, (self.now + max(0, delay_ms), next(self._seq), kind, args))

    def step(self) -> bool:
        """Run one event; False if there is none."""
        if not self._queue:
            return False
        time_ms, _, kind, args = heapq.heappop(self._queue)
        self.now = time_ms
        self.events += 1
        try:
            getattr(self, f"_on_{kind}")(*args)
            for check in self.invariants:
                check(self)
        except SimulationFailure:
            raise
        except Exception as e:
            raise SimulationFailure(f"{type(e).__name__}: {e}", self.seed, self.events,
                                    self.now, self.replay_hint) from e
        return True

    def run_for(self, duration_ms: int) -> None:
        end = self.now + duration_ms
        while self._queue and self._queue[0][0] <= end:
            self.step()
        self.now = max(self.now, end)

    def run_until(self, predicate: Callable[[], Any], max_ms: int) -> Any:
        """Run until ``predicate()`` is truthy (checked after every event); return it.
        Raises SimulationFailure if it does not hold within ``max_ms``."""
        end = self.now + max_ms
        while True:
            value = predicate()
            if value:
                return value
            if not self._queue or self._queue[0][0] > end:
                raise SimulationFailure(f"condition not met within {max_ms} ms",
                                        self.seed, self.events, self.now, self.replay_hint)
            self.step()

    # ------------------------------------------------------------------ tracing
    def trace(self, line: str) -> None:
        text = f"{self.now} {line}"
        self._trace.update(text.encode() + b"\n")
        if self.trace_lines is not None:
            self.trace_lines.append(text)

    def trace_hash(self) -> str:
        return self._trace.hexdigest()[:16]

    def _event(self, node: str, kind: str, **fields: Any) -> None:
        """Record one event of the space-time log (only with ``event_log`` on)."""
        if self.event_log is None:
            return
        if kind in ("send", "recv"):
            clock = self._clocks.setdefault(node, {})
            for k, v in fields.pop("merge", {}).items():
                clock[k] = max(clock.get(k, 0), v)
            clock[node] = clock.get(node, 0) + 1
            fields["vc"] = dict(clock)
        self.event_log.append({"t": self.now / 1000, "node": node, "kind": kind, **fields})

    def _stamp(self, src: str, dst: str, msg: Any, mid: str) -> dict[str, int]:
        self._event(src, "send", peer=dst, msg=type(msg).__name__, mid=mid)
        return dict(self._clocks.get(src, {}))

    def _received(self, node: str, src: str, msg: Any, mid: str, clock: dict[str, int]
                  ) -> None:
        self._event(node, "recv", peer=src, msg=type(msg).__name__, mid=mid, merge=clock)

    # ------------------------------------------------------------------ nodes
    def _start_node(self, n: NodeId, first_tick: int) -> None:
        node = self.nodes[n]
        node.incarnation += 1
        parts = self.spec.create_node(NodeContext(
            n, tuple(p for p in self.ids if p != n), node.fs, f"/data/{n}",
            self.rng(f"node/{n}/{node.incarnation}"), self.clock, self.options,
            self.tick_ms / 1000, node.address,
            {p: self.nodes[p].address for p in self.ids if p != n}))
        node.core, node.storage, node.up = parts.core, parts.storage, True
        node.inbox = inbox = Inbox(self.spec.messages)
        node.pump = Pump(parts.core, PumpActions(
            send=lambda env: self._send(n, env),
            reply=inbox.release,
            apply=lambda entry: self._applied(n, entry),
            answer=self._answered,
            trace=lambda line: self.trace(f"{n} {line}")))
        node.stalled_until = 0
        self.trace(f"start {n} incarnation {node.incarnation}")
        self._event(n, "start")
        self.schedule(first_tick, "tick", n, node.incarnation)

    def core(self, n: str) -> Core:
        node = self.nodes[NodeId(n)]
        if node.core is None or not node.up:
            raise ValueError(f"node {n} is down")
        return node.core

    def status(self, n: str) -> NodeStatus | None:
        node = self.nodes[NodeId(n)]
        return node.core.status() if node.up and node.core is not None else None

    def up_nodes(self) -> list[NodeId]:
        return [n for n in self.ids if self.nodes[n].up]

    def leader(self) -> NodeId | None:
        """The up node that says it leads with the highest epoch, if any."""
        best: tuple[int, NodeId] | None = None
        for n in self.up_nodes():
            st = self.status(n)
            if st is not None and st.leading and (best is None or st.epoch > best[0]):
                best = (st.epoch, n)
        return best[1] if best else None

    def crash(self, n: str) -> None:
        """Power cut: the process and every unsynced byte are gone."""
        node = self.nodes[NodeId(n)]
        if not node.up:
            return
        if self.torn_writes and node.pump is not None and node.pump.writing is not None:
            assert node.storage is not None  # its write was under way: part of it may
            with node.fs.fsyncs_held():  # reach the disk (the WAL keeps whole records)
                node.storage.save(node.pump.writing.records)
        node.up, node.core, node.storage, node.pump = False, None, None, None
        node.inbox = None  # the deferred replies it owed die with it
        lost = node.fs.crash(self.rng(f"disk/{n}/{node.incarnation}"), self.torn_writes)
        self.trace(f"crash {n} (lost {lost} unsynced bytes)")
        self._event(n, "stop")

    def restart(self, n: str, address: str | None = None) -> None:
        """Start a crashed node from what its disk kept; listening on ``address`` if
        given (a process restarted on another port): its old address reaches nobody."""
        node = self.nodes[NodeId(n)]
        if node.up:
            return
        if address is not None and address != node.address:
            if address in self._listening:
                raise ValueError(f"{address} is already {self._listening[address]}'s address")
            del self._listening[node.address]
            node.address, self._listening[address] = address, node.node_id
            self.trace(f"{n} moves to {address}")
        self._start_node(NodeId(n), first_tick=self.tick_ms)

    def stall(self, n: str, duration_ms: int) -> None:
        """Pause node n (SIGSTOP, a long GC, CPU starvation) for ``duration_ms``: it takes
        no input meanwhile; messages for it wait in the network (TCP buffers them) and
        the ticks it misses are skipped, as the host's ticker skips them."""
        node = self.nodes[NodeId(n)]
        if node.up:
            node.stalled_until = max(node.stalled_until, self.now + duration_ms)
            self.trace(f"stall {n} until {node.stalled_until}")

    def slow(self, n: str, extra_ms: int) -> None:
        """Every message node n receives or sends takes ``extra_ms`` longer while its
        ticks run on: a CPU-starved process. ``heal()`` ends it."""
        self.network.slow[n] = extra_ms
        self.trace(f"slow {n} by {extra_ms} ms")

    def _stalled(self, n: NodeId, kind: str, *args: Any) -> bool:
        """If n is paused, put this event back until it resumes (ticks are dropped)."""
        until = self.nodes[n].stalled_until
        if until <= self.now:
            return False
        if kind != "tick":
            heapq.heappush(self._queue, (until, next(self._seq), kind, args))
        return True

    # ------------------------------------------------------------------ network faults
    def partition(self, groups: list[list[str]]) -> None:
        self.network.partition(groups, list(self.ids))
        self.trace(f"partition {groups}")

    def cut(self, src: str, dst: str) -> None:
        self.network.cut.add((src, dst))
        self.trace(f"cut {src}->{dst}")

    def disconnect(self, n: str) -> None:
        """MIT's disconnect: n can neither reach nor be reached."""
        for other in self.ids:
            if other != n:
                self.network.cut |= {(n, other), (other, n)}
        self.trace(f"disconnect {n}")

    def connect(self, n: str) -> None:
        self.network.cut = {(a, b) for a, b in self.network.cut if n not in (a, b)}
        self.trace(f"connect {n}")

    def heal(self) -> None:
        self.network.heal()
        self.trace("heal")

    # ------------------------------------------------------------------ clients
    def submit(self, n: str, command: Any, request_id: Any = None) -> Any:
        """Hand ``command`` to node n's core now; the answer lands in ``answers``."""
        rid = request_id if request_id is not None else next(self._request_ids)
        node = self.nodes[NodeId(n)]
        self.trace(f"submit {n} {rid} {command!r}")
        if not node.up or node.core is None:
            return rid  # a down node never answers: the client times out
        if node.stalled_until > self.now:
            self.at(node.stalled_until - self.now, lambda: self._submit_now(node, rid, command))
            return rid
        self._submit_now(node, rid, command)
        return rid

    def _submit_now(self, node: SimNode, rid: Any, command: Any) -> None:
        if node.up and node.core is not None:
            try:
                node.core.submit(rid, command)
            except ProtocolError as e:  # refused, nothing changed: the client hears why,
                self._answered(Answer(rid, error=e))  # as the host answers it
                return
            self._input(node.node_id)

    # ------------------------------------------------------------------ the pump
    def _input(self, n: NodeId) -> int:
        """The core of n took an input: note it and drive n's pump."""
        pump = self.nodes[n].pump
        assert pump is not None
        seq = pump.note_input()
        self._drive(n)
        return seq

    def _drive(self, n: NodeId) -> None:
        node = self.nodes[n]
        pump, storage = node.pump, node.storage
        assert pump is not None and storage is not None
        if not self.disk_latency_ms:
            pump.run_sync(storage.save)
            return
        while pump.needs_step:
            write = pump.step()
            if write is not None:
                self.schedule(self.disk_latency_ms, "disk_done", n, node.incarnation, write)
                return

    def _on_disk_done(self, n: NodeId, incarnation: int, write: Write) -> None:
        if not self._alive(n, incarnation):
            return  # the node crashed while writing: the write is lost
        node = self.nodes[n]
        assert node.storage is not None and node.pump is not None
        node.storage.save(write.records)
        node.pump.write_done()
        self._drive(n)

    # ------------------------------------------------------------------ event handlers
    def _alive(self, n: NodeId, incarnation: int) -> bool:
        node = self.nodes[n]
        return node.up and node.incarnation == incarnation

    def _on_tick(self, n: NodeId, incarnation: int) -> None:
        if not self._alive(n, incarnation):
            return
        if not self._stalled(n, "tick"):
            self.core(n).tick()
            self._input(n)
            if self.event_log is not None:
                self._sample_state(n)
        self.schedule(self.tick_ms, "tick", n, incarnation)

    def _sample_state(self, n: NodeId) -> None:
        st = self.core(n).status()
        last = self._last_state.get(n)
        if last != (st.role, st.epoch):
            self._last_state[n] = (st.role, st.epoch)
            self._event(n, "state", role=st.role, epoch=st.epoch)

    def _applied(self, n: NodeId, entry: Any) -> None:
        self.nodes[n].applied.append(entry)

    def _answered(self, answer: Answer) -> None:
        self.answers[answer.request_id] = answer
        self.trace(f"answer {answer.request_id} {answer.result!r} {answer.error!r}")
        for hook in self.answer_hooks:
            hook(answer)

    def _send(self, src: NodeId, env: Envelope) -> None:
        kind = type(env.msg).__name__
        one_way = isinstance(self.spec.messages.kind_of(env.msg), OneWay)
        self.rpc_count[kind] += 1
        self.rpc_bytes[kind] += self.spec.message_size(env.msg)
        rpc = next(self._rpc_ids)
        incarnation = self.nodes[src].incarnation
        to = self._route(env)
        delays = self.network.request_delays(src, to) if to is not None else []
        where = "" if to == env.dst else f" (reaches {to or 'nobody'})"
        self.trace(f"send {src}->{env.dst}{where} #{rpc} {kind} delays={delays}")
        if self.event_log is not None:
            self._pending_clock[rpc] = self._stamp(src, env.dst, env.msg, f"{src}:{rpc}")
        for delay in delays:
            self.schedule(delay, "request", src, incarnation, to, env.msg, rpc, env.dst)
        if not one_way:
            self.schedule(self._deadline_ms(env.msg), "rpc_timeout", src, incarnation, env.dst,
                          env.msg, rpc)

    def _route(self, env: Envelope) -> NodeId | None:
        """The node a message reaches: whoever listens at ``env.address`` when the core
        named one, else the node called ``env.dst``; None if nobody (the message is lost)."""
        if env.address:
            return self._listening.get(env.address)
        return env.dst if env.dst in self.nodes else None

    def _on_request(self, src: NodeId, src_inc: int, dst: NodeId, msg: Any, rpc: int,
                    sent_to: NodeId) -> None:
        node = self.nodes[dst]
        if not node.up or node.core is None:
            return  # lost; a request's sender times out
        if self._stalled(dst, "request", src, src_inc, dst, msg, rpc, sent_to):
            return
        pump, inbox = node.pump, node.inbox
        assert pump is not None and inbox is not None
        request = _Request(src, src_inc, msg, rpc, sent_to)
        try:
            arrival = inbox.receive(pump, src, msg, lambda reply: self._reply(dst, request, reply))
        except InvalidRequest as e:  # bad input: refused, nothing changed (as the host does)
            self.trace(f"{dst} refused #{rpc}: {e}")
            self._drive(dst)
            return  # no reply: the sender times out
        if self.event_log is not None:
            self._received(dst, src, msg, f"{src}:{rpc}", self._pending_clock.get(rpc, {}))
        if isinstance(arrival, Deferred):  # owed until the sender's deadline, then lost
            self.schedule(self._deadline_ms(msg), "deferred_expired", dst, node.incarnation,
                          arrival)
        self._drive(dst)

    def _deadline_ms(self, msg: Any) -> int:
        """How long the sender of ``msg`` waits for its reply (its Rpc's own deadline)."""
        return int(self.spec.messages.deadline_ms(msg, self.rpc_timeout_ms))

    def _on_deferred_expired(self, n: NodeId, incarnation: int, deferred: Deferred) -> None:
        inbox = self.nodes[n].inbox
        if self._alive(n, incarnation) and inbox is not None:
            inbox.expire(deferred)

    def _reply(self, dst: NodeId, request: _Request, reply: Any) -> None:
        delay = self.network.reply_delay(request.src, dst)
        self.trace(f"reply {dst}->{request.src} #{request.rpc} {type(reply).__name__} "
                   f"delay={delay}")
        if self.event_log is not None:
            self._pending_clock[("r", request.rpc)] = self._stamp(
                dst, request.src, reply, f"{request.sent_to}:r{request.rpc}")
        if delay is not None:
            self.schedule(delay, "reply", request.src, request.src_incarnation,
                          request.sent_to, request.msg, reply, request.rpc)

    def _on_reply(self, src: NodeId, src_inc: int, dst: NodeId, msg: Any, reply: Any,
                  rpc: int) -> None:
        if rpc in self._rpc_done or not self._alive(src, src_inc):
            return  # a duplicate reply, or the sender restarted since
        if self._stalled(src, "reply", src, src_inc, dst, msg, reply, rpc):
            return
        self._rpc_done.add(rpc)
        if self.event_log is not None:
            self._received(src, dst, reply, f"{dst}:r{rpc}",
                           self._pending_clock.get(("r", rpc), {}))
        self.core(src).on_reply(dst, msg, reply)
        self._input(src)

    def _on_rpc_timeout(self, src: NodeId, src_inc: int, dst: NodeId, msg: Any,
                        rpc: int) -> None:
        if rpc in self._rpc_done:
            return
        if self._alive(src, src_inc) and self._stalled(src, "rpc_timeout", src, src_inc, dst,
                                                       msg, rpc):
            return
        self._rpc_done.add(rpc)
        if self._alive(src, src_inc):
            self.core(src).on_send_failed(dst, msg)
            self._input(src)

    def _on_call(self, fn: Callable[[], None]) -> None:
        fn()

    def at(self, delay_ms: int, fn: Callable[[], None]) -> None:
        """Run ``fn`` at now + delay (nemesis schedules and workload clients use this)."""
        self.schedule(delay_ms, "call", fn)
