"""A write-ahead log: length + CRC32 framed records, one fsync per batch, honest recovery.

Why a WAL: a Raft (or Paxos) node must not answer a vote or acknowledge an entry until
that fact is on disk (Raft §5, "persistent state ... updated on stable storage before
responding to RPCs"). Appending a record to a log file and fsyncing it is the cheapest
durable write there is; batching many records behind one fsync is what makes it fast.

Why framing + CRC: a crash can leave the last record half-written (a *torn tail*). Each
record is ``length (4 bytes LE) | crc32 of payload (4 bytes LE) | payload``, so recovery
can tell a complete record from a torn one and cut the tail off. A bad record with valid
records *after* it is not a torn write but corruption (a bad disk, a stray edit): we
refuse to start rather than silently drop acknowledged state.

All IO goes through ``protocols.common.fs.FileSystem``, so the simulator runs this exact
code on a disk that loses un-fsynced bytes when a node crashes.
"""

from __future__ import annotations

import enum
import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

from protocols.common.errors import CorruptLogError, StorageError
from protocols.common.fs import FileSystem, WritableFile

__all__ = ["RecoveryInfo", "SyncPolicy", "WriteAheadLog"]

MAGIC = b"PWAL\x00\x01\r\n"  # name, format version 1, and bytes that text tools mangle
_FRAME = struct.Struct("<II")  # payload length, crc32(payload)


class SyncPolicy(enum.Enum):
    """``ALWAYS``: fsync every append batch. ``NEVER``: benchmarks only — NOT crash safe."""

    ALWAYS = "always"
    NEVER = "never"


@dataclass(frozen=True, slots=True)
class RecoveryInfo:
    records: int
    valid_bytes: int
    truncated_bytes: int  # torn tail cut off (0 on a clean log)


class WriteAheadLog:
    """An append-only log of opaque byte records. Open with ``WriteAheadLog.open``."""

    def __init__(self, fs: FileSystem, path: str, file: WritableFile, sync: SyncPolicy,
                 recovery: RecoveryInfo, max_record_bytes: int) -> None:
        self._fs = fs
        self._path = path
        self._file: WritableFile | None = file
        self._sync = sync
        self._size = recovery.valid_bytes
        self._max_record_bytes = max_record_bytes
        self.recovery = recovery
        self.fsyncs = 0

    @classmethod
    def open(cls, fs: FileSystem, path: str, *, sync: SyncPolicy = SyncPolicy.ALWAYS,
             max_record_bytes: int = 64 << 20) -> tuple[WriteAheadLog, list[bytes]]:
        """Open (or create) the log at ``path``; return it and every valid record.

        A torn tail is truncated; corruption followed by valid records raises
        ``CorruptLogError`` and leaves the file untouched.
        """
        data = fs.read(path) if fs.exists(path) else b""
        records, valid_end = _scan(path, data, max_record_bytes)
        if valid_end == 0:  # new, or crashed while being created: start it afresh
            fs.write_atomic(path, MAGIC)
            data, valid_end = MAGIC, len(MAGIC)
        file = fs.open_append(path)
        if valid_end < len(data):
            file.truncate(valid_end)  # cut the torn tail (fsynced by truncate)
        info = RecoveryInfo(len(records), valid_end, len(data) - valid_end)
        return cls(fs, path, file, sync, info, max_record_bytes), records

    @property
    def path(self) -> str:
        return self._path

    @property
    def size_bytes(self) -> int:
        return self._size

    def append(self, records: Sequence[bytes]) -> None:
        """Append a batch: one write, then (with ALWAYS) one fsync. Durable on return."""
        if not records:
            return
        file = self._open_file()
        blob = b"".join(self._frame(r) for r in records)
        file.write(blob)
        self._size += len(blob)
        if self._sync is SyncPolicy.ALWAYS:
            file.fsync()
            self.fsyncs += 1

    def rewrite(self, records: Sequence[bytes]) -> None:
        """Atomically replace the whole log with ``records`` (compaction after a snapshot):
        a crash leaves either the old log or the new one, never a mix."""
        blob = MAGIC + b"".join(self._frame(r) for r in records)
        self._open_file().close()
        self._file = None
        self._fs.write_atomic(self._path, blob)
        self._file = self._fs.open_append(self._path)
        self._size = len(blob)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _open_file(self) -> WritableFile:
        if self._file is None:
            raise StorageError(f"write-ahead log {self._path} is closed")
        return self._file

    def _frame(self, record: bytes) -> bytes:
        if len(record) > self._max_record_bytes:
            raise StorageError(f"record of {len(record)} bytes exceeds the limit of "
                               f"{self._max_record_bytes} for {self._path}")
        return _FRAME.pack(len(record), zlib.crc32(record)) + record


def _scan(path: str, data: bytes, max_record_bytes: int) -> tuple[list[bytes], int]:
    """Parse records; return them and the offset where valid data ends."""
    if len(data) < len(MAGIC):
        if MAGIC.startswith(data):  # crashed while creating: an empty log
            return [], 0
        raise CorruptLogError(path, 0, "not a write-ahead log (bad header)")
    if not data.startswith(MAGIC):
        raise CorruptLogError(path, 0, "not a write-ahead log of this format (bad header)")
    records: list[bytes] = []
    offset = len(MAGIC)
    while offset < len(data):
        record = _record_at(data, offset, max_record_bytes)
        if record is None:
            _refuse_if_valid_after(path, data, offset, max_record_bytes)
            return records, offset  # a torn tail: nothing valid follows
        records.append(record)
        offset += _FRAME.size + len(record)
    return records, offset


def _record_at(data: bytes, offset: int, max_record_bytes: int) -> bytes | None:
    """The record framed at ``offset``, or None if the frame is incomplete or bad."""
    if offset + _FRAME.size > len(data):
        return None
    length, crc = _FRAME.unpack_from(data, offset)
    start = offset + _FRAME.size
    if length > max_record_bytes or start + length > len(data):
        return None
    payload = data[start:start + length]
    return payload if zlib.crc32(payload) == crc else None


def _refuse_if_valid_after(path: str, data: bytes, bad: int, max_record_bytes: int) -> None:
    """A complete, checksummed record after a bad one means mid-log corruption."""
    for offset in range(bad + 1, len(data) - _FRAME.size + 1):
        length, _ = _FRAME.unpack_from(data, offset)
        if length == 0 or length > max_record_bytes:
            continue  # an empty frame matches any run of zero bytes: too weak to count
        if _record_at(data, offset, max_record_bytes) is not None:
            raise CorruptLogError(path, bad, f"record at byte {bad} is damaged but a valid "
                                  f"record follows at byte {offset}")
