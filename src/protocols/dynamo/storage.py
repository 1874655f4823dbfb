"""Dynamo's durable state: the versioned KV's log of key states (``VkvStorage``, reused)
and, beside it, the SWIM member's self record (``SwimStorage``, in ``swim/``).

Each key's last state is one record of the log (``protocols.vkv.storage``); a stand-in's
hinted versions (§4.6) are records under their own keys, ``"\\0owner\\0key"``
(``core.hinted_key``; no client key starts with a NUL), so they are never read back as
the node's own keys. A key handed over (rebalancing, §4.9) or a hint delivered (§4.6) is
dropped by a record with an empty state: recovery forgets it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from protocols.common.fs import FileSystem
from protocols.common.wal import SyncPolicy
from protocols.contract import Storage
from protocols.swim.core import SelfRecord
from protocols.swim.storage import SwimStorage
from protocols.vkv.core import KeyRecord
from protocols.vkv.storage import VkvStorage

__all__ = ["DynamoStorage"]


class DynamoStorage(Storage):
    def __init__(self, fs: FileSystem, data_dir: str, member: str, sync: SyncPolicy) -> None:
        self.keys = VkvStorage(fs, data_dir, sync)
        self.swim = SwimStorage(fs, f"{data_dir}/swim", member, sync)
        self.path = self.keys.path
        self.latest = {k: v for k, v in self.keys.latest.items() if v}
        self.replica_id = self.keys.replica_id
        self.swim_recovered = self.swim.recovered

    def save(self, records: Sequence[Any]) -> None:
        """Keys first, then SWIM's record (each durable before the call returns)."""
        self.keys.save([r for r in records if not isinstance(r, SelfRecord)])
        for key in {r.key for r in records if isinstance(r, KeyRecord) and not r.state}:
            self.keys.latest.pop(key, None)  # dropped: not rewritten when the log compacts
        self.swim.save([r for r in records if isinstance(r, SelfRecord)])

    def close(self) -> None:
        self.keys.close()
        self.swim.close()
