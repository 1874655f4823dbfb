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
from protocols.txnkv.core import RangeSeed

__all__ = ["TxnKvStorage"]


class TxnKvStorage(Storage):
    """``range_ids``: the static split's ranges this node hosts; the ranges born of
    splits are found on disk by their seed (``seed.bin``, written before their log)."""

    def __init__(self, fs: FileSystem, data_dir: str, range_ids: Sequence[str],
                 sync: SyncPolicy) -> None:
        self.fs, self.root, self.sync = fs, f"{data_dir}/ranges", sync
        fs.makedirs(self.root)
        self.seeds: dict[str, bytes] = {}
        for rid in sorted(fs.listdir(self.root)):
            if fs.exists(self._seed(rid)):
                self.seeds[rid] = fs.read(self._seed(rid))
        self.ranges = {rid: RaftStorage(fs, f"{self.root}/{rid}", sync)
                       for rid in (*range_ids, *self.seeds)}
        self.recovered: dict[str, RecoveredState] = {rid: s.recovered
                                                     for rid, s in self.ranges.items()}

    def _seed(self, rid: str) -> str:
        return f"{self.root}/{rid}/seed.bin"

    def save(self, records: Sequence[Any]) -> None:
        """Each range's records in its own log, in order; durable when this returns. A
        seed is written (atomically) before anything of its range."""
        by_range: dict[str, list[Any]] = {}
        for r in records:
            if isinstance(r, RangeSeed):
                self._save_seed(r)
            else:
                by_range.setdefault(r.range_id, []).append(r.record)
        for rid, batch in by_range.items():
            self.ranges[rid].save(batch)

    def _save_seed(self, seed: RangeSeed) -> None:
        if seed.range_id in self.ranges:  # a replay after a restart: it is there
            return
        self.fs.makedirs(f"{self.root}/{seed.range_id}")
        self.fs.write_atomic(self._seed(seed.range_id), seed.state)
        self.ranges[seed.range_id] = RaftStorage(self.fs, f"{self.root}/{seed.range_id}",
                                                 self.sync)

    def close(self) -> None:
        for s in self.ranges.values():
            s.close()
