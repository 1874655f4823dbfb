"""Multi-Paxos messages, named as in "Paxos Made Moderately Complex" (van Renesse and
Altinbuken, 2015; PMMC below), read beside course chapter 26 and "Paxos Made Simple"
(Lamport, 2001). Each travels as the protobuf message of the same name
(protos/paxos.proto).

A *ballot* is a pair (round, leader id), ordered lexicographically, so two leaders never
use the same ballot. A *pvalue* is a triple (ballot, slot, command): command proposed in
that slot under that ballot.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "Ballot",
    "CatchUp",
    "CatchUpReply",
    "Decision",
    "Heartbeat",
    "HeartbeatReply",
    "P1a",
    "P1b",
    "P2a",
    "P2b",
    "PValue",
]


@dataclass(frozen=True, slots=True, order=True)
class Ballot:
    """PMMC §3: ballots are totally ordered; (round, leader_id) compared in that order."""

    round: int
    leader_id: str

    def __str__(self) -> str:
        return f"{self.round}.{self.leader_id}"


BOTTOM = Ballot(0, "")  # PMMC's ⊥: smaller than every real ballot


@dataclass(frozen=True, slots=True)
class PValue:
    """PMMC: ⟨b, s, c⟩, the command c proposed in slot s with ballot b."""

    ballot: Ballot
    slot: int
    command: bytes  # a KvCommand, encoded; b"" is a no-op that fills a hole


@dataclass(frozen=True, slots=True)
class P1a:
    """Phase 1a (a scout to every acceptor): adopt ``ballot``, tell me what you accepted
    in slots from ``from_slot`` on (earlier slots are decided and known to the leader)."""

    ballot: Ballot
    from_slot: int


@dataclass(frozen=True, slots=True)
class P1b:
    """Phase 1b: the acceptor's ballot (``ballot`` > the request's: preempted) and the
    pvalues it accepted from ``from_slot`` on; ``decided_upto``: every slot below it is
    decided and compacted at this acceptor's replica (it no longer answers for them)."""

    ballot: Ballot
    accepted: tuple[PValue, ...]
    decided_upto: int


@dataclass(frozen=True, slots=True)
class P2a:
    """Phase 2a (commanders to an acceptor): accept these pvalues. The commanders that
    start in one step of the leader travel together, one message per acceptor.
    ``slot_out``: every slot below it is decided (the leader's replica applied them); a
    replica whose acceptor accepted a slot's pvalue with this same ballot learns the
    decision from it (one ballot proposes one command per slot), as Raft's followers
    learn commits from leaderCommit. Other gaps are caught up (CatchUp)."""

    pvalues: tuple[PValue, ...]
    slot_out: int = 0


@dataclass(frozen=True, slots=True)
class P2b:
    """Phase 2b: the acceptor's ballot, and the slots it accepted (with that ballot)."""

    ballot: Ballot
    slots: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Decision:
    """PMMC ⟨decision, s, c⟩: command c is decided in slot s."""

    slot: int
    command: bytes


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """The active leader, every heartbeat interval: I lead with ``ballot``; my replica
    has decided every slot below ``slot_out``. Followers use it to detect a failed
    leader, to learn decisions (as from P2a) and to notice they lag."""

    ballot: Ballot
    slot_out: int


@dataclass(frozen=True, slots=True)
class HeartbeatReply:
    """The follower's acceptor ballot (higher: the leader is preempted)."""

    ballot: Ballot


@dataclass(frozen=True, slots=True)
class CatchUp:
    """A lagging replica asks for the decisions from ``from_slot`` on."""

    from_slot: int


@dataclass(frozen=True, slots=True)
class CatchUpReply:
    """Decisions from the requested slot on (bounded), or, when those are compacted, the
    replica's snapshot as of ``snapshot_slot`` (every slot below it applied)."""

    decisions: tuple[Decision, ...]
    snapshot_slot: int = 0
    snapshot: bytes = b""
