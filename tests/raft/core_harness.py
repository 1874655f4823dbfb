"""A tiny deterministic router for driving several Raft cores directly (no simulator).

Each core's outbox goes through the contract's ``Pump`` (persist -> send -> apply ->
answer, writes completing at once). Messages wait in one FIFO queue; ``deliver_one``
hands a request to its destination's ``on_message``, pumps that node (so its state is
persisted before the reply leaves), then feeds the reply to the sender's ``on_reply``.
A cut link drops the request and reports ``on_send_failed`` to the sender.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from protocols.common.ids import NodeId
from protocols.contract import Answer, Envelope, Pump, PumpActions, Reply
from protocols.raft.core import RaftCore, RaftOptions, Role
from protocols.raft.messages import AppendEntries, Entry

TICK_S = 0.01


@dataclass
class Net:
    cores: dict[str, RaftCore]
    queue: deque[tuple[str, str, Any]] = field(default_factory=deque)
    cut: set[tuple[str, str]] = field(default_factory=set)
    answers: dict[str, list[Answer]] = field(default_factory=dict)
    applied: dict[str, list[Entry]] = field(default_factory=dict)
    sent: list[tuple[str, str, Any]] = field(default_factory=list)
    persisted: dict[str, list[Any]] = field(default_factory=dict)
    pumps: dict[str, Pump] = field(default_factory=dict)
    now_s: float = 0.0  # the one clock every core reads; tick() advances it by TICK_S
    hold: Callable[[Any], bool] = lambda msg: False  # messages matching it wait in held
    held: list[tuple[str, str, Any]] = field(default_factory=list)

    @classmethod
    def create(cls, n: int, seed: int = 1, **options: Any) -> Net:
        ids = [f"n{i}" for i in range(1, n + 1)]
        opts = RaftOptions.from_mapping(options)
        net = cls({})
        net.cores = {i: RaftCore(NodeId(i), [NodeId(p) for p in ids if p != i],
                                 random.Random(f"{seed}-{i}"), opts, clock=lambda: net.now_s,
                                 tick_s=TICK_S) for i in ids}
        cores = net.cores
        for i, core in cores.items():
            net.pumps[i] = Pump(core, PumpActions(
                send=lambda env, i=i: net._send(i, env),  # type: ignore[misc]
                reply=net._no_deferred_replies,
                apply=net.applied.setdefault(i, []).append,
                answer=net.answers.setdefault(i, []).append))
            net.persisted[i] = []
        return net

    def _send(self, node: str, env: Envelope) -> None:
        self.sent.append((node, str(env.dst), env.msg))
        if self.hold(env.msg):  # delayed in the network until the test delivers it
            self.held.append((node, str(env.dst), env.msg))
        else:
            self.queue.append((node, str(env.dst), env.msg))

    @staticmethod
    def _no_deferred_replies(reply: Reply) -> None:
        raise AssertionError(f"Raft sent a deferred reply: {reply}")

    def drain(self, node: str) -> None:
        """The core of ``node`` took an input: pump its outbox (writes are instant)."""
        pump = self.pumps[node]
        pump.note_input()
        pump.run_sync(self.persisted[node].extend)

    def isolate(self, node: str) -> None:
        for other in self.cores:
            if other != node:
                self.cut |= {(node, other), (other, node)}

    def heal(self) -> None:
        self.cut.clear()

    def deliver_one(self) -> None:
        src, dst, msg = self.queue.popleft()
        if (src, dst) in self.cut or (dst, src) in self.cut:
            self.cores[src].on_send_failed(NodeId(dst), msg)
            self.drain(src)
            return
        reply = self.cores[dst].on_message(NodeId(src), msg)
        self.drain(dst)
        if reply is not None:
            self.cores[src].on_reply(NodeId(dst), msg, reply)
            self.drain(src)

    def deliver_all(self, limit: int = 10_000) -> None:
        for _ in range(limit):
            if not self.queue:
                return
            self.deliver_one()
        raise AssertionError(f"messages still flowing after {limit} deliveries")

    def stall(self, seconds: float) -> None:
        """Real time passes and nobody ticks (every process paused, or these ticks lost)."""
        self.now_s += seconds

    def tick(self, nodes: list[str] | None = None, times: int = 1) -> None:
        """One tick of real time passes; ``nodes`` (default: all) take it."""
        for _ in range(times):
            self.now_s += TICK_S
            for node in sorted(nodes or self.cores):
                self.cores[node].tick()
                self.drain(node)
            self.deliver_all()

    def leaders(self) -> list[str]:
        return sorted(i for i, c in self.cores.items() if c.role == Role.LEADER)

    def wait_leader(self, nodes: list[str] | None = None, max_ticks: int = 500) -> str:
        """Tick until exactly one leader among ``nodes``; fail saying what was seen."""
        group = nodes or sorted(self.cores)
        for _ in range(max_ticks):
            self.tick(group)
            found = [i for i in group if self.cores[i].role == Role.LEADER]
            if len(found) == 1:
                return found[0]
        roles = {i: (self.cores[i].role, self.cores[i].current_term) for i in group}
        raise AssertionError(f"no single leader among {group} in {max_ticks} ticks: {roles}")

    def submit(self, node: str, request_id: Any, command: Any) -> None:
        self.cores[node].submit(request_id, command)
        self.drain(node)
        self.deliver_all()

    def answer(self, node: str, request_id: Any) -> Answer | None:
        for a in self.answers.get(node, []):
            if a.request_id == request_id:
                return a
        return None

    def append_count(self) -> int:
        return sum(1 for _, _, m in self.sent if isinstance(m, AppendEntries))
