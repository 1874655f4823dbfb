"""Drive any protocol's cores by hand: a test chooses every step.

The simulator picks a schedule from a seed; a schedule found by reading the code (a crash
between a message leaving and its write reaching disk, a reply arriving after an
election timeout) is easier to state step by step. ``ByHand`` builds real nodes through
the protocol's ``ProtocolSpec.create_node`` — real storage on a simulated disk, recovered
on restart — and runs each one's outbox through the contract's ``Pump``. Nothing moves
unless the test says so:

* ``submit``, ``tick`` and ``deliver`` give a node one input and pump it;
* requests and replies wait in ``flight`` until ``deliver(match)`` hands one over (a
  request's reply joins ``flight`` once the receiver's write of it is durable);
* with ``hold_writes(n)`` a node's writes wait in ``pending`` (messages marked
  ``ahead_of_persist`` have already left) until ``complete_write(n)``; ``crash(n)``
  loses them, as a power cut loses what was not fsynced.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from protocols.common.ids import NodeId
from protocols.contract import (
    Answer,
    Core,
    Envelope,
    Inbox,
    NodeContext,
    ProtocolSpec,
    Pump,
    PumpActions,
    Storage,
    Write,
)
from protocols.sim.disk import SimFileSystem

__all__ = ["ByHand", "InFlight"]


@dataclass(slots=True)
class InFlight:
    """A request on its way to ``dst``, or (``reply`` set) its reply on its way back to
    ``src``."""

    src: str
    dst: str
    msg: Any
    src_incarnation: int
    reply: Any = None

    @property
    def is_reply(self) -> bool:
        return self.reply is not None

    def __repr__(self) -> str:
        if self.is_reply:
            return f"<reply {self.dst}->{self.src} {self.reply!r} to {self.msg!r}>"
        return f"<request {self.src}->{self.dst} {self.msg!r}>"


@dataclass(slots=True)
class _Node:
    fs: SimFileSystem = field(default_factory=SimFileSystem)
    core: Core | None = None
    storage: Storage | None = None
    pump: Pump | None = None
    incarnation: int = 0
    hold: bool = False
    pending: Write | None = None
    inbox: Inbox | None = None  # the contract's receiving side (deferred replies owed)


class ByHand:
    def __init__(self, spec: ProtocolSpec, nodes: int, seed: int = 1,
                 options: Mapping[str, Any] | None = None, tick_s: float = 0.01) -> None:
        self.spec = spec
        self.ids = [f"n{i}" for i in range(1, nodes + 1)]
        self.options = dict(options or {})
        spec.check_options(self.options, nodes)
        self.seed = seed
        self.tick_s = tick_s
        self.now_s = 0.0  # the clock every core reads
        self.nodes = {n: _Node() for n in self.ids}
        self.flight: list[InFlight] = []
        self.answers: dict[Any, Answer] = {}
        self.sent: list[InFlight] = []  # every request ever sent, in order
        for n in self.ids:
            self.start(n)

    # ------------------------------------------------------------------ nodes
    def core(self, n: str) -> Any:
        core = self.nodes[n].core
        if core is None:
            raise AssertionError(f"{n} is down")
        return core

    def start(self, n: str) -> None:
        node = self.nodes[n]
        node.incarnation += 1
        parts = self.spec.create_node(NodeContext(
            NodeId(n), tuple(NodeId(p) for p in self.ids if p != n), node.fs, f"/data/{n}",
            random.Random(f"{self.seed}/{n}/{node.incarnation}"), lambda: self.now_s,
            self.options, self.tick_s))
        node.core, node.storage, node.pending = parts.core, parts.storage, None
        node.inbox = inbox = Inbox(self.spec.messages)
        node.pump = Pump(parts.core, PumpActions(
            send=lambda env: self._send(n, env), reply=inbox.release,
            answer=lambda a: self.answers.__setitem__(a.request_id, a)))

    def crash(self, n: str) -> None:
        """Power cut: the process, its pending write and every unsynced byte are gone.
        Messages it already sent stay in flight; replies to it are lost."""
        node = self.nodes[n]
        node.core = node.storage = node.pump = node.pending = node.inbox = None
        node.hold = False  # the disk is fast again after the restart
        node.fs.crash()
        self.flight = [m for m in self.flight if not (m.is_reply and m.src == n)]

    def restart(self, n: str) -> None:
        self.crash(n)
        self.start(n)

    def hold_writes(self, n: str, hold: bool = True) -> None:
        """From now on n's writes wait for ``complete_write`` (a slow disk)."""
        self.nodes[n].hold = hold

    def complete_write(self, n: str) -> None:
        node = self.nodes[n]
        write, node.pending = node.pending, None
        if write is None:
            raise AssertionError(f"{n} has no write in flight")
        assert node.storage is not None and node.pump is not None
        node.storage.save(write.records)
        node.pump.write_done()
        self._pump(n)

    # ------------------------------------------------------------------ inputs
    def submit(self, n: str, request_id: Any, command: Any) -> None:
        self.core(n).submit(request_id, command)
        self._input(n)

    def tick(self, n: str, times: int = 1) -> None:
        for _ in range(times):
            self.now_s += self.tick_s
            self.core(n).tick()
            self._input(n)

    def tick_all(self, times: int = 1, nodes: list[str] | None = None) -> None:
        """``times`` ticks of real time; the up nodes among ``nodes`` take each."""
        for _ in range(times):
            self.now_s += self.tick_s
            for n in nodes or self.ids:
                if self.nodes[n].core is not None:
                    self.core(n).tick()
                    self._input(n)

    def find(self, match: Callable[[InFlight], bool]) -> list[InFlight]:
        return [m for m in self.flight if match(m)]

    def deliver(self, match: Callable[[InFlight], bool]) -> InFlight:
        """Hand over the first message in flight that ``match`` accepts."""
        found = self.find(match)
        if not found:
            raise AssertionError(f"no message in flight matches; in flight: {self.flight}")
        m = found[0]
        self.flight.remove(m)
        if m.is_reply:
            src = self.nodes[m.src]
            if src.core is not None and src.incarnation == m.src_incarnation:
                src.core.on_reply(NodeId(m.dst), m.msg, m.reply)
                self._input(m.src)
            return m
        self._request(m)
        return m

    def deliver_all(self, match: Callable[[InFlight], bool] = lambda m: True,
                    limit: int = 100_000) -> int:
        """Deliver matching messages (and what they cause) until none is left."""
        for count in range(limit):
            if not self.find(match):
                return count
            self.deliver(match)
        raise AssertionError(f"messages still flowing after {limit} deliveries")

    def drop(self, match: Callable[[InFlight], bool]) -> int:
        """Lose every matching message; a lost request's sender hears on_send_failed."""
        lost = self.find(match)
        self.flight = [m for m in self.flight if m not in lost]
        for m in lost:
            src = self.nodes[m.src]
            if src.core is not None and src.incarnation == m.src_incarnation:
                src.core.on_send_failed(NodeId(m.dst), m.msg)
                self._input(m.src)
        return len(lost)

    # ------------------------------------------------------------------ plumbing
    def _request(self, m: InFlight) -> None:
        """Through the contract's Inbox, as both drivers do: a reply joins the messages
        in flight once what produced it is durable (a deferred one when the core emits
        it); a dropped request, and a one-way message, get none."""
        node = self.nodes[m.dst]
        if node.pump is None or node.inbox is None:
            return  # the destination is down: the request is lost
        inc = node.incarnation

        def respond(reply: Any) -> None:
            if self.nodes[m.dst].incarnation == inc:
                self.flight.append(InFlight(m.src, m.dst, m.msg, m.src_incarnation, reply))

        node.inbox.receive(node.pump, NodeId(m.src), m.msg, respond)
        self._pump(m.dst)

    def _send(self, n: str, env: Envelope) -> None:
        m = InFlight(n, str(env.dst), env.msg, self.nodes[n].incarnation)
        self.flight.append(m)
        self.sent.append(m)

    def _input(self, n: str) -> None:
        pump = self.nodes[n].pump
        assert pump is not None
        pump.note_input()
        self._pump(n)

    def _pump(self, n: str) -> None:
        node = self.nodes[n]
        pump, storage = node.pump, node.storage
        if pump is None or storage is None:
            return
        while pump.needs_step:
            write = pump.step()
            if write is None:
                continue
            if node.hold:
                node.pending = write
                return
            storage.save(write.records)
            pump.write_done()
