"""Step mode: a node process that does nothing on its own, so a model checker's path can
be forced on it, one move at a time.

The explorer (``protocols.explore``) finds a path of moves on the cores in memory: deliver
this message, fire that timer, crash this node inside its write. ``cluster.replay``
replays the path on real processes, and this module is what makes a process take exactly
those moves and no others (cluster.json ``"stepped"``; ``Admin.Step``):

* a peer's message that arrives is *held*, not handed to the core, until a ``deliver``,
  ``drop`` or ``duplicate`` step names it; a reply to a request this node sent is held
  the same way, at the requester;
* the transport's deadlines are an hour and its failures are not reported: a request's
  deadline passing is a move (``timeout``), as in the model;
* the ticker does not run: ``tick`` ticks the core once, and the core's clock advances
  by one tick (kept across restarts, as a monotonic clock is);
* randomness is ``FixedRandom``, the explorer's: a path's timers are its moves;
* a write of a node in ``hold_writes`` waits for a ``persist`` step; ``crash`` with a cut
  writes the first ``cut`` bytes of it into each file it grows and exits as ``kill -9``
  would (a torn write; a crash without a cut is the runner's SIGKILL);
* ``submit`` hands the model's command number ``i`` to the core as request ``i``.

``StepState`` says what is held, what the node waits on, whether a write waits, the
core's canonical encoding (``protocols.explore.canon``, addresses and data dir renamed as
the model names them) and the answers so far: the driver compares it with the explorer's
state after every step.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from protocols.common.errors import InvalidRequest, ProtocolError
from protocols.common.fs import FileSystem, WritableFile
from protocols.explore.canon import FixedRandom, canon, rename
from protocols.runtime.config import SteppedConfig
from protocols.runtime.crashpoints import CRASH_EXIT_CODE

if TYPE_CHECKING:
    from protocols.runtime.host import NodeHost

__all__ = ["ACTIONS", "CuttingFileSystem", "Held", "Stepper"]

log = logging.getLogger("protocols.host")

ACTIONS = ("tick", "deliver", "drop", "duplicate", "timeout", "persist", "crash", "submit")
MODEL_PORT = 7946  # the port the explorer gives every node's address ("n1:7946")


@dataclass(frozen=True, slots=True)
class Held:
    """A message that reached this node and waits for a step: a request or one-way
    message (its handling is ``run``), or a reply to ``request`` (one of ours)."""

    kind: str  # request | oneway | reply
    peer: str  # who sent it
    method: str  # the route
    body: bytes  # the message (a reply's: the reply) as the route's protobuf
    run: Callable[[], None]
    request: int = 0  # a reply: the outstanding request it answers


@dataclass(frozen=True, slots=True)
class Sent:
    """A request this node sent and waits on (until its reply is delivered, or a timeout
    step; ``fail`` tells the core, as a deadline would)."""

    dst: str
    method: str
    body: bytes
    fail: Callable[[], None]


class Stepper:
    """The step mode of one node process (its cluster's own core, group "")."""

    def __init__(self, host: NodeHost, config: SteppedConfig, commands: Sequence[Any],
                 ignore: frozenset[str]) -> None:
        self.host = host
        self.hold_writes = host.node_id in config.hold_writes
        self.commands = list(commands)
        self.ignore = ignore
        self.fs = CuttingFileSystem(host.base_fs)
        self.random = FixedRandom()
        self.held: dict[int, Held] = {}
        self.outstanding: dict[int, Sent] = {}
        self.answers: dict[int, tuple[bool, str]] = {}
        self._ids = itertools.count(1)
        self._permit = asyncio.Event()  # a persist step lets one write through
        self._clock_path = os.path.abspath(host.config.data_dir) + ".stepped-clock"
        self.ticks, self.clock_s = self._load_clock()
        node = host.config
        # the model's names for what differs on processes: addresses, the data dir
        self._names = {node.address: f"{node.node_id}:{MODEL_PORT}",
                       **{a: f"{p}:{MODEL_PORT}" for p, a in node.addresses.items()},
                       os.path.abspath(node.data_dir): f"/data/{node.node_id}",
                       node.data_dir: f"/data/{node.node_id}"}

    # ------------------------------------------------------------------ what the core sees
    def clock(self) -> float:
        """The core's clock: one tick's length per tick step, nothing else moves it."""
        return self.clock_s

    def _load_clock(self) -> tuple[int, float]:
        try:
            with open(self._clock_path) as f:
                ticks, clock = f.read().split()
            return int(ticks), float(clock)
        except (OSError, ValueError):
            return 0, 0.0

    def _save_clock(self) -> None:
        with open(self._clock_path, "w") as f:  # a kill keeps it (the page cache does)
            f.write(f"{self.ticks} {self.clock_s!r}")

    # ------------------------------------------------------------------ arrivals, held
    def hold(self, kind: str, peer: str, method: str, body: bytes, run: Callable[[], None],
             request: int = 0) -> None:
        self.held[next(self._ids)] = Held(kind, peer, method, body, run, request)

    def sent(self, dst: str, method: str, body: bytes, fail: Callable[[], None]) -> int:
        """A request left: remember it until its reply is delivered or it times out."""
        sid = next(self._ids)
        self.outstanding[sid] = Sent(dst, method, body, fail)
        return sid

    def replied(self, sid: int, peer: str, method: str, body: bytes,
                run: Callable[[], None]) -> None:
        """A reply to request ``sid`` arrived: held until a step delivers it."""
        if sid in self.outstanding:
            self.hold("reply", peer, method, body, run, sid)

    def live_held(self) -> dict[int, Held]:
        """What is held, less replies nobody waits for any more (the model prunes them)."""
        return {i: h for i, h in self.held.items()
                if h.kind != "reply" or h.request in self.outstanding}

    # ------------------------------------------------------------------ steps
    async def step(self, action: str, id_: int, cut: int, command: int) -> None:
        """Take one step (``Admin.Step``); InvalidRequest if it is not possible here."""
        if action not in ACTIONS:
            raise InvalidRequest(f"step {action!r}: expected one of {', '.join(ACTIONS)}")
        slot = self.host.main
        if action == "tick":
            self.ticks += 1
            self.clock_s += self.host.config.tick_s
            self._save_clock()
            slot.tick()
        elif action in ("deliver", "drop", "duplicate"):
            held = self.live_held().get(id_)
            if held is None:
                raise InvalidRequest(f"no held message {id_} at {self.host.node_id}")
            if action == "duplicate":
                self.held[next(self._ids)] = replace(held)
                return
            del self.held[id_]
            if action == "deliver":
                if held.kind == "reply":
                    del self.outstanding[held.request]
                held.run()
                self.host.drain_all()
        elif action == "timeout":
            sent = self.outstanding.pop(id_, None)
            if sent is None:
                raise InvalidRequest(f"{self.host.node_id} waits on no request {id_}")
            self.held = {i: h for i, h in self.held.items() if h.request != id_}
            sent.fail()
        elif action == "persist":
            if slot.pump.writing is None or not self.hold_writes or self._permit.is_set():
                raise InvalidRequest(f"{self.host.node_id} has no write waiting to persist")
            self._permit.set()
        elif action == "crash":
            self.crash(cut)
        else:
            self.submit(command)

    async def may_write(self) -> None:
        """Called by the pump before each write: a held node's waits for a persist step."""
        if self.hold_writes:
            await self._permit.wait()
            self._permit.clear()

    def crash(self, cut: int) -> None:
        """Die now, as ``kill -9`` would; with ``cut >= 0``, inside the write under way:
        each file it grows keeps its first ``cut`` new bytes (a torn write)."""
        slot = self.host.main
        write = slot.pump.writing
        if cut >= 0:
            if write is None or self._permit.is_set():
                raise InvalidRequest(f"{self.host.node_id} has no write waiting to tear")
            self.fs.cut = cut
            try:
                slot.storage.save(write.records)
            except Exception as e:  # a torn write may fail half-way: so be it
                log.info("torn write stopped: %r", e)
        print(f"node {self.host.node_id}: stepped crash (cut {cut}): exiting as if killed",
              file=sys.stderr, flush=True)
        os._exit(CRASH_EXIT_CODE)

    def submit(self, index: int) -> None:
        """The model's command ``index``, to the core as request ``index`` (as the
        explorer submits it): its answer is kept for ``StepState``."""
        if not 0 <= index < len(self.commands):
            raise InvalidRequest(f"the model has {len(self.commands)} commands, not {index}")
        slot = self.host.main
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        slot.answers[index] = fut
        try:
            slot.core.submit(index, self.commands[index])
        except ProtocolError as e:
            slot.answers.pop(index, None)
            self.answers[index] = (False, type(e).__name__)
            return
        fut.add_done_callback(lambda f: self._answered(index, f))
        slot.input()
        slot.drain()

    def _answered(self, index: int, fut: asyncio.Future[Any]) -> None:
        error = fut.exception()
        self.answers[index] = ((False, type(error).__name__) if error is not None
                               else (True, repr(fut.result())))

    # ------------------------------------------------------------------ what the driver reads
    def busy(self) -> bool:
        """Still acting on the last step: an output not yet acted on, or a write on its
        way to the disk (not one waiting for its persist step)."""
        pump = self.host.main.pump
        return pump.needs_step or (pump.writing is not None and
                                   (not self.hold_writes or self._permit.is_set()))

    def writing(self) -> bool:
        return self.host.main.pump.writing is not None

    def core_encoding(self) -> str:
        """The core's canonical encoding, with the model's names for this machine's."""
        return repr(rename(canon(self.host.main.core, self.ignore), self._names))


class CuttingFileSystem:
    """The node's file system; during a torn crash (``Stepper.crash``) a file opened for
    appending keeps at most ``cut`` of the bytes written to it."""

    def __init__(self, inner: FileSystem) -> None:
        self.inner = inner
        self.cut: int | None = None

    def exists(self, path: str) -> bool:
        return self.inner.exists(path)

    def read(self, path: str) -> bytes:
        return self.inner.read(path)

    def open_append(self, path: str) -> WritableFile:
        return _CutFile(self, self.inner.open_append(path))

    def write_atomic(self, path: str, data: bytes) -> None:
        if self.cut is None:  # a torn crash: an atomic replace either happened or not
            self.inner.write_atomic(path, data)

    def remove(self, path: str) -> None:
        self.inner.remove(path)

    def makedirs(self, path: str) -> None:
        self.inner.makedirs(path)

    def listdir(self, path: str) -> list[str]:
        return self.inner.listdir(path)


class _CutFile:
    def __init__(self, fs: CuttingFileSystem, inner: WritableFile) -> None:
        self.fs, self.inner = fs, inner
        self.torn = 0  # bytes written since the torn crash began

    def write(self, data: bytes) -> None:
        if self.fs.cut is None:
            self.inner.write(data)
            return
        room = max(0, self.fs.cut - self.torn)
        self.torn += len(data)
        if room:
            self.inner.write(data[:room])

    def fsync(self) -> None:
        self.inner.fsync()

    def truncate(self, size: int) -> None:
        self.inner.truncate(size)

    def size(self) -> int:
        return self.inner.size()

    def close(self) -> None:
        self.inner.close()
