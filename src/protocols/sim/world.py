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
from dataclasses import dataclass, field, replace
from typing import Any

from protocols.common.crashpoints import CrashPoint
from protocols.common.errors import InvalidRequest, ProtocolError
from protocols.common.ids import NodeId, node_ids, validate_node_id
from protocols.contract import (
    Answer,
    Core,
    Deferred,
    Envelope,
    Inbox,
    NodeContext,
    NodeStatus,
    OneWay,
    ProtocolSpec,
    Pump,
    PumpActions,
    Storage,
    Write,
    check_assignment,
    node_options,
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
    group: str = ""


@dataclass(frozen=True, slots=True)
class Group:
    """A group of cores: one per member node, all of ``spec``'s protocol (a Raft group
    of one range, a SWIM membership beside it ...). Group "" is the world's own."""

    name: str
    spec: ProtocolSpec
    members: tuple[NodeId, ...]
    options: Mapping[str, Any]


@dataclass(slots=True)
class SimSlot:
    """One core hosted by a simulated node process, with its storage, pump and inbox
    (the host's ``CoreSlot``)."""

    group: str
    core: Core
    storage: Storage
    pump: Pump
    inbox: Inbox  # the deferred replies it owes (protocols.contract.Inbox)


@dataclass(slots=True)
class SimNode:
    """A simulated node process: one core per group it hosts, one disk, one address."""

    node_id: NodeId
    fs: SimFileSystem
    address: str = ""  # where it listens: "<id>:7946" unless it moved (restart(address=))
    slots: dict[str, SimSlot] = field(default_factory=dict)
    up: bool = False
    incarnation: int = 0
    stalled_until: int = 0  # a paused process (SIGSTOP) takes no input before this time
    disk_paused_until: int = 0  # a write started before this completes only then
    applied: list[Any] = field(default_factory=list)
    crash_points: list[tuple[CrashPoint, str | None]] = field(default_factory=list)

    # the core of the world's own protocol (group ""), its storage, pump and inbox: None
    # while the node is down (plain fields, kept by the World: invariants read them
    # after every event)
    core: Core | None = None
    storage: Storage | None = None
    pump: Pump | None = None
    inbox: Inbox | None = None

    def slot(self, group: str = "") -> SimSlot | None:
        return self.slots.get(group) if self.up else None


@dataclass(frozen=True, slots=True)
class MessageHook:
    """A message hook: what happens to messages of type ``message`` (a request's or a
    one-way message's class name) on the links it names ("*": any node)."""

    message: str
    action: str  # "drop", "drop_reply", "duplicate" or "delay"
    src: str = "*"
    dst: str = "*"
    delay_ms: int = 0

    def matches(self, src: str, dst: str, msg: Any) -> bool:
        return (type(msg).__name__ == self.message and self.src in ("*", src)
                and self.dst in ("*", dst))


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
        roles: Mapping[str, str] | None = None,
        node_options: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> None:
        self.adapter = adapter
        self.spec = adapter.spec
        self.seed = seed
        self.options = dict(options or {})
        check_assignment(self.spec, node_ids(nodes), self.options, roles, node_options)
        # each node's configured role and own options (NodeContext.role / .options)
        self.roles = {NodeId(n): r for n, r in (roles or {}).items() if r}
        self.node_options = {NodeId(n): dict(o) for n, o in (node_options or {}).items()}
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
        self.groups: dict[str, Group] = {"": Group("", self.spec, tuple(self.ids),
                                                   self.options)}
        self.hooks: list[MessageHook] = []
        self.hook_hits: Counter[MessageHook] = Counter()  # messages each hook acted on
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
        self._clock_skew: dict[str, tuple[float, int, float]] = {}  # set_clock
        self._last_state: dict[str, tuple[str, int]] = {}
        self._pending_clock: dict[Any, dict[str, int]] = {}  # rpc -> the sender's stamp
        phase_rng = self.rng("phases")
        for n in self.ids:
            self._start_node(n, first_tick=phase_rng.randrange(tick_ms) + 1)

    # ------------------------------------------------------------------ randomness, time
    def clock(self) -> float:
        """The simulated monotonic clock every node reads, in seconds."""
        return self.now / 1000

    def node_clock(self, n: str) -> float:
        """The clock node n reads (``NodeContext.clock``): the simulated one, unless
        ``set_clock`` made it jump or drift."""
        if (skew := self._clock_skew.get(n)) is None:
            return self.clock()
        reading, since, rate = skew
        return reading + (self.now - since) / 1000 * rate

    def set_clock(self, n: str, *, jump_ms: int = 0, rate: float = 1.0) -> None:
        """Node n's clock jumps by ``jump_ms`` (negative: back; an NTP step, a VM restored
        from a snapshot) and from now on runs at ``rate`` times real time (a drifting
        oscillator). Its ticks still come every ``tick_ms``: only what it reads moves."""
        reading = self.node_clock(n) + jump_ms / 1000
        self._clock_skew[n] = (reading, self.now, rate)
        self.trace(f"clock {n} jump {jump_ms:+d} ms rate {rate}")

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

    def wait(self, predicate: Callable[[], Any], max_ms: int) -> Any:
        """Run until ``predicate()`` is truthy and return it; after ``max_ms`` return
        None (a client's timeout, where ``run_until`` fails the run)."""
        end = self.now + max_ms
        while not (value := predicate()):
            if not self._queue or self._queue[0][0] > end:
                self.run_for(end - self.now)
                return None
            self.step()
        return value

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
        node.up, node.stalled_until, node.slots = True, 0, {}
        for group in self.groups.values():
            if n in group.members:
                self._start_slot(node, group)
        self.trace(f"start {n} incarnation {node.incarnation}")
        self._event(n, "start")
        self.schedule(first_tick, "tick", n, node.incarnation)

    def _start_slot(self, node: SimNode, group: Group) -> None:
        """Build node's core of ``group`` from what its disk holds (its own directory)."""
        n, g, incarnation = node.node_id, group.name, node.incarnation
        data_dir = f"/data/{n}" if not g else f"/data/{n}/groups/{g}"
        stream = f"node/{n}/{incarnation}" if not g else f"node/{n}/{g}/{incarnation}"
        parts = group.spec.create_node(NodeContext(
            n, tuple(p for p in group.members if p != n), node.fs, data_dir,
            self.rng(stream), lambda: self.node_clock(n),
            node_options(group.options, self.node_options.get(n)) if not g else group.options,
            self.tick_ms / 1000, node.address,
            {p: self.nodes[p].address for p in group.members if p != n},
            self.roles.get(n, "") if not g else "", dict(self.roles) if not g else {}))
        inbox = Inbox(group.spec.messages)
        pump = Pump(parts.core, PumpActions(
            send=lambda env: self._send(n, env, g),
            reply=inbox.release,
            apply=lambda entry: self._applied(n, incarnation, entry),
            answer=lambda answer: self._answered(answer, n, incarnation),
            trace=lambda line: self.trace(f"{n} {line}")))
        node.slots[g] = SimSlot(g, parts.core, parts.storage, pump, inbox)
        if not g:
            node.core, node.storage, node.pump, node.inbox = parts.core, parts.storage, pump, inbox

    # ------------------------------------------------------------------ groups
    def add_group(self, name: str, spec: ProtocolSpec, members: list[str],
                  options: Mapping[str, Any] | None = None) -> None:
        """Start a group of cores of ``spec``'s protocol, one on each of ``members``,
        while the world runs (a new Raft group for a range, a SWIM member beside it).
        A member that is down starts its core when it restarts."""
        if not name or name in self.groups:
            raise ValueError(f"group name {name!r} is empty or taken")
        unknown = sorted(set(members) - set(self.nodes))
        if unknown or not members:
            raise ValueError(f"group {name}: unknown or no members {unknown or members}")
        spec.check_options(dict(options or {}), len(members))
        group = Group(name, spec, tuple(sorted(NodeId(m) for m in members)),
                      dict(options or {}))
        self.groups[name] = group
        for m in group.members:
            if self.nodes[m].up:
                self._start_slot(self.nodes[m], group)
        self.trace(f"add group {name} of {spec.name} on {list(group.members)}")

    def remove_group(self, name: str) -> None:
        """Stop and forget group ``name`` on every node (its cores' disks stay, unused)."""
        if name not in self.groups or not name:
            raise ValueError(f"no group {name!r} to remove")
        del self.groups[name]
        for node in self.nodes.values():
            node.slots.pop(name, None)
        self.trace(f"remove group {name}")

    def group_core(self, n: str, group: str) -> Core:
        """Node n's core of ``group``; ValueError if n is down or hosts no such group."""
        slot = self.nodes[NodeId(n)].slot(group)
        if slot is None:
            raise ValueError(f"node {n} is down or hosts no group {group!r}")
        return slot.core

    def core(self, n: str) -> Core:
        node = self.nodes[NodeId(n)]
        core = node.core
        if core is None:
            raise ValueError(f"node {n} is down")
        return core

    def status(self, n: str) -> NodeStatus | None:
        core = self.nodes[NodeId(n)].core
        return core.status() if core is not None else None

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
        for slot in node.slots.values():
            if self.torn_writes and slot.pump.writing is not None:
                # its write was under way: part of it may reach the disk (the WAL keeps
                # whole records)
                with node.fs.fsyncs_held():
                    slot.storage.save(slot.pump.writing.records)
        node.up, node.slots = False, {}  # the deferred replies it owed die with it
        node.core = node.storage = node.pump = node.inbox = None
        lost = node.fs.crash(self.rng(f"disk/{n}/{node.incarnation}"), self.torn_writes)
        self.trace(f"crash {n} (lost {lost} unsynced bytes)")
        self._event(n, "stop")

    def restart(self, n: str, address: str | None = None) -> None:
        """Start a crashed node from what its disk kept; listening on ``address`` if
        given (a process restarted on another port): its old address reaches nobody."""
        node = self.nodes[NodeId(n)]
        if node.up:
            return
        if node.node_id not in self.ids:
            raise ValueError(f"node {n} was removed from the cluster; add_node() a new one")
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
    def submit(self, n: str, command: Any, request_id: Any = None, group: str = "") -> Any:
        """Hand ``command`` to node n's core (of ``group``) now; the answer lands in
        ``answers``."""
        rid = request_id if request_id is not None else next(self._request_ids)
        node = self.nodes[NodeId(n)]
        self.trace(f"submit {n} {rid} {command!r}")
        if node.slot(group) is None:
            return rid  # a down node never answers: the client times out
        if node.stalled_until > self.now:
            self.at(node.stalled_until - self.now,
                    lambda: self._submit_now(node, rid, command, group))
            return rid
        self._submit_now(node, rid, command, group)
        return rid

    def _submit_now(self, node: SimNode, rid: Any, command: Any, group: str) -> None:
        slot = node.slot(group)
        if slot is not None:
            try:
                slot.core.submit(rid, command)
            except ProtocolError as e:  # refused, nothing changed: the client hears why,
                self._answered(Answer(rid, error=e))  # as the host answers it
                return
            self._input(node.node_id, group)

    # ------------------------------------------------------------------ the pump
    def _input(self, n: NodeId, group: str = "") -> int:
        """The core of n took an input: note it and drive n's pump."""
        slot = self.nodes[n].slots[group]
        seq = slot.pump.note_input()
        self._drive(n, group)
        return seq

    def _drive(self, n: NodeId, group: str = "") -> None:
        """Act on the core's outbox through its pump: persist -> send -> apply ->
        answer. A write is instant, or takes ``disk_latency_ms`` (or waits out a paused
        disk) while the node runs on; a crash point may end the node between steps."""
        node = self.nodes[n]
        slot, incarnation = node.slots.get(group), node.incarnation
        while slot is not None and slot.pump.needs_step:
            write = slot.pump.step()  # may send ahead of the persist: a crash point may fire
            if not self._alive(n, incarnation):
                return
            if write is None:
                continue
            wait = self.disk_latency_ms + max(0, node.disk_paused_until - self.now)
            if wait:
                self.schedule(wait, "disk_done", n, incarnation, write, group)
                return
            if not self._write(node, slot, write):
                return

    def _write(self, node: SimNode, slot: SimSlot, write: Write) -> bool:
        """Make ``write`` durable and act on what it released; False if a crash point
        ended the node in between (the records are durable, nothing was acted on)."""
        slot.storage.save(write.records)
        if self._crash_point(node, slot.group, lambda p: p.after_persist(write.records)):
            return False
        slot.pump.write_done()
        return self._alive(node.node_id, node.incarnation)

    def _on_disk_done(self, n: NodeId, incarnation: int, write: Write, group: str) -> None:
        if not self._alive(n, incarnation):
            return  # the node crashed while writing: the write is lost
        node = self.nodes[n]
        slot = node.slots.get(group)
        if slot is None:
            return  # the group was removed meanwhile
        if node.disk_paused_until > self.now:  # paused while it was being written
            self.schedule(node.disk_paused_until - self.now, "disk_done", n, incarnation,
                          write, group)
            return
        if self._write(node, slot, write):
            self._drive(n, group)

    # ------------------------------------------------------------------ targeted faults
    def crash_at(self, n: str, point: str, group: str | None = None) -> None:
        """Crash node n the first time it reaches ``point`` (``"after_persist:Record"``,
        ``"before_send:Message"``; ``protocols.common.crashpoints``), in any of its
        cores or only in ``group``'s."""
        self.nodes[NodeId(n)].crash_points.append((CrashPoint.parse(point), group))
        self.trace(f"arm crash point {point} on {n}")

    def disarm(self, n: str, point: str | None = None) -> int:
        """Disarm node n's crash points (``point`` only, or all); returns how many were
        still armed: 0 says an armed point already fired (a point fires once)."""
        node = self.nodes[NodeId(n)]
        kept = [(p, g) for p, g in node.crash_points if point is not None and str(p) != point]
        removed, node.crash_points = len(node.crash_points) - len(kept), kept
        if removed:
            self.trace(f"disarm {point or 'every crash point'} on {n}")
        return removed

    def _crash_point(self, node: SimNode, group: str, reached: Callable[[CrashPoint], bool]
                     ) -> bool:
        """If an armed crash point of ``node`` is reached, crash the node there."""
        for i, (point, only) in enumerate(node.crash_points):
            if (only is None or only == group) and reached(point):
                del node.crash_points[i]  # a point fires once
                self.trace(f"crash point {point} reached on {node.node_id}")
                self.crash(node.node_id)
                return True
        return False

    def hook(self, message: str, action: str, src: str = "*", dst: str = "*",
             delay_ms: int = 0) -> MessageHook:
        """Drop (``"drop"``), lose the reply of (``"drop_reply"``), duplicate or delay
        (``"delay"``, by ``delay_ms``) every ``message`` from ``src`` to ``dst`` ("*":
        any node) until ``unhook``. The same hooks as a real node's message
        faults (``LinkFaults.message``), applied on top of the network's own fate."""
        if action not in ("drop", "drop_reply", "duplicate", "delay"):
            raise ValueError(f"hook action {action!r}: expected drop, drop_reply, "
                             "duplicate or delay")
        rule = MessageHook(message, action, src, dst, delay_ms)
        self.hooks.append(rule)
        self.trace(f"hook {rule}")
        return rule

    def unhook(self, rule: MessageHook | None = None) -> None:
        """Remove one hook, or every hook."""
        self.hooks = [] if rule is None else [h for h in self.hooks if h != rule]

    def _hooked(self, src: str, dst: str, msg: Any, delays: list[int]) -> list[int]:
        """The delivery delays of a request after the hooks that match it."""
        for hook in self.hooks:
            if hook.action == "drop_reply" or not hook.matches(src, dst, msg):
                continue  # a drop_reply hook acts on the reply (_reply_hooked)
            self.hook_hits[hook] += 1
            if hook.action == "drop":
                return []
            if hook.action == "duplicate" and delays:
                delays = [*delays, delays[0]]
            elif hook.action == "delay":
                delays = [d + hook.delay_ms for d in delays]
        return delays

    def _reply_hooked(self, src: str, dst: str, request: Any) -> bool:
        """Is the reply to ``request`` (sent src -> dst) lost to a drop_reply hook?"""
        for hook in self.hooks:
            if hook.action == "drop_reply" and hook.matches(src, dst, request):
                self.hook_hits[hook] += 1
                return True
        return False

    def pause_disk(self, n: str, duration_ms: int) -> None:
        """Node n's disk stops for ``duration_ms``: writes under way or started meanwhile
        complete only after it; the node runs on (it is not paused)."""
        node = self.nodes[NodeId(n)]
        node.disk_paused_until = max(node.disk_paused_until, self.now + duration_ms)
        self.trace(f"pause disk of {n} until {node.disk_paused_until}")

    # ------------------------------------------------------------------ event handlers
    def _alive(self, n: NodeId, incarnation: int) -> bool:
        node = self.nodes[n]
        return node.up and node.incarnation == incarnation

    def _on_tick(self, n: NodeId, incarnation: int) -> None:
        if not self._alive(n, incarnation):
            return
        if not self._stalled(n, "tick"):
            for group, slot in list(self.nodes[n].slots.items()):
                if self._alive(n, incarnation):  # a crash point may have ended it
                    slot.core.tick()
                    self._input(n, group)
            if self.event_log is not None and self._alive(n, incarnation):
                self._sample_state(n)
        self.schedule(self.tick_ms, "tick", n, incarnation)

    def _sample_state(self, n: NodeId) -> None:
        st = self.core(n).status()
        last = self._last_state.get(n)
        if last != (st.role, st.epoch):
            self._last_state[n] = (st.role, st.epoch)
            self._event(n, "state", role=st.role, epoch=st.epoch)

    def _applied(self, n: NodeId, incarnation: int, entry: Any) -> None:
        if self._alive(n, incarnation):  # a crash point may have ended it mid-Ready
            self.nodes[n].applied.append(entry)

    def _answered(self, answer: Answer, n: NodeId | None = None, incarnation: int = 0
                  ) -> None:
        if n is not None and not self._alive(n, incarnation):
            return  # the node crashed before it could answer
        self.answers[answer.request_id] = answer
        self.trace(f"answer {answer.request_id} {answer.result!r} {answer.error!r}")
        for hook in self.answer_hooks:
            hook(answer)

    def _send(self, src: NodeId, env: Envelope, group: str = "") -> None:
        node = self.nodes[src]
        if not node.up or self._crash_point(node, group, lambda p: p.before_send(env.msg)):
            return  # it crashed before this left
        spec = self.groups[group].spec
        kind = type(env.msg).__name__
        one_way = isinstance(spec.messages.kind_of(env.msg), OneWay)
        self.rpc_count[kind] += 1
        self.rpc_bytes[kind] += spec.message_size(env.msg)
        rpc = next(self._rpc_ids)
        incarnation = self.nodes[src].incarnation
        to = self._route(env)
        delays = self.network.request_delays(src, to) if to is not None else []
        if self.hooks and to is not None:
            delays = self._hooked(src, to, env.msg, delays)
        where = "" if to == env.dst else f" (reaches {to or 'nobody'})"
        self.trace(f"send {src}->{env.dst}{where} #{rpc} {kind} delays={delays}")
        if self.event_log is not None:
            self._pending_clock[rpc] = self._stamp(src, env.dst, env.msg, f"{src}:{rpc}")
        deadline = self._deadline_ms(env.msg, group, env)
        for delay in delays:
            self.schedule(delay, "request", src, incarnation, to, env.msg, rpc, env.dst, group,
                          deadline)
        if not one_way:
            self.schedule(deadline, "rpc_timeout", src, incarnation, env.dst, env.msg, rpc,
                          group)

    def _route(self, env: Envelope) -> NodeId | None:
        """The node a message reaches: whoever listens at ``env.address`` when the core
        named one, else the node called ``env.dst``; None if nobody (the message is lost)."""
        if env.address:
            return self._listening.get(env.address)
        return env.dst if env.dst in self.nodes else None

    def _on_request(self, src: NodeId, src_inc: int, dst: NodeId, msg: Any, rpc: int,
                    sent_to: NodeId, group: str = "", deadline: int = 0) -> None:
        node = self.nodes[dst]
        slot = node.slot(group)
        if slot is None:
            return  # lost (down, or no such group there); a request's sender times out
        if self._stalled(dst, "request", src, src_inc, dst, msg, rpc, sent_to, group,
                         deadline):
            return
        request = _Request(src, src_inc, msg, rpc, sent_to, group)
        try:
            arrival = slot.inbox.receive(slot.pump, src, msg,
                                         lambda reply: self._reply(dst, request, reply))
        except InvalidRequest as e:  # bad input: refused, nothing changed (as the host does)
            self.trace(f"{dst} refused #{rpc}: {e}")
            self._drive(dst, group)
            return  # no reply: the sender times out
        if self.event_log is not None:
            self._received(dst, src, msg, f"{src}:{rpc}", self._pending_clock.get(rpc, {}))
        if isinstance(arrival, Deferred):  # owed until the sender's deadline, then lost
            self.schedule(deadline or self._deadline_ms(msg, group), "deferred_expired", dst,
                          node.incarnation, arrival, group)
        self._drive(dst, group)

    def _deadline_ms(self, msg: Any, group: str = "", envelope: Envelope | None = None
                     ) -> int:
        """How long the sender of ``msg`` waits for its reply: the deadline its core set
        on the envelope, else its Rpc's own, else the world's ``rpc_timeout_ms``."""
        return int(self.groups[group].spec.messages.deadline_ms(msg, self.rpc_timeout_ms,
                                                                envelope))

    def _on_deferred_expired(self, n: NodeId, incarnation: int, deferred: Deferred,
                             group: str) -> None:
        slot = self.nodes[n].slot(group)
        if self._alive(n, incarnation) and slot is not None:
            slot.inbox.expire(deferred)

    def _reply(self, dst: NodeId, request: _Request, reply: Any) -> None:
        node = self.nodes[dst]
        if not node.up or self._crash_point(node, request.group,
                                            lambda p: p.before_send(reply)):
            return  # it crashed before the reply left
        delay = self.network.reply_delay(request.src, dst)
        if self.hooks and self._reply_hooked(request.src, dst, request.msg):
            delay = None
        self.trace(f"reply {dst}->{request.src} #{request.rpc} {type(reply).__name__} "
                   f"delay={delay}")
        if self.event_log is not None:
            self._pending_clock[("r", request.rpc)] = self._stamp(
                dst, request.src, reply, f"{request.sent_to}:r{request.rpc}")
        if delay is not None:
            self.schedule(delay, "reply", request.src, request.src_incarnation,
                          request.sent_to, request.msg, reply, request.rpc, request.group)

    def _on_reply(self, src: NodeId, src_inc: int, dst: NodeId, msg: Any, reply: Any,
                  rpc: int, group: str = "") -> None:
        if rpc in self._rpc_done or not self._alive(src, src_inc):
            return  # a duplicate reply, or the sender restarted since
        if self._stalled(src, "reply", src, src_inc, dst, msg, reply, rpc, group):
            return
        self._rpc_done.add(rpc)
        slot = self.nodes[src].slot(group)
        if slot is None:
            return  # its group was removed meanwhile
        if self.event_log is not None:
            self._received(src, dst, reply, f"{dst}:r{rpc}",
                           self._pending_clock.get(("r", rpc), {}))
        slot.core.on_reply(dst, msg, reply)
        self._input(src, group)

    def _on_rpc_timeout(self, src: NodeId, src_inc: int, dst: NodeId, msg: Any,
                        rpc: int, group: str = "") -> None:
        if rpc in self._rpc_done:
            return
        if self._alive(src, src_inc) and self._stalled(src, "rpc_timeout", src, src_inc, dst,
                                                       msg, rpc, group):
            return
        self._rpc_done.add(rpc)
        slot = self.nodes[src].slot(group) if self._alive(src, src_inc) else None
        if slot is not None:
            slot.core.on_send_failed(dst, msg)
            self._input(src, group)

    def _on_call(self, fn: Callable[[], None]) -> None:
        fn()

    def at(self, delay_ms: int, fn: Callable[[], None]) -> None:
        """Run ``fn`` at now + delay (nemesis schedules and workload clients use this)."""
        self.schedule(delay_ms, "call", fn)

    # ------------------------------------------------------------------ nodes that come and go
    def add_node(self, node_id: str | None = None, role: str = "",
                 options: Mapping[str, Any] | None = None) -> NodeId:
        """A brand-new node joins the running cluster: a fresh id (the next free ``nN``
        unless given; a removed node's id is never reused), its own empty disk and
        address, a ``role`` and ``options`` of its own (checked first: ConfigError, and
        nothing changes). It starts knowing every member; every up member's core hears
        ``on_peers_changed`` (a paused one once it resumes), and one that restarts later
        is built knowing it. Returns its id."""
        n = validate_node_id(node_id) if node_id else self._fresh_id()
        if n in self.nodes:
            raise ValueError(f"node id {n} is taken (ids of removed nodes are not reused)")
        roles = {**self.roles, n: role} if role else dict(self.roles)
        per_node = {**self.node_options, n: dict(options)} if options else self.node_options
        check_assignment(self.spec, [*self.ids, n], self.options, roles, per_node)
        node = self.nodes[n] = SimNode(n, SimFileSystem(), f"{n}:{SIM_PORT}")
        self._listening[node.address] = n
        self.ids.append(n)
        self.roles, self.node_options = roles, per_node
        self.groups[""] = replace(self.groups[""], members=tuple(self.ids))
        self.trace(f"add node {n} at {node.address} role {role!r}")
        self._event(n, "join")
        self._start_node(n, first_tick=self.tick_ms)
        self._tell_members(exclude=n)
        return n

    def remove_node(self, n: str) -> None:
        """Node n leaves the cluster for good: crashed, its disk discarded, its address
        reaching nobody; messages to it are lost. Every up member's core hears
        ``on_peers_changed``; ``restart(n)`` is refused from now on."""
        nid = NodeId(n)
        if nid not in self.ids:
            raise ValueError(f"node {n} is not in the cluster ({', '.join(self.ids)})")
        if len(self.ids) == 1:
            raise ValueError(f"node {n} is the last node of the cluster")
        self.crash(nid)
        node = self.nodes[nid]
        node.fs = SimFileSystem()  # gone for good: nothing of it can come back
        self._listening.pop(node.address, None)
        self.ids.remove(nid)
        self.roles.pop(nid, None)
        self.node_options.pop(nid, None)
        self.groups[""] = replace(self.groups[""], members=tuple(self.ids))
        self.trace(f"remove node {n}")
        self._event(n, "leave")
        self._tell_members(exclude=nid)

    def _fresh_id(self) -> NodeId:
        k = len(self.nodes) + 1
        while NodeId(f"n{k}") in self.nodes:
            k += 1
        return NodeId(f"n{k}")

    def _tell_members(self, exclude: NodeId) -> None:
        """Each up member (but ``exclude``) hears the new membership, as an event of its
        own (so a paused one hears it when it resumes, as its admin call would wait)."""
        for m in self.up_nodes():
            if m != exclude:
                self.schedule(0, "peers_changed", m, self.nodes[m].incarnation)

    def _on_peers_changed(self, n: NodeId, incarnation: int) -> None:
        if not self._alive(n, incarnation) or self._stalled(n, "peers_changed", n,
                                                            incarnation):
            return
        slot = self.nodes[n].slot("")
        if slot is None:
            return
        slot.core.on_peers_changed(tuple(p for p in self.ids if p != n), dict(self.roles))
        self._input(n)
