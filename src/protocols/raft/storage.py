"""Raft's durable state (Figure 2, "persistent state on all servers"): currentTerm,
votedFor and the log, written through the write-ahead log and fsynced — once per
``Ready`` batch — before the node answers a vote or acknowledges entries.

The core hands it typed records (``records.py``): ``HardState``, ``AppendEntry``,
``TruncateFrom``, and ``SaveSnapshot`` for log compaction (§7): the snapshot is written
atomically to ``snapshot.bin`` (temp file, fsync, rename, fsync of the directory),
*then* the WAL is atomically rewritten to the hard state, a ``base`` record (the
snapshot's last included index and term) and the entries after it. A crash between the
two leaves the new snapshot and the old WAL; recovery drops the entries the
snapshot covers. Recovery replays the records in order.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from protocols.common.errors import StorageError
from protocols.common.fs import FileSystem
from protocols.common.wal import SyncPolicy, WriteAheadLog
from protocols.contract import Storage
from protocols.raft.messages import Entry, EntryKind, Snapshot
from protocols.raft.records import AppendEntry, HardState, PersistRecord, SaveSnapshot, TruncateFrom

_SNAPSHOT_MAGIC = b"RAFTSNP1"

__all__ = ["RaftStorage", "RecoveredState"]


class RecoveredState:
    def __init__(self) -> None:
        self.current_term = 0
        self.voted_for: str | None = None
        self.base_index = 0  # the log's entries start after this index
        self.base_term = 0
        self.entries: list[Entry] = []
        self.snapshot: Snapshot | None = None


@dataclass(frozen=True, slots=True)
class _Base:
    """The log starts after (index, term): the snapshot's last included entry."""

    index: int
    term: int


_U64 = struct.Struct(">Q")
_APPEND = struct.Struct(">QQB")  # term, index, entry kind; the command follows as is
_BASE = struct.Struct(">QQ")  # index, term


def _encode(record: PersistRecord | _Base) -> bytes:
    """One WAL record: a kind byte, fixed fields, then raw bytes. An entry's command is
    stored exactly as the client's encoding made it: encoded once, never escaped."""
    match record:
        case HardState(term, voted_for):
            vote = b"" if voted_for is None else b"\x01" + voted_for.encode()
            return b"h" + _U64.pack(term) + vote
        case AppendEntry(e):
            return b"a" + _APPEND.pack(e.term, e.index, int(e.kind)) + e.command
        case TruncateFrom(index):
            return b"t" + _U64.pack(index)
        case _Base(index, term):
            return b"b" + _BASE.pack(index, term)
    raise AssertionError(f"unknown Raft storage record {record!r}")


def _replay(records: Sequence[bytes], path: str) -> RecoveredState:
    state = RecoveredState()
    for n, raw in enumerate(records):
        try:
            _apply_record(state, raw, path, n)
        except (struct.error, ValueError, UnicodeDecodeError) as e:
            raise StorageError(f"{path}: record {n} is not a Raft record ({e}); refusing "
                               f"to start, the file was left untouched") from None
    return state


def _apply_record(state: RecoveredState, raw: bytes, path: str, n: int) -> None:
    kind, body = raw[:1], raw[1:]
    if kind == b"h":
        state.current_term = _U64.unpack_from(body)[0]
        vote = body[_U64.size:]
        state.voted_for = vote[1:].decode() if vote[:1] == b"\x01" else None
    elif kind == b"a":
        term, index, entry_kind = _APPEND.unpack_from(body)
        last = state.base_index + len(state.entries)
        if index != last + 1:
            raise StorageError(f"{path}: record {n} appends index {index} after {last}")
        state.entries.append(Entry(term, index, EntryKind(entry_kind), body[_APPEND.size:]))
    elif kind == b"t":
        del state.entries[max(0, _U64.unpack_from(body)[0] - state.base_index - 1):]
    elif kind == b"b":
        state.base_index, state.base_term = _BASE.unpack_from(body)
        state.entries.clear()
    else:
        raise ValueError(f"unknown record kind {kind!r}")


def _encode_snapshot(snap: Snapshot) -> bytes:
    blob = snap.encode()
    return _SNAPSHOT_MAGIC + zlib.crc32(blob).to_bytes(4, "big") + blob


def _decode_snapshot(raw: bytes, path: str) -> Snapshot:
    magic, crc, blob = raw[:8], raw[8:12], raw[12:]
    if magic != _SNAPSHOT_MAGIC or int.from_bytes(crc, "big") != zlib.crc32(blob):
        # written atomically, so this is damage, not a torn write: refuse, touch nothing
        raise StorageError(f"{path}: snapshot file is corrupt (bad magic or checksum). It "
                           f"was written atomically, so this is damage, not a crash: refusing "
                           f"to start; the file was left untouched")
    try:
        return Snapshot.decode(blob)
    except (ValueError, KeyError, TypeError) as e:
        raise StorageError(f"{path}: snapshot file passes its checksum but does not decode "
                           f"({e}); refusing to start, the file was left untouched") from None


def _apply_snapshot(state: RecoveredState, snap: Snapshot, path: str) -> None:
    """A crash after the snapshot file was renamed into place but before the WAL was
    rewritten: keep only the entries after the snapshot, if they follow from it."""
    index, term = snap.last_included_index, snap.last_included_term
    state.snapshot = snap
    if index < state.base_index:  # the file is written before the WAL: never older
        raise StorageError(f"{path}: the snapshot ends at index {index} but the WAL starts "
                           f"after {state.base_index}: files from different states")
    if index == state.base_index:
        return
    last = state.base_index + len(state.entries)
    if index <= last and state.entries[index - state.base_index - 1].term == term:
        state.entries = state.entries[index - state.base_index:]
    else:
        state.entries = []
    state.base_index, state.base_term = index, term


class RaftStorage(Storage):
    def __init__(self, fs: FileSystem, data_dir: str, sync: SyncPolicy = SyncPolicy.ALWAYS
                 ) -> None:
        fs.makedirs(data_dir)
        self.fs = fs
        self.path = f"{data_dir}/raft.wal"
        self.snapshot_path = f"{data_dir}/snapshot.bin"
        self.snapshots_written = 0
        self.wal, records = WriteAheadLog.open(fs, self.path, sync=sync)
        self.recovered = _replay(records, self.path)
        if fs.exists(self.snapshot_path):
            _apply_snapshot(self.recovered,
                            _decode_snapshot(fs.read(self.snapshot_path), self.snapshot_path),
                            self.snapshot_path)
        elif self.recovered.base_index:
            raise StorageError(f"{self.path} starts after index {self.recovered.base_index}, "
                               f"but the snapshot holding the entries before it "
                               f"({self.snapshot_path}) is missing")

    def save(self, records: Sequence[PersistRecord]) -> None:
        """One write and one fsync for the whole batch (a snapshot splits the batch)."""
        self.wal.append_around(records, _encode, SaveSnapshot, self._save_snapshot)

    def _save_snapshot(self, r: SaveSnapshot) -> None:
        snap = r.snapshot
        self.fs.write_atomic(self.snapshot_path, _encode_snapshot(snap))
        self.wal.rewrite([_encode(r.hard_state),
                          _encode(_Base(snap.last_included_index, snap.last_included_term)),
                          *(_encode(AppendEntry(e)) for e in r.entries)])
        self.snapshots_written += 1

    def close(self) -> None:
        self.wal.close()
