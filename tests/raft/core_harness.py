"""A tiny deterministic router for driving several Raft cores directly (no simulator).

Messages wait in one FIFO queue; ``deliver_all`` hands each request to its destination's
``on_message``, persists that node's Ready before the reply leaves (the pump rule), then
feeds the reply to the sender's ``on_reply``. A cut link drops the request and reports
``on_send_failed`` to the sender.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from protocols.common.ids import NodeId
from protocols.common.outbox import Answer
from protocols.raft.core import LEADER, RaftCore, RaftOptions
from protocols.raft.messages import AppendEntries, Entry


@dataclass
class Net:
    cores: dict[str, RaftCore]
    queue: deque[tuple[str, str, Any]] = field(default_factory=deque)
    cut: set[tuple[str, str]] = field(default_factory=set)
    answers: dict[str, list[Answer]] = field(default_factory=dict)
    applied: dict[str, list[Entry]] = field(default_factory=dict)
    sent: list[tuple[str, str, Any]] = field(default_factory=list)

    @classmethod
    def create(cls, n: int, seed: int = 1, **options: Any) -> Net:
        ids = [f"n{i}" for i in range(1, n + 1)]
        opts = RaftOptions.from_mapping(options)
        cores = {i: RaftCore(NodeId(i), [NodeId(p) for p in ids if p != i],
                             random.Random(f"{seed}-{i}"), opts) for i in ids}
        return cls(cores)

    def drain(self, node: str) -> None:
        ready = self.cores[node].ready()
        if ready.persist:  # "written": the leader may now count its own copy
            self.cores[node].on_persisted()
            more = self.cores[node].ready()
            ready.messages += more.messages
            ready.applied += more.applied
            ready.answers += more.answers
        for env in ready.messages:
            self.queue.append((node, str(env.dst), env.msg))
            self.sent.append((node, str(env.dst), env.msg))
        self.applied.setdefault(node, []).extend(ready.applied)
        self.answers.setdefault(node, []).extend(ready.answers)

    def drain_all(self) -> None:
        for node in sorted(self.cores):
            self.drain(node)

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

    def tick(self, nodes: list[str] | None = None, times: int = 1) -> None:
        for _ in range(times):
            for node in sorted(nodes or self.cores):
                self.cores[node].tick()
                self.drain(node)
            self.deliver_all()

    def leaders(self) -> list[str]:
        return sorted(i for i, c in self.cores.items() if c.role == LEADER)

    def wait_leader(self, nodes: list[str] | None = None, max_ticks: int = 500) -> str:
        """Tick until exactly one leader among ``nodes``; fail saying what was seen."""
        group = nodes or sorted(self.cores)
        for _ in range(max_ticks):
            self.tick(group)
            found = [i for i in group if self.cores[i].role == LEADER]
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
