"""The explored system: the protocol's own cores, their disks and the messages in flight.

A ``System`` is one global state of a small cluster: every node's core (built by the
protocol's ``ProtocolSpec.create_node``, the object the gRPC nodes and the simulator run),
its simulated disk (``protocols.sim.disk``: durable bytes apart from unsynced ones), the
write its pump has under way, the requests it waits on, and the network: a multiset of
messages in flight. Outputs go through the contract's ``Pump`` and ``Inbox``, so persist
-> send -> apply -> answer holds here exactly as on processes.

A *move* is one of (Lamport's "next-state actions"; DSLabs' and Stateright's events):

* ``deliver``: one message in flight reaches its node (a request, a reply, a one-way);
* ``drop`` / ``duplicate``: the network loses or copies one message (bounded);
* ``timeout``: a request's deadline passes at its sender (``on_send_failed``);
* ``tick``: one node's timer fires (bounded per node);
* ``persist``: a node's write under way reaches its disk (with ``Bounds.persist_moves``:
  a message marked ``ahead_of_persist`` has left before it);
* ``crash``: a power cut: the node and its unsynced bytes are gone (with ``Bounds.torn``,
  the write under way may keep a prefix cut at a record boundary or inside a record),
  and so are the messages to it; what is sent to it while it is down is lost too (no
  process listens: a stream's connection is refused), as on the gRPC nodes;
* ``restart``: a crashed node starts again from its disk;
* ``submit``: a client hands one of the model's commands to one node.

The explorer copies a ``System`` (``copy.deepcopy``) to branch, so everything in it is
plain data or bound methods; ``encode()`` is its canonical form (``protocols.explore.canon``).
"""

from __future__ import annotations

import copy
import functools
import pickle
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from protocols.check.history import Event, History
from protocols.common.errors import InvalidRequest, ProtocolError
from protocols.common.ids import NodeId, node_ids
from protocols.contract import (
    Answer,
    Core,
    Envelope,
    Inbox,
    NodeContext,
    Pump,
    PumpActions,
    Rpc,
    Storage,
    check_assignment,
    node_options,
)
from protocols.explore.canon import FixedRandom, canon
from protocols.explore.model import ExploreAdapter
from protocols.sim.disk import SimFileSystem

__all__ = ["CoreFailure", "Move", "Packet", "System", "XNode"]

_T = TypeVar("_T")
TICK_S = 0.01  # the real time a tick stands for (a core's clock advances by it per tick)


class CoreFailure(AssertionError):
    """A core raised on an input (not ``InvalidRequest``): a bug, as a node would stop."""


@dataclass(frozen=True, slots=True)
class Move:
    """One next-state action. ``key`` names its message or command in the state's own
    terms, so a path of moves replays on a fresh ``System`` (``System.find``)."""

    kind: str  # deliver, drop, duplicate, timeout, tick, persist, crash, restart, submit
    node: str = ""  # the node it happens at (deliver: the receiver)
    key: str = ""  # deliver/drop/duplicate: the packet; timeout: the request; submit: cmd
    cut: int = -1  # crash: bytes of the write under way kept (-1: none, a plain crash)
    label: str = ""  # what a learner reads

    def __str__(self) -> str:
        return self.label or f"{self.kind} {self.node} {self.key}"

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "node": self.node, "key": self.key, "cut": self.cut,
                "label": self.label}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Move:
        return cls(d["kind"], d.get("node", ""), d.get("key", ""), int(d.get("cut", -1)),
                   d.get("label", ""))


@dataclass(slots=True)
class Packet:
    """A message in flight: a ``request`` (an ``Rpc``'s), its ``reply``, or a ``oneway``."""

    kind: str
    src: NodeId
    dst: NodeId
    msg: Any
    request: Any = None  # a reply: the request it answers
    # a request: its sender's incarnation (its reply goes back to that life only, as a
    # reply goes back on the stream the request came on); a reply: the same, copied
    incarnation: int = 0
    key: str = ""  # names it in a move
    enc: Any = None  # its canonical encoding (node ids renameable for symmetry)

    def describe(self) -> str:
        what = "reply " if self.kind == "reply" else ""
        return f"{what}{self.src}->{self.dst} {_short(self.msg)}"


