"""A write-ahead log: length + CRC32 framed records, one fsync per batch, honest recovery.

Why a WAL: a Raft (or Paxos) node must not answer a vote or acknowledge an entry until
that fact is on disk (Raft §5, Figure 2: "persistent state on all servers, updated on
stable storage before responding to RPCs"). Appending to a log file and fsyncing it is the
cheapest durable write there is; batching many records behind one fsync makes it fast.

Why framing + CRC: a crash can leave the last write half on disk (a *torn tail*). Each
record is ``length (4 bytes LE) | crc32 of payload (4 bytes LE) | payload``, so recovery
can tell a complete record from a torn one and cut the tail off. A bad record with a
valid record *after* it is not a torn write but corruption (a bad disk, a stray edit): we
refuse to start, and leave the file untouched, rather than silently drop acknowledged
state.

Why fsync (and fsync the directory): ``write`` only reaches the page cache, which a power
cut loses; only ``fsync`` makes the bytes durable. ``rewrite`` creates a new file and
renames it over the old one; the rename lives in the *directory*, so it is durable only
once the directory is fsynced too (``FileSystem.write_atomic`` does both).

All IO goes through ``protocols.common.fs.FileSystem``, so the simulator runs this exact
code on a disk that loses un-fsynced bytes when a node crashes.
"""

from __future__ import annotations

import enum
import logging
import struct
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from protocols.common.errors import CorruptLogError, StorageError
from protocols.common.fs import FileSystem, WritableFile

__all__ = [
    "FORMAT_VERSION",
    "MAGIC",
    "RecoveryInfo",
    "SyncPolicy",
    "UnreadableLogError",
    "WriteAheadLog",
]

_log = logging.getLogger(__name__)

_MAGIC_NAME = b"PWAL"
FORMAT_VERSION = 1
# name, format version (2 bytes LE), then "\r\n" so a text-mode copy that mangles line
# endings is caught as a bad header.
MAGIC = _MAGIC_NAME + FORMAT_VERSION.to_bytes(2, "little") + b"\r\n"
_FRAME = struct.Struct("<II")  # payload length, crc32(payload)
# Deciding "torn tail or corrupt middle" CRCs candidate frames after the damage; cap that
# work so a pathological tail (every offset reading as a plausible length) stays linear.
_SCAN_BUDGET_MIN_BYTES = 64 << 20
_SCAN_BUDGET_PER_TAIL_BYTE = 16


class SyncPolicy(enum.Enum):
    """``ALWAYS``: fsync every append batch (the default, crash safe).

    ``NEVER``: never fsync. UNSAFE: an acknowledged append can vanish in a power cut or a
    simulated crash. For benchmarks and tests only.
    """

    ALWAYS = "always"
    NEVER = "never"


class UnreadableLogError(StorageError):
    """The file cannot be recovered without guessing (wrong header or format version, a
    record above the size limit, damage we cannot classify). The file is left unchanged."""

    def __init__(self, path: str, offset: int, reason: str) -> None:
        self.path = path
        self.offset = offset
        self.reason = reason
        super().__init__(f"cannot recover write-ahead log {path} at byte {offset}: {reason}. "
                         "Refusing to start; the file was not modified.")


@dataclass(frozen=True, slots=True)
class RecoveryInfo:
    """What ``WriteAheadLog.open`` found: ``truncated_bytes`` > 0 means a torn tail was cut."""

    records: int
    valid_bytes: int  # header + complete records kept
    truncated_bytes: int  # torn tail cut off (0 on a clean log)


