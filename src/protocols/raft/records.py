"""What Raft writes to stable storage, as typed records (Figure 2, "Persistent state on
all servers": currentTerm, votedFor, log[]; §7 adds the snapshot).

The core puts these in ``Ready.persist``; ``RaftStorage`` writes them to the WAL and
fsyncs before the node speaks of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.raft.messages import Entry, Snapshot

__all__ = ["AppendEntry", "HardState", "PersistRecord", "SaveSnapshot", "TruncateFrom"]


@dataclass(frozen=True, slots=True)
class HardState:
    """currentTerm and votedFor: what must survive a crash so no server votes twice in a
    term (§5.2)."""

    current_term: int
    voted_for: str | None


@dataclass(frozen=True, slots=True)
class AppendEntry:
    """One entry appended at the end of the log."""

    entry: Entry


@dataclass(frozen=True, slots=True)
class TruncateFrom:
    """The entry at ``index`` and all after it were deleted (§5.3, receiver rule 3)."""

    index: int


@dataclass(frozen=True, slots=True)
class SaveSnapshot:
    """A new snapshot (§7): the snapshot file, then the log rewritten to the hard state
    and the entries after the snapshot."""

    snapshot: Snapshot
    hard_state: HardState
    entries: tuple[Entry, ...]


PersistRecord = HardState | AppendEntry | TruncateFrom | SaveSnapshot