@dataclass(slots=True)
class Outstanding:
    """A request its sender waits on: a reply or its deadline ends it."""

    dst: NodeId
    request: Any
    key: str
    enc: Any = None


@dataclass(slots=True)
class XNode:
    """One node: its disk always, and while ``up`` its core, storage, pump and inbox.
    ``up``, ``incarnation`` and ``core`` are what the simulator's invariants read."""

    node_id: NodeId
    fs: SimFileSystem = field(default_factory=SimFileSystem)
    up: bool = False
    incarnation: int = 0
    core: Core | None = None
    storage: Storage | None = None
    pump: Pump | None = None
    inbox: Inbox | None = None
    ticks: int = 0
    clock_s: float = 0.0
    outstanding: list[Outstanding] = field(default_factory=list)
    # what the pump's actions produced during the current input, drained into the
    # system right after it: the actions are bound to the node, not to the system, so a
    # node copies on its own (``System.fork``)
    outbox: list[tuple[Any, ...]] = field(default_factory=list)

    def clock(self) -> float:
        return self.clock_s


def _queue_send(outbox: list[tuple[Any, ...]], env: Envelope) -> None:
    outbox.append(("send", env))


def _queue_reply(outbox: list[tuple[Any, ...]], requester: NodeId, request: Any,
                 incarnation: int, reply: Any) -> None:
    outbox.append(("reply", requester, request, incarnation, reply))


def _queue_answer(outbox: list[tuple[Any, ...]], answer: Answer) -> None:
    outbox.append(("answer", answer))


def _nothing(_: Any) -> None:
    """Applied entries are in the core's state; trace lines are not state."""


def _callback_state(f: Any, ignore: frozenset[str]) -> Any:
    """What a held callback will do, without the outbox it writes to."""
    out = []
    while isinstance(f, functools.partial):
        out.append(tuple(canon(a, ignore) for a in f.args if not isinstance(a, list)))
        f = f.func
    return tuple(out)


