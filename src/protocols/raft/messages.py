"""Raft's messages, in the words of the paper's Figure 2 (Ongaro & Ousterhout 2014) and
the thesis (Ongaro 2014). Read beside course chapter 26, "Consensus Algorithms: Paxos,
Raft". Each travels as the protobuf message of the same name (protos/raft.proto).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass

__all__ = [
    "AppendEntries",
    "AppendEntriesReply",
    "ChangeMembership",
    "Entry",
    "EntryKind",
    "InstallSnapshot",
    "InstallSnapshotReply",
    "Membership",
    "RequestVote",
    "RequestVoteReply",
    "Snapshot",
    "TimeoutNow",
    "TimeoutNowReply",
    "TransferLeadership",
]


class EntryKind(enum.IntEnum):
    NORMAL = 0  # a client command for the state machine
    NOOP = 1  # a new leader's first entry: commits earlier terms' entries (§5.4.2, §8)
    CONFIG = 2  # a cluster configuration (thesis §4.1): command is Membership.encode()


@dataclass(frozen=True, slots=True)
class Entry:
    """A log entry: the command and the term when the leader received it (§5.3)."""

    term: int
    index: int
    kind: EntryKind
    command: bytes


@dataclass(frozen=True, slots=True)
class Membership:
    """A cluster configuration (thesis §4.1): the voters, whose majority decides
    elections and commitment, and the learners, non-voting members that receive the log
    (thesis §4.2.1: a new server catches up as a learner before it votes)."""

    voters: frozenset[str]
    learners: frozenset[str] = frozenset()

    @property
    def members(self) -> frozenset[str]:
        return self.voters | self.learners

    def encode(self) -> bytes:
        return json.dumps({"voters": sorted(self.voters),
                           "learners": sorted(self.learners)}).encode()

    @classmethod
    def decode(cls, raw: bytes) -> Membership:
        d = json.loads(raw)
        return cls(frozenset(d["voters"]), frozenset(d["learners"]))

    def describe(self) -> str:
        learners = f" learners {{{', '.join(sorted(self.learners))}}}" if self.learners else ""
        return f"voters {{{', '.join(sorted(self.voters))}}}{learners}"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Log compaction (§7, Figure 12): the state machine as of ``last_included_index``,
    plus what the log before it would have said - the term of that entry and the latest
    configuration - so the prefix of the log can be thrown away."""

    last_included_index: int
    last_included_term: int
    membership: Membership
    data: bytes  # the state machine (KvStateMachine.snapshot())

    def encode(self) -> bytes:
        """One self-describing blob: what InstallSnapshot sends in chunks."""
        header = json.dumps({"index": self.last_included_index,
                             "term": self.last_included_term,
                             "membership": self.membership.encode().decode()}).encode()
        return len(header).to_bytes(4, "big") + header + self.data

    @classmethod
    def decode(cls, blob: bytes) -> Snapshot:
        n = int.from_bytes(blob[:4], "big")
        h = json.loads(blob[4:4 + n])
        return cls(h["index"], h["term"], Membership.decode(h["membership"].encode()),
                   bytes(blob[4 + n:]))


@dataclass(frozen=True, slots=True)
class RequestVote:
    """Invoked by candidates to gather votes (§5.2). With ``pre_vote``, asks whether a
    vote *would* be granted, changing nothing (thesis §9.6)."""

    term: int
    candidate_id: str
    last_log_index: int
    last_log_term: int
    pre_vote: bool = False
    leadership_transfer: bool = False  # sent after TimeoutNow: ignore leader stickiness


@dataclass(frozen=True, slots=True)
class RequestVoteReply:
    term: int
    vote_granted: bool
    pre_vote: bool = False


@dataclass(frozen=True, slots=True)
class AppendEntries:
    """Invoked by the leader to replicate log entries (§5.3); also the heartbeat (§5.2).
    ``read_context`` numbers the ReadIndex round this message confirms (thesis §6.4)."""

    term: int
    leader_id: str
    prev_log_index: int
    prev_log_term: int
    entries: tuple[Entry, ...]
    leader_commit: int
    read_context: int = 0


@dataclass(frozen=True, slots=True)
class AppendEntriesReply:
    """``match_index`` on success; on failure ``conflict_index``/``conflict_term`` let the
    leader skip a whole conflicting term at once (§5.3, the optimization at its end)."""

    term: int
    success: bool
    match_index: int = 0
    conflict_index: int = 0
    conflict_term: int = 0
    read_context: int = 0


@dataclass(frozen=True, slots=True)
class InstallSnapshot:
    """Invoked by the leader to send chunks of a snapshot to a follower that is too far
    behind (§7, Figure 13). ``data`` is ``Snapshot.encode()[offset:offset+len]``;
    ``done`` marks the last chunk."""

    term: int
    leader_id: str
    last_included_index: int
    last_included_term: int
    offset: int
    data: bytes
    done: bool


@dataclass(frozen=True, slots=True)
class InstallSnapshotReply:
    """``next_offset``: the byte the follower expects next (a lost chunk restarts there);
    ``match_index``: the snapshot's index once installed, else 0."""

    term: int
    next_offset: int = 0
    match_index: int = 0


@dataclass(frozen=True, slots=True)
class TimeoutNow:
    """Leadership transfer (thesis §3.10): the target starts an election at once."""

    term: int
    leader_id: str


@dataclass(frozen=True, slots=True)
class TimeoutNowReply:
    term: int


@dataclass(frozen=True, slots=True)
class ChangeMembership:
    """A client request to the leader: one single-server change (thesis §4.1).
    ``action``: "add_learner" (starts replicating to ``node_id``), "promote" (the
    learner becomes a voter once caught up) or "remove" (a voter or learner leaves)."""

    action: str
    node_id: str


@dataclass(frozen=True, slots=True)
class TransferLeadership:
    """A client request to the leader: hand leadership to ``target``."""

    target: str
