"""The messages of atomic commitment, as BHG ch. 7 names them, and three-phase commit's
(Skeen 1981: PreCommit, PreCommitAck, and the termination protocol's StateRequest and
StateReport). All one-way: each side counts its own timeouts in ticks and resends, as the
textbook's protocols do.

A transaction is a list of micro-operations on keys (Jepsen's shape, which the checker
reads): ``r`` reads a key, ``w`` writes a register, ``append`` appends to a list, ``add``
adds to a counter that may not go below zero (the bank's transfers). Values are integers.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = ["MAX_KEY_BYTES", "MAX_TXN_OPS", "OPS", "Ack", "Decision", "Inquiry", "MicroOp",
           "Outcome", "PreCommit", "PreCommitAck", "Prepare", "Read", "StateReport",
           "StateRequest", "Transact", "Vote", "VoteKind"]

OPS = ("r", "w", "append", "add")
# a transaction's bounds: what one makes a participant or a range write stays far below
# the WAL's record and gRPC's message limits (64 MiB) whatever a client sends, and a
# whole-bank read of hundreds of accounts is still one transaction
MAX_TXN_OPS = 1024
MAX_KEY_BYTES = 1024  # as the KV's (``protocols.kv.commands``)


@dataclass(frozen=True, slots=True)
class MicroOp:
    f: str  # one of OPS
    key: str
    value: int = 0  # w: the value; append: the element; add: the amount; r: unused

    def __post_init__(self) -> None:
        if self.f not in OPS:
            raise ValueError(f"micro-op {self.f!r}: expected one of {', '.join(OPS)}")
        if not self.key:
            raise ValueError("a micro-op needs a key")
        if len(self.key.encode()) > MAX_KEY_BYTES:
            raise ValueError(f"a key is at most {MAX_KEY_BYTES} bytes (UTF-8), got "
                             f"{len(self.key.encode())}")

    @property
    def writes(self) -> bool:
        return self.f != "r"


@dataclass(frozen=True, slots=True)
class Read:
    """What an ``r`` saw: a register's value or a list's elements (``present`` False: the
    key was never written; ``is_list``: the key holds a list, even of one element)."""

    key: str
    values: tuple[int, ...] = ()
    present: bool = False
    is_list: bool = False


@dataclass(frozen=True, slots=True)
class Transact:
    """A client's transaction, submitted to a coordinator: at most ``MAX_TXN_OPS``
    micro-ops, so what one makes a participant or a range write (one WAL record, one Raft
    entry) stays bounded whatever a client sends."""

    ops: tuple[MicroOp, ...]

    def __post_init__(self) -> None:
        if len(self.ops) > MAX_TXN_OPS:
            raise ValueError(f"a transaction holds at most {MAX_TXN_OPS} micro-ops, "
                             f"got {len(self.ops)}")


class VoteKind(enum.StrEnum):
    YES = "yes"
    NO = "no"
    READ_ONLY = "read-only"
    COMMITTED = "committed"  # one-phase commit: the only participant committed it


@dataclass(frozen=True, slots=True)
class Prepare:
    """Phase one (the "vote request"), carrying this participant's share of the work.
    ``participants``: everyone voting on it (cooperative termination asks them);
    ``one_phase``: the only participant: commit at once (no vote, no phase two); ``ts``:
    the transaction's age, its coordinator's timestamp (wait-die: lower is older);
    ``read_only``: asked after every other participant voted YES, so a participant with
    nothing to write may vote READ-ONLY and release its locks at once (the coordinator's
    docstring says why only then)."""

    txn: str
    ops: tuple[MicroOp, ...]
    participants: tuple[str, ...]
    one_phase: bool = False
    ts: int = 0
    read_only: bool = False


@dataclass(frozen=True, slots=True)
class Vote:
    txn: str
    vote: VoteKind
    reads: tuple[Read, ...] = ()
    why: str = ""  # a NO's reason (a lock not granted in time, a balance below zero)


@dataclass(frozen=True, slots=True)
class Decision:
    """Phase two: the coordinator's durable decision."""

    txn: str
    commit: bool


@dataclass(frozen=True, slots=True)
class Ack:
    txn: str


@dataclass(frozen=True, slots=True)
class PreCommit:
    """3PC's second phase: every vote was yes (Skeen 1981). Sent by the coordinator, or
    by a participant elected by the termination protocol to the uncertain ones."""

    txn: str


@dataclass(frozen=True, slots=True)
class PreCommitAck:
    """To whoever sent the PRECOMMIT (the coordinator, or the elected participant)."""

    txn: str


@dataclass(frozen=True, slots=True)
class Inquiry:
    """An uncertain participant asks the coordinator, or a peer (cooperative
    termination, BHG §7.4), what became of ``txn``."""

    txn: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """The answer to an inquiry: the state the answerer knows ``txn`` to be in."""

    txn: str
    state: str  # committed | aborted | prepared (uncertain too) | unknown (not decided)


@dataclass(frozen=True, slots=True)
class StateRequest:
    """3PC's termination protocol (Skeen 1981, §5; BHG §7.5): a participant whose
    coordinator went silent asks its peers for their state of ``txn``. The answers are
    also its election: the lowest-named participant that hears from everyone it can
    reach decides (always routed to the participant, never to a coordinator)."""

    txn: str


@dataclass(frozen=True, slots=True)
class StateReport:
    """The answer to a StateRequest: the state the participant is in (``table.State``'s
    value: prepared, precommitted, committed or aborted; one that had not voted aborts
    first, and says so)."""

    txn: str
    state: str