class WriteAheadLog:
    """An append-only log of opaque byte records. Open with ``WriteAheadLog.open``.

    After a failed write or fsync the log refuses further appends (what reached the disk
    is unknown, and fsync errors are not retryable: the kernel may have dropped the dirty
    pages); reopening recovers it.
    """

    def __init__(self, fs: FileSystem, path: str, file: WritableFile, sync: SyncPolicy,
                 recovery: RecoveryInfo, max_record_bytes: int) -> None:
        self._fs = fs
        self._path = path
        self._file: WritableFile | None = file
        self._failed: BaseException | None = None
        self._sync = sync
        self._size = recovery.valid_bytes
        self._max_record_bytes = max_record_bytes
        self.recovery = recovery
        self.fsyncs = 0  # fsyncs issued by append (for tests and benchmarks)

    @classmethod
    def open(cls, fs: FileSystem, path: str, *, sync: SyncPolicy = SyncPolicy.ALWAYS,
             max_record_bytes: int = 64 << 20) -> tuple[WriteAheadLog, list[bytes]]:
        """Open (or create) the log at ``path``; return it and every valid record.

        A torn tail is truncated (reported in ``wal.recovery`` and logged). Corruption
        followed by a valid record raises ``CorruptLogError``; a wrong header raises
        ``UnreadableLogError``. Both leave the file untouched.
        """
        data = fs.read(path) if fs.exists(path) else b""
        records, valid_end = _scan(path, data, max_record_bytes)
        info = RecoveryInfo(len(records), max(valid_end, len(MAGIC)), len(data) - valid_end)
        if valid_end == 0:  # new, or crashed while being created: start it afresh
            fs.write_atomic(path, MAGIC)
        file = fs.open_append(path)
        if 0 < valid_end < len(data):
            file.truncate(valid_end)  # cut the torn tail (truncate fsyncs)
        if info.truncated_bytes:
            _log.warning("write-ahead log %s: cut a torn tail of %d bytes after %d records",
                         path, info.truncated_bytes, info.records)
        return cls(fs, path, file, sync, info, max_record_bytes), records

    @property
    def path(self) -> str:
        return self._path

    @property
    def size_bytes(self) -> int:
        """Bytes in the file: header plus every framed record."""
        return self._size

    def append(self, records: Sequence[bytes]) -> None:
        """Append a batch: one write, then (with ALWAYS) one fsync. Durable on return."""
        if not records:
            return
        file = self._writable()
        blob = b"".join([self._frame(r) for r in records])  # checks sizes before writing
        try:
            file.write(blob)
            if self._sync is SyncPolicy.ALWAYS:
                file.fsync()
                self.fsyncs += 1
        except BaseException as e:
            self._fail(e)
            raise
        self._size += len(blob)

    def append_around(self, records: Sequence[Any], encode: Callable[[Any], bytes],
                      aside: type, write_aside: Callable[[Any], None]) -> None:
        """Append the core's persist records in their order, one write and one fsync per
        run of them; a record of type ``aside`` (a snapshot, kept in a file of its own)
        goes to ``write_aside`` between the runs, so the disk sees the core's order."""
        batch: list[bytes] = []
        for r in records:
            if not isinstance(r, aside):
                batch.append(encode(r))
                continue
            self.append(batch)
            batch = []
            write_aside(r)
        self.append(batch)

    def rewrite(self, records: Sequence[bytes]) -> None:
        """Atomically replace the whole log with ``records`` (compaction after a snapshot).

        ``write_atomic`` writes a temp file, fsyncs it, renames it over the log and fsyncs
        the directory: a crash leaves the old log or the new one, never a mix. The handle
        is then swapped for one on the new file (an O_APPEND fd on the old inode would
        write into the replaced file). If the rewrite fails, which file is in place is
        unknown: the log refuses further appends until reopened.
        """
        old = self._writable()
        blob = MAGIC + b"".join([self._frame(r) for r in records])
        try:
            self._fs.write_atomic(self._path, blob)
            self._file = None
            old.close()
            self._file = self._fs.open_append(self._path)
        except BaseException as e:
            self._fail(e)
            raise
        self._size = len(blob)

    def close(self) -> None:
        if self._file is not None:
            file, self._file = self._file, None
            file.close()

    def _writable(self) -> WritableFile:
        if self._failed is not None:
            raise StorageError(f"write-ahead log {self._path} failed earlier ({self._failed!r})"
                               "; reopen it to recover") from self._failed
        if self._file is None:
            raise StorageError(f"write-ahead log {self._path} is closed")
        return self._file

    def _fail(self, error: BaseException) -> None:
        self._failed = error
        try:
            self.close()
        except OSError:
            pass  # already failing; the first error is the one to report

    def _frame(self, record: bytes) -> bytes:
        if len(record) > self._max_record_bytes:
            raise StorageError(f"record of {len(record)} bytes exceeds the limit of "
                               f"{self._max_record_bytes} for {self._path}")
        return _FRAME.pack(len(record), zlib.crc32(record)) + record


