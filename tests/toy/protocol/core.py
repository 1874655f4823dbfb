"""A small but real protocol: primary-backup replication of the KV store.

The worked example of ``docs/adding-a-protocol.md``: a small core that uses the parts of
the contract (``protocols.contract``) a replicated log needs — every message kind,
``ahead_of_persist`` with ``on_persisted``, trace lines, options — and the shared
replicated-state-machine helper (``protocols.kv.rsm``), on real processes and in the
simulator. (What it has no use for is shown elsewhere: the guide says where.)

The node given the role "primary" is the primary (a cluster file's ``nodes.<id>.role``,
``cluster up --role n2=primary``, ``World(roles=...)``), else the first node (sorted); it
never changes (no failover: this is a toy). A backup added while the cluster runs is
caught up from the first entry by the primary's resends (``on_peers_changed``); one
removed is no longer waited for.
A write is appended to the primary's log and sent to every backup (``Replicate``) while
the primary's own fsync is still running (``ahead_of_persist``); a backup fsyncs it and
acknowledges (``Ack``, held by the pump until durable). Once a majority holds it (the
primary's copy counts from ``on_persisted`` on), the primary commits it, applies it in log
order, answers the client, and tells backups how far to apply (``Committed``, one-way). A client
command that reaches a backup is forwarded to the primary (``Forward``), whose reply is
*deferred* until the command is applied. Reads are served by the primary from committed
state. ``unsafe=True`` acknowledges before fsync: the bug the simulated disk catches.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from protocols.common.errors import InvalidRequest, ProtocolError, SessionExpired, Unavailable
from protocols.common.ids import NodeId
from protocols.common.options import Options, option
from protocols.common.quorum import majority
from protocols.contract import Answer, Core, Deferred, Envelope, NodeStatus, Ready, Reply
from protocols.kv.commands import KvCommand, KvResult
from protocols.kv.rsm import ReplicatedKv
from tests.toy.protocol.messages import Ack, Committed, Forward, Forwarded, Replicate
from tests.toy.protocol.storage import LogEntry

__all__ = ["ToyCore", "ToyOptions"]

EPOCH = 1  # the primary never changes: one epoch for the whole run


@dataclass(frozen=True, slots=True)
class ToyOptions(Options):
    """What a cluster file may set (``protocols.common.options`` parses it)."""

    protocol = "toy"

    resend_ticks: int = option(10, "the primary resends what is unacknowledged, and "
                               "Committed, this often", min=1)
    resend_max: int = option(64, "entries resent to one backup per round", min=1)
    fsync: bool = option(True, "fsync every write (false: acknowledged writes may be lost)")


class ToyCore(Core):
    def __init__(self, node_id: NodeId, peers: Sequence[NodeId], log: list[bytes],
                 options: ToyOptions | None = None, primary: NodeId | None = None) -> None:
        self.node_id = node_id
        self.peers = sorted(peers)
        self.primary = primary or NodeId(min([node_id, *peers]))
        self.options = options or ToyOptions()
        self.log = log
        self.durable = len(log)  # entries of our own log on disk (what recovery found is)
        self._unsaved: deque[int] = deque()  # log length at each drained, unsaved persist
        self.kv = ReplicatedKv()
        self.commit_index = 0
        self.match = {p: 0 for p in self.peers}  # the primary's view: what each backup holds
        self.deferred: dict[int, Deferred] = {}  # index -> reply owed to a forwarding backup
        self.forwards: dict[int, Any] = {}  # forward id -> the client request it carries
        self.next_forward = 0
        self.ticks = 0
        # what the contract promises, counted so tests can compare the host and the sim
        self.counts = {"one_way_received": 0, "deferred_replies": 0, "forwards_answered": 0,
                       "send_failed.Replicate": 0, "send_failed.Forward": 0,
                       "send_failed.Committed": 0}
        self._ready = Ready()
        if self.is_primary:  # what it logged before a crash may have been acknowledged
            self._commit(len(log))

    @property
    def is_primary(self) -> bool:
        return self.node_id == self.primary

    # ------------------------------------------------------------------ inputs
    def tick(self) -> None:
        self.ticks += 1
        if self.is_primary and self.ticks % self.options.resend_ticks == 0:
            for peer in self.peers:
                first = self.match[peer] + 1
                last = min(len(self.log), first + self.options.resend_max - 1)
                for index in range(first, last + 1):
                    self._send(peer, Replicate(index, self.log[index - 1]))
                self._send(peer, Committed(self.commit_index))

    def submit(self, request_id: Any, command: Any) -> None:
        try:
            cmd = self.kv.command_of(command)
        except InvalidRequest as e:
            self._ready.answers.append(Answer(request_id, error=e))
            return
        if not self.is_primary:
            self.next_forward += 1
            self.forwards[self.next_forward] = request_id
            self._send(self.primary, Forward(self.next_forward, cmd.encode()))
        elif cmd.is_read:
            self._ready.answers.append(Answer(request_id, self.kv.read(cmd.key)))
        else:
            self.kv.propose(self._append(cmd), EPOCH, request_id)

    def on_message(self, src: NodeId, msg: Any) -> Any:
        match msg:
            case Replicate(index, command):
                if index == len(self.log) + 1:
                    self.log.append(command)
                    self._ready.persist.append(LogEntry(index, command))
                return Ack(index) if index <= len(self.log) else None  # None: a gap, dropped
            case Committed(commit_index):
                self.counts["one_way_received"] += 1
                self._commit(min(commit_index, len(self.log)))
                return None
            case Forward():
                return self._forwarded(msg)
        raise InvalidRequest(f"the toy protocol does not handle {type(msg).__name__}")

    def _forwarded(self, msg: Forward) -> Forwarded | Deferred:
        """A backup forwarded a client command: answer a read now, a write once applied."""
        if not self.is_primary:
            return Forwarded(error=f"{self.node_id} is not the primary")
        try:
            cmd = KvCommand.decode(msg.command)
        except (ValueError, TypeError, ProtocolError) as e:
            return Forwarded(error=f"malformed command: {e}")
        if cmd.is_read:
            return _forwarded(self.kv.read(cmd.key))
        deferred = Deferred(f"forward {msg.forward_id}")
        self.deferred[self._append(cmd)] = deferred
        return deferred

    def on_reply(self, src: NodeId, request: Any, reply: Any) -> None:
        match request, reply:
            case Replicate(), Ack(index):  # src holds every entry up to index
                self.match[src] = max(self.match.get(src, 0), index)
                self._advance()
            case Forward(forward_id), Forwarded():
                request_id = self.forwards.pop(forward_id, None)
                if request_id is None:
                    return
                self.counts["forwards_answered"] += 1
                error = InvalidRequest(reply.error) if reply.error else None
                self._ready.answers.append(Answer(request_id, KvResult(
                    reply.found, reply.value, reply.ok), error))
            case _:
                raise AssertionError(f"a reply to {request!r}: {reply!r}")

    def on_peers_changed(self, peers: tuple[NodeId, ...], roles: Mapping[NodeId, str]
                         ) -> None:
        """A backup joined (the primary's next resend replicates to it from entry 1) or
        left (no longer counted: the majority follows the configuration; what was
        committed stays committed). The primary itself never changes."""
        self.peers = sorted(peers)
        self.match = {p: self.match.get(p, 0) for p in self.peers}
        self._ready.trace.append(f"peers {','.join(self.peers)}")
        if self.is_primary:
            self._advance()

    def on_send_failed(self, dst: NodeId, request: Any) -> None:
        self.counts[f"send_failed.{type(request).__name__}"] += 1  # never a one-way message
        if isinstance(request, Forward):  # it may have been applied: the client retries
            request_id = self.forwards.pop(request.forward_id, None)
            if request_id is not None:
                self._ready.answers.append(Answer(request_id, error=Unavailable(
                    f"no answer from the primary {self.primary}")))
        # a Replicate is resent on a later tick

    # ------------------------------------------------------------------ the algorithm
    def _append(self, cmd: KvCommand) -> int:
        """Log a client's write and send it to every backup *while* our own write of it
        is still on its way to disk (``ahead_of_persist``: Raft thesis §10.2.1, a leader
        writes in parallel with its followers). Our own copy counts towards a majority
        only once ``on_persisted`` says it is durable."""
        self.log.append(cmd.encode())
        index = len(self.log)
        self._ready.persist.append(LogEntry(index, self.log[-1]))
        for peer in self.peers:
            self._send(peer, Replicate(index, self.log[-1]), ahead_of_persist=True)
        return index

    def on_persisted(self) -> None:
        """The oldest unsaved persist is on disk: our copy of its entries now counts."""
        self.durable = max(self.durable, self._unsaved.popleft())
        if self.is_primary:
            self._advance()

    def _advance(self) -> None:
        """Commit every entry a majority holds: each backup's acknowledged entries and
        our own durable ones (never an entry still being written here: a crash could
        lose it, and with it the majority that committed it)."""
        held = sorted([self.durable, *self.match.values()], reverse=True)
        index = held[majority(len(self.peers) + 1) - 1]  # what a majority of nodes holds
        if index > self.commit_index:
            self._commit(index)
            for peer in self.peers:
                self._send(peer, Committed(self.commit_index))

    def _commit(self, index: int) -> None:
        """Apply entries up to ``index``, answering whoever waits on each."""
        if index > self.commit_index:
            self._ready.trace.append(f"commit {self.commit_index + 1}..{index}")
        while self.commit_index < index:
            self.commit_index += 1
            i = self.commit_index
            result = self.kv.apply(i, EPOCH, self.log[i - 1], self._ready.answers)
            self._ready.applied.append(self.log[i - 1])
            deferred = self.deferred.pop(i, None)
            if deferred is not None:
                self.counts["deferred_replies"] += 1
                self._ready.replies.append(Reply(deferred, _forwarded(result)))

    def _send(self, peer: NodeId, msg: Any, ahead_of_persist: bool = False) -> None:
        self._ready.messages.append(Envelope(peer, msg, ahead_of_persist=ahead_of_persist))

    # ------------------------------------------------------------------ the driver interface
    def ready(self) -> Ready:
        ready, self._ready = self._ready, Ready()
        if ready.persist:  # on_persisted will report this one, in order
            self._unsaved.append(len(self.log))
        return ready

    def status(self) -> NodeStatus:
        details = {"commit_index": str(self.commit_index), "log_length": str(len(self.log)),
                   "durable": str(self.durable),
                   **{f"match.{p}": str(m) for p, m in self.match.items() if self.is_primary},
                   **{k: str(v) for k, v in self.counts.items()}}
        return NodeStatus(role="leader" if self.is_primary else "backup", epoch=EPOCH,
                          leader_id=self.primary, details=details, leading=self.is_primary)


def _forwarded(result: KvResult | SessionExpired) -> Forwarded:
    if isinstance(result, SessionExpired):  # the toy's clients open no sessions: a bug
        return Forwarded(error=str(result))
    return Forwarded(result.found, result.value, result.ok)
