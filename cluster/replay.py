"""A model checker's path, forced on real processes: ``scripts/explore replay FILE
--processes``.

The explorer (``protocols.explore``) finds a path of moves on the cores in memory. Here the
same path runs on a ``LocalCluster`` of gRPC node processes in step mode
(``protocols.runtime.stepper``): each move becomes an ``Admin.Step`` (deliver the message
held at its receiver, tick a node, let its write reach the disk, crash it inside its
write with a cut) or the runner's own act (SIGKILL, restart). A twin ``System`` in memory
takes the same moves. After each, the driver waits until every process is in the state
its twin is in — the core's canonical encoding, the messages held at it, the requests it
waits on, its write under way, its answers — and says so, or stops and names what differs.
So the last state of a counterexample, where a property breaks, is reached by processes
that encode their messages as protobuf, send them over gRPC streams and fsync their WALs.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from cluster.runner import LocalCluster
from protocols._pb import admin_pb2
from protocols.common.fs import OsFileSystem
from protocols.common.ids import NodeId
from protocols.contract import Answer, NodeContext, node_options
from protocols.explore.canon import FixedRandom, canon, rename
from protocols.explore.model import Always, ExploreAdapter
from protocols.explore.search import Explorer, check_always
from protocols.explore.system import TICK_S, Move, Packet, System
from protocols.registry import load_shell, load_spec
from protocols.runtime.stepper import MODEL_PORT

__all__ = ["ProcessReplay", "ReplayDiverged", "replay_on_processes"]

SETTLE_S = 30.0  # how long the processes may take to reach the twin's state (2 loaded cores)


class ReplayDiverged(AssertionError):
    """The processes did not reach the state the model reached at a step."""


@dataclass(slots=True)
class Seen:
    """What one node reported (``Admin.StepState``), in the model's terms."""

    up: bool
    core: str = ""
    writing: bool = False
    busy: bool = False
    held: list[tuple[int, str, str, str]] = field(default_factory=list)  # id, kind, peer, key
    outstanding: list[tuple[int, str, str]] = field(default_factory=list)  # id, dst, key


@dataclass(slots=True)
class ProcessReport:
    steps: list[str] = field(default_factory=list)
    broken: str | None = None
    broken_at: int = 0
    seconds: float = 0.0


class _Twin(System):
    """The model's ``System``, keeping each command's raw answer to compare."""

    raw_answers: dict[int, tuple[bool, str]]

    def _answered(self, n: Any, answer: Answer) -> None:
        if not hasattr(self, "raw_answers"):
            self.raw_answers = {}
        self.raw_answers.setdefault(answer.request_id, (
            (True, repr(answer.result)) if answer.error is None
            else (False, type(answer.error).__name__)))
        super()._answered(n, answer)


