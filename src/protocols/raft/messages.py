"""Raft's messages, in the words of the paper's Figure 2 (Ongaro & Ousterhout 2014) and
the thesis (Ongaro 2014). Read beside course chapter 26, "Consensus Algorithms: Paxos,
Raft". Each travels as the protobuf message of the same name (protos/raft.proto).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "AppendEntries",
    "AppendEntriesReply",
    "Entry",
    "EntryKind",
    "RequestVote",
    "RequestVoteReply",
    "TimeoutNow",
    "TimeoutNowReply",
    "TransferLeadership",
]


class EntryKind(enum.IntEnum):
    NORMAL = 0  # a client command for the state machine
    NOOP = 1  # a new leader's first entry: commits earlier terms' entries (§5.4.2, §8)


@dataclass(frozen=True, slots=True)
class Entry:
    """A log entry: the command and the term when the leader received it (§5.3)."""

    term: int
    index: int
    kind: EntryKind
    command: bytes


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
class TimeoutNow:
    """Leadership transfer (thesis §3.10): the target starts an election at once."""

    term: int
    leader_id: str


@dataclass(frozen=True, slots=True)
class TimeoutNowReply:
    term: int


@dataclass(frozen=True, slots=True)
class TransferLeadership:
    """A client request to the leader: hand leadership to ``target``."""

    target: str
