"""The toy's durable state: its log, one WAL record per entry (the encoded KvCommand),
through the ``FileSystem`` it is given (real on processes, simulated in the simulator)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from protocols.common.fs import FileSystem
from protocols.common.wal import SyncPolicy, WriteAheadLog
from protocols.contract import Storage

__all__ = ["LogEntry", "ToyStorage"]


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One persist record: entry ``index`` of the log, the encoded KvCommand (a crash
    point names it: ``after_persist:LogEntry``)."""

    index: int
    command: bytes


class ToyStorage(Storage):
    """The log; ``recovered`` is what the disk held when the node started."""

    def __init__(self, fs: FileSystem, data_dir: str, sync: SyncPolicy) -> None:
        fs.makedirs(data_dir)
        self.wal, records = WriteAheadLog.open(fs, f"{data_dir}/log", sync=sync)
        self.recovered = list(records)

    def save(self, records: Sequence[LogEntry]) -> None:
        self.wal.append([r.command for r in records])

    def close(self) -> None:
        self.wal.close()
