"""A small but real protocol for the simulator's own tests: primary-backup replication.

The first node (sorted) is the primary. A write is appended to the primary's log,
fsynced through the WAL, sent to every backup (which fsyncs and acknowledges), and
committed once a majority holds it; then it is applied in log order and answered.
Reads are served by the primary from committed state. Client sessions (client id + seq)
make retried writes apply once. ``unsafe=True`` skips the fsync before replying — the
bug the simulated disk exists to catch.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from protocols.check.invariants import check_agreement
from protocols.common.errors import NotLeader
from protocols.common.fs import FileSystem
from protocols.common.ids import NodeId
from protocols.common.outbox import Answer, Envelope, Ready
from protocols.common.wal import SyncPolicy, WriteAheadLog
from protocols.runtime.core import NodeParts, NodeStatusInfo
from protocols.sim.world import World


@dataclass(frozen=True, slots=True)
class Replicate:
    index: int
    entry: tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class Ack:
    index: int


class ToyStorage:
    def __init__(self, wal: WriteAheadLog) -> None:
        self.wal = wal

    def save(self, records: Sequence[Any]) -> None:
        self.wal.append([json.dumps(r).encode() for r in records])

    def close(self) -> None:
        self.wal.close()


class ToyCore:
    def __init__(self, node_id: NodeId, peers: Sequence[NodeId], log: list[tuple[Any, ...]],
                 primary: NodeId) -> None:
        self.node_id = node_id
        self.peers = sorted(peers)
        self.primary = primary
        self.log = log  # entries: ("put"|"cas", key, arg, client, seq)
        self.commit_index = len(log) if node_id == primary else 0
        self.kv: dict[str, Any] = {}
        self.sessions: dict[str, tuple[int, Any]] = {}
        self.acks: dict[int, set[NodeId]] = {}
        self.waiting: dict[int, Any] = {}
        self.ticks = 0
        self._ready = Ready()
        for entry in log[: self.commit_index]:
            self._apply(entry)

    def _apply(self, entry: tuple[Any, ...]) -> Any:
        op, key, arg, client, seq = entry
        last = self.sessions.get(client)
        if last is not None and last[0] >= seq:
            return last[1]
        if op == "put":
            self.kv[key] = arg
            result: Any = None
        else:
            expected, new = arg
            result = self.kv.get(key) == expected
            if result:
                self.kv[key] = new
        self.sessions[client] = (seq, result)
        return result

    def tick(self) -> None:
        self.ticks += 1
        if self.node_id == self.primary and self.ticks % 10 == 0:
            for index in range(self.commit_index + 1, len(self.log) + 1):
                for peer in self.peers:  # resend what is not yet acknowledged
                    if peer not in self.acks.get(index, set()):
                        self._ready.messages.append(
                            Envelope(peer, Replicate(index, self.log[index - 1])))

    def on_message(self, src: NodeId, msg: Any) -> Any:
        assert isinstance(msg, Replicate)
        if msg.index == len(self.log) + 1:
            self.log.append(msg.entry)
            self._ready.persist.append(list(msg.entry))
        return Ack(msg.index) if msg.index <= len(self.log) else None

    def on_reply(self, src: NodeId, request: Any, reply: Any) -> None:
        self.acks.setdefault(reply.index, set()).add(src)
        self._advance()

    def on_send_failed(self, dst: NodeId, request: Any) -> None:
        return None  # resent on a later tick

    def _advance(self) -> None:
        majority = (len(self.peers) + 1) // 2 + 1
        while (self.commit_index < len(self.log) and
               len(self.acks.get(self.commit_index + 1, set())) + 1 >= majority):
            self.commit_index += 1
            result = self._apply(self.log[self.commit_index - 1])
            self._ready.applied.append(self.log[self.commit_index - 1])
            rid = self.waiting.pop(self.commit_index, None)
            if rid is not None:
                self._ready.answers.append(Answer(rid, result))

    def submit(self, request_id: Any, command: Any) -> None:
        if self.node_id != self.primary:
            self._ready.answers.append(Answer(request_id, error=NotLeader(self.primary)))
            return
        op, key, arg, client, seq = command
        if op == "get":
            self._ready.answers.append(Answer(request_id, self.kv.get(key)))
            return
        last = self.sessions.get(client)
        if last is not None and last[0] >= seq:
            self._ready.answers.append(Answer(request_id, last[1]))
            return
        entry = (op, key, arg, client, seq)
        self.log.append(entry)
        self._ready.persist.append(list(entry))
        self.waiting[len(self.log)] = request_id
        for peer in self.peers:
            self._ready.messages.append(Envelope(peer, Replicate(len(self.log), entry)))
        self._advance()

    def ready(self) -> Ready:
        ready, self._ready = self._ready, Ready()
        return ready

    def status(self) -> NodeStatusInfo:
        role = "leader" if self.node_id == self.primary else "backup"
        return NodeStatusInfo(role=role, epoch=1, leader_id=self.primary,
                              commit_index=self.commit_index)


class ToySpec:
    name = "toy"

    def __init__(self, unsafe: bool = False) -> None:
        self.unsafe = unsafe

    def create_node(self, node_id: NodeId, peers: Sequence[NodeId], fs: FileSystem,
                    data_dir: str, rng: random.Random, options: Mapping[str, Any]) -> NodeParts:
        sync = SyncPolicy.NEVER if self.unsafe else SyncPolicy.ALWAYS
        wal, records = WriteAheadLog.open(fs, f"{data_dir}/log", sync=sync)
        log = [tuple(json.loads(r)) for r in records]
        primary = sorted([node_id, *peers])[0]
        return NodeParts(ToyCore(node_id, peers, log, NodeId(primary)), ToyStorage(wal))


def logs_agree(world: World) -> None:
    check_agreement({n: dict(enumerate(map(tuple, node.core.log), 1))  # type: ignore[union-attr]
                     for n, node in world.nodes.items() if node.up})


class ToyAdapter:
    def __init__(self, unsafe: bool = False) -> None:
        self.name = "tests.sim.toy:UNSAFE" if unsafe else "tests.sim.toy:ADAPTER"
        self.spec = ToySpec(unsafe)

    def invariants(self) -> list[Callable[[World], None]]:
        return [logs_agree]

    def message_size(self, msg: Any) -> int:
        return len(repr(msg))

    def kv_command(self, f: str, key: str, value: Any, client_id: str, seq: int) -> Any:
        if f == "cas":
            return ("cas", key, list(value), client_id, seq)
        return (f, key, value, client_id, seq)

    def kv_outcome(self, f: str, answer: Answer) -> tuple[str, Any, str | None]:
        if isinstance(answer.error, NotLeader):
            return "redirect", None, answer.error.leader_hint
        if answer.error is not None:
            return "fail", None, str(answer.error)
        return "ok", answer.result, None


ADAPTER = ToyAdapter()
UNSAFE = ToyAdapter(unsafe=True)