class ProcessReplay:
    """Replay ``path`` (moves of ``adapter``'s model) on a fresh cluster in step mode."""

    def __init__(self, protocol: str, model: str, size: str, adapter: ExploreAdapter,
                 path: Sequence[Move], *, source: str | Path | None = None,
                 data_dir: str | Path | None = None, log: Callable[[str], None] = print,
                 settle_s: float = SETTLE_S) -> None:
        self.protocol, self.model, self.size = protocol, model, size
        self.adapter, self.path = adapter, list(path)
        self.source, self.log, self.settle_s = source, log, settle_s
        # the nodes' data dirs and logs: kept when the processes leave the path (to read)
        self.own_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix=f"replay-{protocol}-"))
        self.routes = {r.method: r for r in load_shell(protocol).routes}
        self.twin = _Twin(adapter)
        self.twin.raw_answers = {}
        self.answers: dict[int, tuple[bool, str]] = {}  # what the processes answered
        self.seen: dict[str, Seen] = {}
        self.names: dict[str, str] = {}  # this machine's addresses -> the model's
        b = adapter.bounds
        hold = [] if not b.persist_moves else (
            list(self.twin.ids) if b.persist_moves_at is None else sorted(b.persist_moves_at))
        self.cluster = LocalCluster(
            protocol, len(self.twin.ids), options=adapter.options, roles=adapter.roles,
            tick_ms=1000 * TICK_S, direct=True, data_dir=self.data_dir, source=source,
            stepped={"model": model, "size": size, "hold_writes": hold})

    async def run(self) -> ProcessReport:
        """Every step, on the processes; ReplayDiverged (naming the node logs' directory)
        if they do not reach the model's state after one."""
        try:
            report = await self._run()
        except ReplayDiverged as e:
            raise ReplayDiverged(f"{e} (node logs: {self.data_dir})") from None
        if self.own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        return report

    def _install(self) -> None:
        """A model may run its protocol on disks prepared as a new cluster's are (causal's
        ``Installed``: a spec of its own whose ``create_node`` writes the first record):
        the processes' disks are prepared by the same code before they start."""
        if type(self.adapter.spec) is type(load_spec(self.protocol)):
            return
        roles = {NodeId(k): v for k, v in self.adapter.roles.items()}
        for n in self.twin.ids:
            data_dir = self.data_dir / n
            data_dir.mkdir(parents=True, exist_ok=True)
            peers = tuple(p for p in self.twin.ids if p != n)
            parts = self.adapter.spec.create_node(NodeContext(
                n, peers, OsFileSystem(), str(data_dir), FixedRandom(), lambda: 0.0,
                node_options(self.adapter.options, None), TICK_S, f"{n}:{MODEL_PORT}",
                {p: f"{p}:{MODEL_PORT}" for p in peers}, roles.get(n, ""), roles))
            parts.storage.close()

    async def _run(self) -> ProcessReport:
        started = time.monotonic()
        out = ProcessReport()
        self._install()
        always = [p for p in Explorer(self.adapter).properties if isinstance(p, Always)]
        async with self.cluster as c:
            self.names = {c.node(n).address: f"{n}:{MODEL_PORT}" for n in self.twin.ids}
            await self._settle(0)
            self.log(f"  0. initial state: the {len(self.twin.ids)} processes match the model")
            for i, move in enumerate(self.path, 1):
                found = self.twin.find(move)
                await self._act(found)
                self.twin.apply(found)
                await self._settle(i)
                line = f"{i:3}. {found}: the processes match the model"
                out.steps.append(line)
                self.log(line)
                for p in always:
                    why = check_always(p, self.twin)
                    if why is not None and out.broken is None:
                        out.broken, out.broken_at = f"{p.name}: {why}", i
                        self.log(f"     VIOLATED on the processes: always {p.name}: {why}")
        out.seconds = time.monotonic() - started
        return out

    # ------------------------------------------------------------------ one move
    async def _act(self, move: Move) -> None:
        n = move.node
        if move.kind in ("deliver", "drop", "duplicate"):
            packet = next(p for p in self.twin.network if p.key == move.key)
            await self._step(packet.dst, move.kind, id_=self._held_id(packet))
        elif move.kind == "timeout":
            o = next(o for o in self.twin.nodes[NodeId(n)].outstanding if o.key == move.key)
            want = (str(o.dst), self._key(o.request))
            ids = [i for i, dst, key in self.seen[n].outstanding if (dst, key) == want]
            await self._step(n, "timeout", id_=ids[0])
        elif move.kind == "crash":
            if move.cut >= 0:
                with contextlib.suppress(grpc.aio.AioRpcError):  # it dies answering
                    await self._step(n, "crash", cut=move.cut)
            await self.cluster.kill(n)  # SIGKILL, or reap the one that exited
        elif move.kind == "restart":
            await self.cluster.restart(n)
        elif move.kind == "submit":
            await self._step(n, "submit", command=int(move.key))
        else:  # tick, persist
            await self._step(n, move.kind)

    async def _step(self, node: str, action: str, *, id_: int = 0, cut: int = -1,
                    command: int = 0) -> None:
        await self.cluster.admin_call(node, "Step", admin_pb2.StepRequest(
            action=action, id=id_, cut=cut, command=command))

    def _held_id(self, packet: Packet) -> int:
        want = (packet.kind, str(packet.src), self._packet_key(packet))
        for i, kind, peer, key in self.seen[packet.dst].held:
            if (kind, peer, key) == want:
                return i
        raise ReplayDiverged(f"{packet.describe()} is not held at {packet.dst}")

    # ------------------------------------------------------------------ same state?
    async def _settle(self, step: int) -> None:
        """Wait until every process is in its twin's state (or raise, naming the
        difference)."""
        deadline = time.monotonic() + self.settle_s
        while True:
            await self._observe()
            diff = self._difference()
            if diff is None:
                return
            if time.monotonic() >= deadline:
                raise ReplayDiverged(f"after step {step}: the processes differ from the "
                                     f"model: {diff}")
            await asyncio.sleep(0.02)  # polling the condition, with a deadline

    async def _observe(self) -> None:
        for n in self.twin.ids:
            if not self.cluster.running(n):
                self.seen[n] = Seen(up=False)
                continue
            try:
                r = await self.cluster.admin_call(n, "StepState", admin_pb2.StepStateRequest(),
                                                  timeout_s=5.0)
            except grpc.aio.AioRpcError:
                self.seen[n] = Seen(up=False)
                continue
            for a in r.answers:
                self.answers[a.command] = (a.ok, a.text)
            outstanding = {h.id: (h.peer, self._decoded(h, False)) for h in r.outstanding}
            held = []
            for h in r.held:  # a reply is named with the request it answers
                key = self._decoded(h, h.kind == "reply")
                if h.kind == "reply":
                    key = f"{key} to {outstanding.get(h.request, ('', '?'))[1]}"
                held.append((h.id, h.kind, h.peer, key))
            self.seen[n] = Seen(True, r.core, r.writing, r.busy, held,
                                [(i, dst, key) for i, (dst, key) in outstanding.items()])

    def _decoded(self, held: Any, reply: bool) -> str:
        route = self.routes[held.method]
        pb = route.reply_pb if reply else route.request_pb
        return repr(rename(canon(route.decode(pb.FromString(held.body), reply),
                                 self.adapter.ignore), self.names))

    def _key(self, msg: Any) -> str:
        return repr(canon(msg, self.adapter.ignore))

    def _packet_key(self, p: Packet) -> str:
        """A message's key; a reply's names the request it answers too."""
        key = self._key(p.msg)
        return f"{key} to {self._key(p.request)}" if p.kind == "reply" else key

    def _difference(self) -> str | None:
        """What the processes show unlike the twin, or None."""
        twin = self.twin
        for n in twin.ids:
            node, seen = twin.nodes[n], self.seen[n]
            if node.up != seen.up:
                return f"{n} is {'up' if seen.up else 'down'}, the model's is not"
            if not node.up:
                continue
            if seen.busy:
                return f"{n} is still acting on the step"
            model_core = repr(canon(node.core, self.adapter.ignore))
            if seen.core != model_core:
                return f"{n}'s core: {_first_difference(seen.core, model_core)}"
            if seen.writing != (node.pump is not None and node.pump.writing is not None):
                return f"{n} has {'a' if seen.writing else 'no'} write under way"
            want = Counter((p.kind, str(p.src), self._key(p.msg))
                           for p in twin.network if p.dst == n and p.kind != "reply")
            got = Counter((k, peer, key) for _, k, peer, key in seen.held if k != "reply")
            if want != got:
                return f"messages held at {n}: {_counter_diff(got, want)}"
            want_r = {(str(p.src), self._packet_key(p)) for p in twin.network
                      if p.dst == n and p.kind == "reply" and _waited(twin, p)}
            got_r = {(peer, key) for _, k, peer, key in seen.held if k == "reply"}
            if want_r != got_r:
                return f"replies held at {n}: processes {sorted(got_r)}, model {sorted(want_r)}"
            want_o = Counter((str(o.dst), self._key(o.request)) for o in node.outstanding)
            got_o = Counter((dst, key) for _, dst, key in seen.outstanding)
            if want_o != got_o:
                return f"requests {n} waits on: {_counter_diff(got_o, want_o)}"
        if self.answers != twin.raw_answers:
            return f"answers: processes {self.answers}, model {twin.raw_answers}"
        return None


def _waited(system: System, p: Packet) -> bool:
    node = system.nodes[p.dst]
    return node.up and node.incarnation == p.incarnation and any(
        o.dst == p.src and o.request == p.request for o in node.outstanding)


def _counter_diff(got: Counter[Any], want: Counter[Any]) -> str:
    extra, missing = got - want, want - got
    return (f"the processes have {list(extra.elements())[:2]} more, "
            f"{list(missing.elements())[:2]} less")


def _first_difference(a: str, b: str, context: int = 120) -> str:
    i = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
             min(len(a), len(b)))
    lo = max(0, i - context)
    return f"processes ...{a[lo:i + context]}... model ...{b[lo:i + context]}..."


def replay_on_processes(protocol: str, model: str, size: str, adapter: ExploreAdapter,
                        path: Sequence[Move], **kw: Any) -> ProcessReport:
    """``ProcessReplay(...).run()`` from synchronous code."""
    return asyncio.run(ProcessReplay(protocol, model, size, adapter, path, **kw).run())