class System:
    """One state of the explored cluster, and the moves it allows (see the module)."""

    def __init__(self, adapter: ExploreAdapter) -> None:
        self.adapter = adapter
        self.spec = adapter.spec
        self.bounds = adapter.bounds
        self.ids: list[NodeId] = node_ids(adapter.nodes)
        check_assignment(self.spec, self.ids, adapter.options, adapter.roles,
                         adapter.node_options)
        self.nodes: dict[NodeId, XNode] = {n: XNode(n) for n in self.ids}
        self.network: list[Packet] = []
        self.crashes = self.drops = self.duplicates = 0
        self.late = False  # a node's timer fired while a message to or from it was in flight
        self.depth = 0
        self.submitted: dict[int, NodeId] = {}  # command index -> the node it went to
        self.history = History()
        self._invocations: dict[int, Event] = {}
        self.ghosts: list[Any] = []  # the simulator's invariants, one copy per path
        if adapter.sim is not None and adapter.sim_invariants:
            self.ghosts = list(adapter.sim.invariants())
        self.recorder: Recorder | None = None  # set while replaying a path for a report
        self._encoded: dict[NodeId, Any] = {}  # each node's encoding, until a move touches it
        for n in self.ids:
            self._start(n)

    def clone(self) -> System:
        """A copy to branch from. Pickling is several times faster than
        ``copy.deepcopy`` and keeps bound methods bound to the copy; the adapter and the
        spec (shared, never changed) travel by reference (``__getstate__``)."""
        child: System = self._copy(self)
        child._encoded = dict(self._encoded)  # immutable tuples: shared, not copied
        return child

    def fork(self, move: Move) -> System:
        """A copy to apply ``move`` to: only what a move may change is copied (the node
        it happens at, the network's list, the clients' history and the checkers'
        memory); every other node is shared with this state, unchanged."""
        child = System.__new__(System)
        child.__dict__.update(self.__dict__)
        child.nodes = dict(self.nodes)
        if move.node and move.kind not in ("drop", "duplicate"):
            n = NodeId(move.node)
            child.nodes[n] = self._copy(self.nodes[n])
        child.network = list(self.network)
        child.submitted = dict(self.submitted)
        child.history = History(list(self.history.events))
        child._invocations = dict(self._invocations)
        if self.ghosts:
            child.ghosts = self._copy(self.ghosts)
        child._encoded = dict(self._encoded)
        return child

    def _copy(self, obj: _T) -> _T:
        """A deep copy through pickle; cloudpickle for cores that hold closures (a
        continuation waiting for a reply), which plain pickle refuses."""
        if self.adapter.closures:
            import cloudpickle  # only these models pay for it
            copied: _T = pickle.loads(cloudpickle.dumps(obj, pickle.HIGHEST_PROTOCOL))
            return copied
        copied = pickle.loads(pickle.dumps(obj, pickle.HIGHEST_PROTOCOL))
        return copied

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        _SHARED[id(self.adapter)] = self.adapter
        state["adapter"] = id(self.adapter)
        del state["spec"], state["bounds"], state["_encoded"]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        adapter = _SHARED[state["adapter"]]
        self.__dict__.update(state, adapter=adapter, spec=adapter.spec, bounds=adapter.bounds,
                             _encoded={})

    # ------------------------------------------------------------ what invariants read
    @property
    def events(self) -> int:
        return self.depth

    def core(self, n: str) -> Core:
        core = self.nodes[NodeId(n)].core
        if core is None:
            raise ValueError(f"node {n} is down")
        return core

    def up_nodes(self) -> list[NodeId]:
        return [n for n in self.ids if self.nodes[n].up]

    def leader(self) -> NodeId | None:
        """The up node that says it leads with the highest epoch, if any."""
        best: tuple[int, NodeId] | None = None
        for n in self.up_nodes():
            st = self.core(n).status()
            if st.leading and (best is None or st.epoch > best[0]):
                best = (st.epoch, n)
        return best[1] if best else None

    def answers(self) -> dict[int, Event]:
        """The completion each answered command got, by command index."""
        return {e.process: e for e in self.history.events if e.type != "invoke"}

    # ------------------------------------------------------------ the moves
    def moves(self) -> list[Move]:
        """Every move enabled in this state, within the bounds, in a fixed order."""
        b = self.bounds
        out: list[Move] = []
        seen: set[str] = set()
        for p in self.network:
            if p.key in seen:
                continue  # copies of one message: delivering either is the same move
            seen.add(p.key)
            if self.nodes[p.dst].up:
                out.append(Move("deliver", p.dst, p.key, label=f"deliver {p.describe()}"))
            if self.drops < b.drops:
                out.append(Move("drop", p.dst, p.key, label=f"drop {p.describe()}"))
            if self.duplicates < b.duplicates:
                out.append(Move("duplicate", p.dst, p.key, label=f"duplicate {p.describe()}"))
        for n in self.ids:
            node = self.nodes[n]
            if not node.up:
                if b.restarts:
                    out.append(Move("restart", n, label=f"restart {n}"))
                continue
            if b.timeouts:
                for key in sorted({o.key for o in node.outstanding}):
                    o = next(o for o in node.outstanding if o.key == key)
                    out.append(Move("timeout", n, key, label=f"timeout {n}: no reply from "
                                    f"{o.dst} to {_short(o.request)}"))
            armed = self.adapter.armed
            if node.ticks < b.ticks and (armed is None or armed(self, n)):
                out.append(Move("tick", n, label=f"tick {n}"))
            assert node.pump is not None
            if node.pump.writing is not None:
                out.append(Move("persist", n, label=f"persist {n}: "
                                f"{_short(node.pump.writing.records)} reaches the disk"))
            if self.crashes < b.crashes and (not b.crash_in_writes or
                                             node.pump.writing is not None):
                out.append(Move("crash", n, label=f"crash {n}"))
                if b.torn and node.pump.writing is not None:
                    for cut in self._cuts(node):
                        out.append(Move("crash", n, cut=cut, label=f"crash {n}, its write "
                                        f"torn after {cut} bytes"))
        targets = self.adapter.targets
        for i, command in enumerate(self.adapter.commands):
            if i in self.submitted:
                continue
            for n in self.up_nodes():
                if targets and n not in targets[i]:
                    continue
                out.append(Move("submit", n, str(i), label=f"submit {_short(command)} to {n}"))
        return out

    def find(self, move: Move) -> Move:
        """The enabled move equal to ``move`` (read back from a file), or ValueError."""
        for m in self.moves():
            if (m.kind, m.node, m.key, m.cut) == (move.kind, move.node, move.key, move.cut):
                return m
        raise ValueError(f"step {self.depth + 1}: {move} is not possible here")

    def apply(self, move: Move) -> None:
        """Take ``move`` (one of ``moves()``): the state changes in place."""
        self.depth += 1
        if self.recorder is not None:
            self.recorder.step(self, move)
        node = self.nodes[NodeId(move.node)] if move.node else None
        self._encoded.pop(NodeId(move.node), None)  # a move changes at most its own node
        kind = move.kind
        if kind in ("deliver", "drop", "duplicate"):
            i = next(i for i, p in enumerate(self.network) if p.key == move.key)
            if kind == "duplicate":
                self.duplicates += 1
                self.network.append(self.network[i])
                return
            packet = self.network.pop(i)
            if kind == "drop":
                self.drops += 1
            else:
                self._deliver(packet)
        elif kind == "tick":
            assert node is not None and node.core is not None
            node.ticks += 1
            node.clock_s += TICK_S
            self.late = self.late or any(node.node_id in (p.src, p.dst) and self.nodes[p.dst].up
                                         for p in self.network)
            self._input(node, node.core.tick)
        elif kind == "persist":
            assert node is not None and node.pump is not None and node.storage is not None
            write = node.pump.writing
            assert write is not None
            node.storage.save(write.records)
            node.pump.write_done()
            self._pump(node)
        elif kind == "timeout":
            assert node is not None and node.core is not None
            o = next(o for o in node.outstanding if o.key == move.key)
            node.outstanding.remove(o)
            self._prune_replies()
            self._input(node, functools.partial(node.core.on_send_failed, o.dst, o.request))
        elif kind == "crash":
            assert node is not None
            self._crash(node, move.cut)
        elif kind == "restart":
            assert node is not None
            self._start(node.node_id)
        elif kind == "submit":
            assert node is not None
            self._submit(node, int(move.key))
        else:
            raise ValueError(f"unknown move {kind!r}")

    # ------------------------------------------------------------ the canonical form
    def encode(self) -> Any:
        """This state as nested tuples: equal for equal states (``canon``)."""
        ignore = self.adapter.ignore
        nodes = {}
        for n, node in self.nodes.items():
            encoded = self._encoded.get(n)
            if encoded is None:
                encoded = self._encoded[n] = self._encode_node(node, ignore)
            nodes[n] = encoded
        net = ("set", tuple(sorted((p.enc for p in self.network), key=repr)))  # a multiset
        return (("map", tuple(sorted(nodes.items()))), net,
                (self.crashes, self.drops, self.duplicates, self.late),
                ("map", tuple(sorted(self.submitted.items()))),
                tuple((e.type, e.process, repr(e.value), e.error) for e in self.history.events),
                canon(self.ghosts, ignore))

    def _encode_node(self, node: XNode, ignore: frozenset[str]) -> Any:
        prefix = f"/data/{node.node_id}/"
        disk = tuple(sorted((p.removeprefix(prefix), bytes(f.durable), bytes(f.pending))
                            for p, f in node.fs.files.items()))
        if not node.up:
            return ("down", node.incarnation, node.ticks, disk)
        assert node.pump is not None and node.inbox is not None
        pump = node.pump
        held = tuple((seq - pump.durable, _callback_state(release, ignore))
                     for seq, release in pump._held)
        writing = canon(pump.writing.records, ignore) if pump.writing is not None else None
        waiting = ("set", tuple(sorted((_callback_state(r, ignore)
                                        for r in node.inbox._waiting.values()), key=repr)))
        return ("up", node.incarnation, node.ticks, disk, canon(node.core, ignore),
                writing, held, waiting,
                ("set", tuple(sorted((o.enc for o in node.outstanding), key=repr))))

    # ------------------------------------------------------------ driving the cores
    def _start(self, n: NodeId) -> None:
        node = self.nodes[n]
        node.incarnation += 1
        node.outstanding = []
        a = self.adapter
        parts = self.spec.create_node(NodeContext(
            n, tuple(p for p in self.ids if p != n), node.fs, f"/data/{n}", FixedRandom(),
            node.clock, node_options(a.options, a.node_options.get(n)), TICK_S, f"{n}:7946",
            {p: f"{p}:7946" for p in self.ids if p != n}, a.roles.get(n, ""),
            {NodeId(k): v for k, v in a.roles.items()}))
        inbox = Inbox(self.spec.messages)
        node.core, node.storage, node.inbox, node.up = parts.core, parts.storage, inbox, True
        node.pump = Pump(parts.core, PumpActions(
            send=functools.partial(_queue_send, node.outbox), reply=inbox.release,
            apply=_nothing, answer=functools.partial(_queue_answer, node.outbox),
            trace=_nothing))
        if self.recorder is not None:
            self.recorder.event(n, "start")
        self._pump(node)

    def _input(self, node: XNode, call: Any) -> None:
        """Give the core one input, then act on its outbox."""
        assert node.pump is not None
        try:
            call()
        except InvalidRequest:
            pass  # refused, changed nothing: its sender hears nothing back
        except Exception as e:
            raise CoreFailure(f"{node.node_id}'s core raised {type(e).__name__}: {e}") from e
        node.pump.note_input()
        self._pump(node)

    def _pump(self, node: XNode) -> None:
        pump = node.pump
        assert pump is not None and node.storage is not None
        while pump.needs_step:
            write = pump.step()
            if write is None:
                continue
            at = self.bounds.persist_moves_at
            if self.bounds.persist_moves and (at is None or node.node_id in at):
                break  # the write is under way until a persist (or crash) move
            node.storage.save(write.records)
            pump.write_done()
        self._drain(node)

    def _drain(self, node: XNode) -> None:
        """Put what the node's pump sent, replied and answered into the system."""
        outbox, node.outbox[:] = list(node.outbox), []
        for item in outbox:
            if item[0] == "send":
                self._send(node.node_id, item[1])
            elif item[0] == "reply":
                self._respond(node.node_id, *item[1:])
            else:
                self._answered(node.node_id, item[1])

    def _deliver(self, p: Packet) -> None:
        node = self.nodes[p.dst]
        assert node.up and node.core is not None and node.pump is not None
        core = node.core
        if self.recorder is not None:
            self.recorder.event(p.dst, "recv", peer=p.src, msg=type(p.msg).__name__,
                                mid=p.key)
        if p.kind == "reply":
            o = next((o for o in node.outstanding
                      if o.dst == p.src and o.request == p.request), None)
            if o is None or node.incarnation != p.incarnation:
                return  # nobody waits for it any more (timed out, or the requester crashed)
            node.outstanding.remove(o)
            self._input(node, functools.partial(core.on_reply, p.src, p.request, p.msg))
            return
        assert node.inbox is not None
        respond = functools.partial(_queue_reply, node.outbox, p.src, p.msg, p.incarnation)
        try:
            node.inbox.receive(node.pump, p.src, p.msg, respond)
        except InvalidRequest:
            pass
        except Exception as e:
            raise CoreFailure(f"{p.dst}'s core raised {type(e).__name__} on "
                              f"{_short(p.msg)}: {e}") from e
        self._pump(node)

    def _send(self, src: NodeId, env: Envelope) -> None:
        node = self.nodes[src]
        if env.dst not in self.nodes:
            return  # nobody by that name: a request of it times out
        rpc = isinstance(self.spec.messages.kind_of(env.msg), Rpc)
        p = Packet("request" if rpc else "oneway", src, env.dst, env.msg,
                   incarnation=node.incarnation)
        # a request names its sender's life: after a restart the same request is another
        p.enc = canon((p.kind, src, env.dst, env.msg, *((node.incarnation,) if rpc else ())),
                      self.adapter.ignore)
        p.key = repr(p.enc)
        if rpc:
            node.outstanding.append(Outstanding(env.dst, env.msg, p.key, p.enc))
        if self.recorder is not None:
            self.recorder.event(src, "send", peer=env.dst, msg=type(env.msg).__name__,
                                mid=p.key)
        if self.nodes[env.dst].up:  # a node that is down hears nothing: its connections
            self.network.append(p)  # are refused (a request of it times out)

    def _respond(self, responder: NodeId, requester: NodeId, request: Any, incarnation: int,
                 reply: Any) -> None:
        asker = self.nodes[requester]
        if not self.nodes[responder].up or not asker.up or asker.incarnation != incarnation:
            return  # nobody waits for it: the requester crashed since it asked
        p = Packet("reply", responder, requester, reply, request, incarnation)
        p.enc = canon(("reply", responder, requester, request, reply, incarnation),
                      self.adapter.ignore)
        p.key = repr(p.enc)
        self.network.append(p)
        if self.recorder is not None:
            self.recorder.event(responder, "send", peer=requester,
                                msg=type(reply).__name__, mid=p.key)

    def _prune_replies(self) -> None:
        """Replies nobody waits for any more leave the network: delivering one would
        change nothing, and keeping it would make equal states look different."""
        def waited(p: Packet) -> bool:
            if p.kind != "reply":
                return True
            node = self.nodes[p.dst]
            return node.up and node.incarnation == p.incarnation and any(
                o.dst == p.src and o.request == p.request for o in node.outstanding)
        self.network = [p for p in self.network if waited(p)]

    def _crash(self, node: XNode, cut: int) -> None:
        assert node.pump is not None and node.storage is not None
        keep = None
        if cut >= 0 and node.pump.writing is not None:
            before = {p: len(f.pending) for p, f in node.fs.files.items()}
            with node.fs.fsyncs_held():
                node.storage.save(node.pump.writing.records)
            keep = {p: (before.get(p, 0) + cut if len(f.pending) > before.get(p, 0) else
                        len(f.pending) if p in before else 0)
                    for p, f in node.fs.files.items()}
            keep = {p: min(k, len(node.fs.files[p].pending)) for p, k in keep.items()}
        node.fs.crash(keep=keep)
        self.crashes += 1
        node.up = False
        node.core = node.storage = node.pump = node.inbox = None
        node.outstanding = []
        self.network = [p for p in self.network if p.dst != node.node_id]
        self._prune_replies()
        if self.recorder is not None:
            self.recorder.event(node.node_id, "stop")

    def _cuts(self, node: XNode) -> list[int]:
        """Where a torn write may end: after each record of the write under way, and in
        the middle of each (measured by writing them one by one to a copy of the disk)."""
        assert node.pump is not None and node.pump.writing is not None
        storage, fs = copy.deepcopy((node.storage, node.fs))
        assert storage is not None
        before = sum(len(f.pending) for f in fs.files.values())
        marks: list[int] = []
        with fs.fsyncs_held():
            for record in node.pump.writing.records:
                storage.save([record])
                marks.append(sum(len(f.pending) for f in fs.files.values()) - before)
        cuts, last = {0}, 0
        for m in marks:
            if m > last:
                cuts.update({(last + m) // 2, m})
            last = m
        return sorted(c for c in cuts if c < last)

    def _submit(self, node: XNode, index: int) -> None:
        assert node.core is not None
        command = self.adapter.commands[index]
        self.submitted[index] = node.node_id
        f, key, value = self._describe(command)
        self._invocations[index] = self.history.invoke(index, f, key, value,
                                                       len(self.history.events))
        try:
            node.core.submit(index, command)
        except ProtocolError as e:
            self._answered(node.node_id, Answer(index, error=e))
            return
        node.pump.note_input()  # type: ignore[union-attr]
        self._pump(node)

    def _describe(self, command: Any) -> tuple[str, Any, Any]:
        d = self.adapter.describe_command
        if d is not None:
            return d(command)
        return (str(getattr(command, "op", type(command).__name__)),
                getattr(command, "key", None), getattr(command, "value", repr(command)))

    def _answered(self, n: NodeId, answer: Answer) -> None:
        inv = self._invocations.get(answer.request_id)
        if inv is None or any(e.process == inv.process and e.type != "invoke"
                              for e in self.history.events):
            return
        t = len(self.history.events)
        kv = self.adapter.kv
        if kv is None:
            if answer.error is None:
                self.history.complete(inv, "ok", answer.result, t)
            else:
                self.history.complete(inv, "fail", None, t, str(answer.error))
            return
        verdict, result, why = kv.kv_outcome(inv.f, answer)
        if verdict == "ok":
            self.history.complete(inv, "ok", result, t)
        elif verdict in ("fail", "redirect"):
            self.history.complete(inv, "fail", None, t, why)
        else:
            self.history.complete(inv, "info", None, t, why)


_SHARED: dict[int, ExploreAdapter] = {}  # adapters of the systems being copied, by id


def _short(value: Any, limit: int = 90) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


@dataclass(slots=True)
class Recorder:
    """What a replayed path did, for a report: the steps and the space-time events
    (``protocols.check.spacetime``'s format; time is the step number)."""

    steps: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    _clocks: dict[str, dict[str, int]] = field(default_factory=dict)
    _sent: dict[str, list[tuple[str, dict[str, int]]]] = field(default_factory=dict)
    _step: int = 0

    def step(self, system: System, move: Move) -> None:
        self._step = system.depth
        self.steps.append(str(move))

    def event(self, node: str, kind: str, **fields: Any) -> None:
        if kind in ("send", "recv"):
            clock = self._clocks.setdefault(node, {})
            sent = self._sent.setdefault(fields["mid"], [])
            if kind == "recv" and sent:  # the oldest copy of that message in flight
                fields["mid"], merged = sent.pop(0)
                for k, v in merged.items():
                    clock[k] = max(clock.get(k, 0), v)
            clock[node] = clock.get(node, 0) + 1
            if kind == "send":
                mid = f"m{len(self.events)}"
                sent.append((mid, dict(clock)))
                fields["mid"] = mid
            fields["vc"] = dict(clock)
        self.events.append({"t": float(self._step), "node": node, "kind": kind, **fields})


def describe_nodes(system: System, nodes: Iterable[NodeId] | None = None) -> list[str]:
    """One line per node: up or down, and its status in its protocol's words."""
    out = []
    for n in nodes or system.ids:
        node = system.nodes[n]
        if not node.up or node.core is None:
            out.append(f"{n}: down")
            continue
        st = node.core.status()
        extra = " ".join(f"{k}={v}" for k, v in sorted(st.details.items()))
        out.append(f"{n}: {st.role} epoch={st.epoch}" + (f" leader={st.leader_id}"
                                                           if st.leader_id else "")
                   + (f" {extra}" if extra else ""))
    return out
