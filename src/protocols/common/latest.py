"""A durable "latest value" on the write-ahead log: each save appends one record (CRC
framed, fsynced); recovery keeps the last; the log is rewritten to that one record when
it grows. For protocols whose durable state is a small record that each write replaces
(SWIM's self record, causal broadcast's delivery vector)."""

from __future__ import annotations

from protocols.common.fs import FileSystem
from protocols.common.wal import SyncPolicy, WriteAheadLog

__all__ = ["COMPACT_AFTER", "LatestRecord"]

COMPACT_AFTER = 1000  # records


class LatestRecord:
    def __init__(self, fs: FileSystem, path: str, sync: SyncPolicy = SyncPolicy.ALWAYS) -> None:
        self.path = path
        self.wal, records = WriteAheadLog.open(fs, path, sync=sync)
        self.count = len(records)
        self.recovered: bytes | None = records[-1] if records else None

    def save(self, record: bytes) -> None:
        """Make ``record`` the durable latest value (one append and fsync)."""
        if self.count + 1 > COMPACT_AFTER:
            self.wal.rewrite([record])
            self.count = 1
        else:
            self.wal.append([record])
            self.count += 1

    def close(self) -> None:
        self.wal.close()
