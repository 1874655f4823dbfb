"""Raft's durable state (Figure 2, "persistent state on all servers"): currentTerm,
votedFor and the log, written through the write-ahead log and fsynced — once per
``Ready`` batch — before the node answers a vote or acknowledges entries.

Records: ``("hard", term, voted_for)``, ``("append", Entry)``, ``("truncate", index)``.
Recovery replays them in order.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from protocols.common.errors import StorageError
from protocols.common.fs import FileSystem
from protocols.common.wal import SyncPolicy, WriteAheadLog
from protocols.raft.messages import Entry, EntryKind

__all__ = ["RaftStorage", "RecoveredState"]


class RecoveredState:
    def __init__(self) -> None:
        self.current_term = 0
        self.voted_for: str | None = None
        self.entries: list[Entry] = []


def _encode(record: Any) -> bytes:
    match record:
        case ("hard", term, voted_for):
            return json.dumps(["h", term, voted_for]).encode()
        case ("append", Entry() as e):
            return json.dumps(["a", e.term, e.index, int(e.kind),
                               e.command.decode("latin-1")]).encode()
        case ("truncate", index):
            return json.dumps(["t", index]).encode()
    raise AssertionError(f"unknown Raft storage record {record!r}")


def _replay(records: Sequence[bytes], path: str) -> RecoveredState:
    state = RecoveredState()
    for n, raw in enumerate(records):
        try:
            kind, *rest = json.loads(raw)
        except ValueError as e:
            raise StorageError(f"{path}: record {n} is not a Raft record: {e}") from None
        if kind == "h":
            state.current_term, state.voted_for = rest
        elif kind == "a":
            term, index, entry_kind, command = rest
            if index != len(state.entries) + 1:
                raise StorageError(f"{path}: record {n} appends index {index} after "
                                   f"{len(state.entries)}")
            state.entries.append(Entry(term, index, EntryKind(entry_kind),
                                       command.encode("latin-1")))
        elif kind == "t":
            del state.entries[rest[0] - 1:]
        else:
            raise StorageError(f"{path}: record {n} has unknown kind {kind!r}")
    return state


class RaftStorage:
    def __init__(self, fs: FileSystem, data_dir: str, sync: SyncPolicy = SyncPolicy.ALWAYS
                 ) -> None:
        fs.makedirs(data_dir)
        self.path = f"{data_dir}/raft.wal"
        self.wal, records = WriteAheadLog.open(fs, self.path, sync=sync)
        self.recovered = _replay(records, self.path)

    def save(self, records: Sequence[Any]) -> None:
        """One write and one fsync for the whole batch."""
        self.wal.append([_encode(r) for r in records])

    def close(self) -> None:
        self.wal.close()
