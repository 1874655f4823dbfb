"""SWIM's durable state: only what a member alone knows about itself (``SelfRecord``:
its incarnation, its own entry, its event sequence). Everything else it relearns from
the group. Kept as JSON in a ``LatestRecord`` (the newest record wins, fsynced)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from protocols.common.errors import StorageError
from protocols.common.fs import FileSystem
from protocols.common.latest import LatestRecord
from protocols.common.wal import SyncPolicy
from protocols.contract import Storage
from protocols.swim.core import SelfRecord
from protocols.swim.messages import Entry

__all__ = ["SwimStorage"]


def _encode(r: SelfRecord) -> bytes:
    e = r.entry
    return json.dumps({"incarnation": r.incarnation, "event_seq": r.event_seq,
                       "version": e.version, "meta": dict(e.meta), "p": e.p, "n": e.n},
                      sort_keys=True).encode()


def _decode(member: str, raw: bytes) -> SelfRecord:
    d = json.loads(raw)
    meta = d["meta"]
    ints = [d[k] for k in ("incarnation", "event_seq", "version", "p", "n")]
    if not all(isinstance(i, int) and i >= 0 for i in ints) or not isinstance(meta, dict):
        raise ValueError("bad field types")
    return SelfRecord(d["incarnation"], Entry(member, d["version"], 0, meta, d["p"], d["n"]),
                      d["event_seq"])


class SwimStorage(Storage):
    def __init__(self, fs: FileSystem, data_dir: str, member: str,
                 sync: SyncPolicy = SyncPolicy.ALWAYS) -> None:
        fs.makedirs(data_dir)
        self.latest = LatestRecord(fs, f"{data_dir}/swim.wal", sync)
        self.path = self.latest.path
        self.recovered: SelfRecord | None = None
        if self.latest.recovered is not None:
            try:
                self.recovered = _decode(member, self.latest.recovered)
            except (ValueError, KeyError, TypeError) as e:
                raise StorageError(f"{self.path}: not a SWIM self record ({e}); refusing "
                                   f"to start, the file was left untouched") from None

    def save(self, records: Sequence[Any]) -> None:
        if records:  # each record supersedes the ones before it
            self.latest.save(_encode(records[-1]))

    def close(self) -> None:
        self.latest.close()