def _scan(path: str, data: bytes, max_record_bytes: int) -> tuple[list[bytes], int]:
    """Parse records; return them and the offset where valid data ends (0: no header)."""
    if not _header_ok(path, data):
        return [], 0
    records: list[bytes] = []
    offset = len(MAGIC)
    while offset < len(data):
        record = _record_at(data, offset, max_record_bytes)
        if record is None:
            _refuse_unless_torn_tail(path, data, offset, max_record_bytes)
            return records, offset  # a torn tail: nothing valid follows
        records.append(record)
        offset += _FRAME.size + len(record)
    return records, offset


def _header_ok(path: str, data: bytes) -> bool:
    """True for a good header, False for a file torn while being created (a prefix of
    the header: nothing was ever acknowledged in it); anything else is refused."""
    if len(data) < len(MAGIC) and MAGIC.startswith(data):
        return False
    if data.startswith(MAGIC):
        return True
    if data.startswith(_MAGIC_NAME) and len(data) >= len(MAGIC):
        version = int.from_bytes(data[len(_MAGIC_NAME):len(_MAGIC_NAME) + 2], "little")
        raise UnreadableLogError(path, 0, f"bad header: format version {version}, this code "
                                 f"reads version {FORMAT_VERSION}")
    raise UnreadableLogError(path, 0, f"bad header: not a write-ahead log (starts "
                             f"{data[:len(MAGIC)]!r}, expected {MAGIC!r})")


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


def _refuse_unless_torn_tail(path: str, data: bytes, bad: int, max_record_bytes: int) -> None:
    """Return only if the bad frame at ``bad`` starts a torn tail: no valid record after it.

    A complete frame whose CRC matches but whose length is over the limit is not torn
    (the log was written with a larger limit): refuse rather than cut it off.
    """
    if _is_oversized_record(data, bad, max_record_bytes):
        length = _FRAME.unpack_from(data, bad)[0]
        raise UnreadableLogError(path, bad, f"record of {length} bytes exceeds "
                                 f"max_record_bytes={max_record_bytes}")
    valid_after = _find_valid_frame(path, data, bad, max_record_bytes)
    if valid_after is not None:
        raise CorruptLogError(path, bad, f"record at byte {bad} is damaged but a valid "
                              f"record follows at byte {valid_after}")


def _is_oversized_record(data: bytes, offset: int, max_record_bytes: int) -> bool:
    """A complete frame at ``offset`` with a matching CRC, longer than the limit."""
    if offset + _FRAME.size > len(data):
        return False
    length, crc = _FRAME.unpack_from(data, offset)
    start = offset + _FRAME.size
    if length <= max_record_bytes or start + length > len(data):
        return False
    return zlib.crc32(memoryview(data)[start:start + length]) == int(crc)


def _find_valid_frame(path: str, data: bytes, bad: int, max_record_bytes: int) -> int | None:
    """The first offset after ``bad`` holding a complete frame with a matching CRC.

    Empty frames are skipped: eight zero bytes are a valid empty record, and zero-filled
    blocks are what a crash typically leaves. CRC work is capped (see _SCAN_BUDGET_*);
    past the cap we refuse rather than guess.
    """
    view = memoryview(data)  # CRC slices without copying them
    budget = max(_SCAN_BUDGET_MIN_BYTES, _SCAN_BUDGET_PER_TAIL_BYTE * (len(data) - bad))
    for offset in range(bad + 1, len(data) - _FRAME.size + 1):
        length, crc = _FRAME.unpack_from(data, offset)
        start = offset + _FRAME.size
        if length == 0 or length > max_record_bytes or start + length > len(data):
            continue
        budget -= length
        if budget < 0:
            raise UnreadableLogError(path, bad, "record is damaged and the bytes after it are "
                                     "too costly to check for valid records (scan budget "
                                     "exhausted), so it may not be a torn tail")
        if zlib.crc32(view[start:start + length]) == crc:
            return offset
    return None
