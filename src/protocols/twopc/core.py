"""A 2PC node: a coordinator, a participant (one shard of the KV store), or both.

Roles (``ProtocolSpec.roles``): a node given the role "coordinator" runs transactions, one
given "participant" owns a shard. Without roles the first node (sorted) coordinates and
the others are participants; ``coordinators="every"`` makes every node both. The shards
are the participants, sorted: a key belongs to ``shard_of(key, participants)``.

Messages are routed by kind: PREPARE and decisions go to the participant, votes and acks
to the coordinator; an inquiry goes to the transaction's coordinator when this node is
it (a transaction id names its coordinator), else to the participant (a peer asking,
BHG §7.4's cooperative termination). ``commit_protocol="3pc"`` runs three-phase commit
(Skeen 1981): PRECOMMIT goes to the participant; a PRECOMMIT-ACK to the participant when
it leads the termination protocol for that transaction, else to the coordinator; the
termination protocol's StateRequest and StateReport always to the participant. Read
``table.py`` first, then ``participant.py`` and ``coordinator.py``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from protocols.common.errors import ConfigError, InvalidRequest
from protocols.common.ids import NodeId
from protocols.common.options import Options, option
from protocols.contract import Core, NodeStatus, Ready
from protocols.twopc.coordinator import Coordinator
from protocols.twopc.messages import (
    Ack,
    Decision,
    Inquiry,
    Outcome,
    PreCommit,
    PreCommitAck,
    Prepare,
    StateReport,
    StateRequest,
    Transact,
    Vote,
)
from protocols.twopc.participant import Participant
from protocols.twopc.storage import Recovered, Started
from protocols.twopc.table import Mode, Presumption, State

__all__ = ["CommitProtocol", "Coordinators", "TwoPcCore", "TwoPcOptions", "assignment"]


class CommitProtocol(enum.StrEnum):
    TWO_PHASE = "2pc"  # Gray 1978: blocks when the coordinator dies after the votes
    THREE_PHASE = "3pc"  # Skeen 1981: does not block on site failures; splits on partitions


class Coordinators(enum.StrEnum):
    ONE = "one"  # the node given the role, else the first: the others are participants
    EVERY = "every"  # every node coordinates and owns a shard


@dataclass(frozen=True, slots=True)
class TwoPcOptions(Options):
    protocol = "2PC"

    commit_protocol: CommitProtocol = option(
        CommitProtocol.TWO_PHASE, "2pc (Gray 1978) or 3pc (Skeen 1981: a PRECOMMIT phase "
        "and a termination protocol among the participants; presumed abort only)")
    presume: Presumption = option(Presumption.ABORT, "what a coordinator that forgot a "
                                  "transaction answers (Mohan et al. 1986)")
    coordinators: Coordinators = option(Coordinators.ONE, "who coordinates: one node, or "
                                        "every node (each also owns a shard)")
    vote_timeout_ticks: int = option(50, "a coordinator aborts a transaction whose votes "
                                     "are not all in after this many ticks", min=1)
    resend_ticks: int = option(20, "a coordinator resends an unacknowledged decision this "
                               "often", min=1)
    lock_timeout_ticks: int = option(20, "a PREPARE whose locks are not granted in this "
                                     "many ticks votes NO", min=1)
    inquiry_ticks: int = option(20, "an uncertain participant asks its coordinator and "
                                "peers this often", min=1)
    termination_ticks: int = option(100, "3pc: a participant that voted YES and hears "
                                    "nothing this long starts (and then repeats) the "
                                    "termination protocol; keep it above "
                                    "vote_timeout_ticks: Skeen's 3PC is safe only while a "
                                    "timeout means a failure", min=1)
    fsync: bool = option(True, "fsync every write (false: a crash may break a promise)")

    def validate(self, members: tuple[str, ...]) -> None:
        if self.commit_protocol is CommitProtocol.THREE_PHASE and \
                self.presume is not Presumption.ABORT:
            raise ConfigError(
                "commit_protocol=3pc runs with presume=abort only: 3PC's participants "
                "terminate without the coordinator (Skeen 1981), so a coordinator that "
                "recovers cannot answer by presumption, and presumed commit's COLLECTING "
                "record would only let it abort what they committed")

    @property
    def mode(self) -> Mode:
        return Mode(self.commit_protocol is CommitProtocol.THREE_PHASE, self.presume)


def assignment(members: Sequence[str], roles: Mapping[str, str], options: TwoPcOptions
               ) -> tuple[list[str], list[str]]:
    """(coordinators, participants) of a cluster."""
    members = sorted(members)
    if options.coordinators is Coordinators.EVERY:
        return members, members
    coordinators = [n for n in members if roles.get(n) == "coordinator"] or members[:1]
    participants = [n for n in members if n not in coordinators]
    return coordinators, participants


class TwoPcCore(Core):
    def __init__(self, node_id: NodeId, peers: Sequence[NodeId], options: TwoPcOptions,
                 recovered: Recovered, roles: Mapping[str, str]) -> None:
        self.node_id = node_id
        self.options = options
        self.mode = options.mode
        self._ready = Ready()
        coordinators, participants = assignment([node_id, *peers], roles, options)
        self.participants = tuple(participants)
        self.coordinators = tuple(coordinators)
        self.coordinator: Coordinator | None = None
        self.participant: Participant | None = None
        if node_id in participants:
            self.participant = Participant(node_id, self.mode, recovered, self.outbox,
                                           options.lock_timeout_ticks, options.inquiry_ticks,
                                           options.termination_ticks)
        if node_id in coordinators:
            self.coordinator = Coordinator(node_id, self.mode, participants, recovered,
                                           self.outbox, options.vote_timeout_ticks,
                                           options.resend_ticks)
            # this life's number is durable before any transaction id carrying it leaves
            self._ready.persist.insert(0, Started(self.coordinator.life))

    def outbox(self) -> Ready:
        return self._ready

    # ------------------------------------------------------------------ Core
    def tick(self) -> None:
        if self.coordinator is not None:
            self.coordinator.tick()
        if self.participant is not None:
            self.participant.tick()

    def submit(self, request_id: Any, command: Any) -> None:
        if not isinstance(command, Transact):
            raise InvalidRequest(f"2PC takes transactions, not {type(command).__name__}")
        if self.coordinator is None:
            raise InvalidRequest(f"{self.node_id} does not coordinate: send transactions "
                                 "to a coordinator")
        self.coordinator.submit(request_id, command)

    def on_message(self, src: NodeId, msg: Any) -> Any:
        if isinstance(msg, Prepare):
            self._participant(msg).on_prepare(src, msg)
        elif isinstance(msg, Decision):
            self._participant(msg).on_decision(src, msg)
        elif isinstance(msg, Outcome):
            self._participant(msg).on_outcome(src, msg)
        elif isinstance(msg, Vote):
            self._coordinator(msg).on_vote(src, msg)
        elif isinstance(msg, Ack):
            self._coordinator(msg).on_ack(src, msg)
        elif isinstance(msg, PreCommit):
            self._participant(msg).on_precommit(src, msg)
        elif isinstance(msg, PreCommitAck):
            if self.participant is not None and self.participant.leads(msg.txn):
                self.participant.on_precommit_ack(src, msg)
            else:
                self._coordinator(msg).on_precommit_ack(src, msg)
        elif isinstance(msg, StateRequest):
            self._participant(msg).on_state_request(src, msg)
        elif isinstance(msg, StateReport):
            self._participant(msg).on_state_report(src, msg)
        elif isinstance(msg, Inquiry):
            if self.coordinator is not None and msg.txn.startswith(f"{self.node_id}."):
                self.coordinator.on_inquiry(src, msg)
            else:
                self._participant(msg).on_inquiry(src, msg)
        else:
            raise InvalidRequest(f"2PC: unknown message {type(msg).__name__}")
        return None

    def ready(self) -> Ready:
        out, self._ready = self._ready, Ready()
        return out

    def status(self) -> NodeStatus:
        roles = [r for r, part in (("coordinator", self.coordinator),
                                   ("participant", self.participant)) if part is not None]
        if self.participant is not None and self.participant.stuck():
            roles[-1] = "participant in doubt"  # its band in the space-time diagram
        # the routing table, for clients: shards sorted (a key's is crc32 mod their count)
        details: dict[str, str] = {"shards": ",".join(self.participants),
                                   "coordinators": ",".join(self.coordinators)}
        if self.coordinator is not None:
            c = self.coordinator
            details.update(active=str(len(c.txns)), committed=str(c.committed),
                           aborted=str(c.aborted), life=str(c.life))
        if self.participant is not None:
            p = self.participant
            details.update(keys=str(len(p.data)), in_doubt=",".join(p.in_doubt()),
                           locked=str(len(p.locks.held)), waiting=str(len(p.locks.waiting)),
                           blocked_ticks=str(p.blocked_ticks))
            if self.mode.three_phase:
                details["precommitted"] = ",".join(sorted(
                    t.txn for t in p.txns.values() if t.state is State.PRECOMMITTED))
        return NodeStatus("+".join(roles), self.coordinator.life if self.coordinator else 0,
                          details=details)

    def _participant(self, msg: Any) -> Participant:
        if self.participant is None:
            raise InvalidRequest(f"{self.node_id} owns no shard: {type(msg).__name__} is "
                                 "for a participant")
        return self.participant

    def _coordinator(self, msg: Any) -> Coordinator:
        if self.coordinator is None:
            raise InvalidRequest(f"{self.node_id} does not coordinate: {type(msg).__name__} "
                                 "is for a coordinator")
        return self.coordinator

