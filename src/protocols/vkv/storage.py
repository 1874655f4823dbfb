"""The versioned KV's durable state: each key's latest state and this disk's replica id,
on a write-ahead log (``protocols.common.wal``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from protocols.common.errors import StorageError
from protocols.common.fs import FileSystem
from protocols.common.wal import SyncPolicy, WriteAheadLog
from protocols.contract import Storage
from protocols.vkv.core import KeyRecord, ReplicaIdRecord

__all__ = ["VkvStorage"]


class VkvStorage(Storage):
    """One WAL record per key write (key length, key, state); recovery keeps the last
    state of each key; the log is rewritten to one record per key when it grows. The
    record with an empty key (no client key is empty) holds this disk's replica id."""

    def __init__(self, fs: FileSystem, data_dir: str, sync: SyncPolicy) -> None:
        fs.makedirs(data_dir)
        self.path = f"{data_dir}/vkv.wal"
        self.wal, records = WriteAheadLog.open(fs, self.path, sync=sync)
        self.latest: dict[str, bytes] = {}
        try:
            for raw in records:
                n = int.from_bytes(raw[:2], "big")
                self.latest[raw[2:2 + n].decode()] = raw[2 + n:]
            self.replica_id = self.latest.pop("").decode() if "" in self.latest else None
        except UnicodeDecodeError as e:
            raise StorageError(f"{self.path}: not a versioned-KV log ({e}); refusing to "
                               f"start, the file was left untouched") from None
        self.records = len(records)

    @staticmethod
    def _encode(key: str, state: bytes) -> bytes:
        k = key.encode()
        return len(k).to_bytes(2, "big") + k + state

    def save(self, records: Sequence[Any]) -> None:
        batch = [(r.key, r.state) if isinstance(r, KeyRecord) else ("", r.replica_id.encode())
                 for r in records if isinstance(r, (KeyRecord, ReplicaIdRecord))]
        for key, state in batch:
            if key:
                self.latest[key] = state
            else:
                self.replica_id = state.decode()
        if self.records + len(batch) > 4 * len(self.latest) + 1000:
            whole = sorted(self.latest.items())
            if self.replica_id is not None:
                whole.insert(0, ("", self.replica_id.encode()))
            self.wal.rewrite([self._encode(k, v) for k, v in whole])
            self.records = len(whole)
        else:
            self.wal.append([self._encode(k, v) for k, v in batch])
            self.records += len(batch)

    def close(self) -> None:
        self.wal.close()
