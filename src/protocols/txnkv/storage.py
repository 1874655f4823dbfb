"""A txnkv node's durable state: one Raft log per range it hosts, each in its own
directory (``<data_dir>/ranges/<range>/``, Raft's own ``RaftStorage``). CockroachDB keeps
every range in one storage engine; a log per range is simpler to read, at the price of an
fsync per range written in a turn."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from protocols.common.fs import FileSystem
from protocols.common.wal import SyncPolicy
from protocols.contract import Storage
from protocols.raft.storage import RaftStorage, RecoveredState

__all__ = ["TxnKvStorage"]


class TxnKvStorage(Storage):
    def __init__(self, fs: FileSystem, data_dir: str, range_ids: Sequence[str],
                 sync: SyncPolicy) -> None:
        self.ranges = {rid: RaftStorage(fs, f"{data_dir}/ranges/{rid}", sync)
                       for rid in range_ids}
        self.recovered: dict[str, RecoveredState] = {rid: s.recovered
                                                     for rid, s in self.ranges.items()}

    def save(self, records: Sequence[Any]) -> None:
        """Each range's records in its own log, in order; durable when this returns."""
        by_range: dict[str, list[Any]] = {}
        for r in records:
            by_range.setdefault(r.range_id, []).append(r.record)
        for rid, batch in by_range.items():
            self.ranges[rid].save(batch)

    def close(self) -> None:
        for s in self.ranges.values():
            s.close()
