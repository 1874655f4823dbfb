"""A Dynamo-style multi-version KV: always-writable replicas, siblings for concurrent
writes, resolved by a write that saw them; dotted or plain version vectors.

Read in order: ``messages.py`` -> ``state.py`` (a key's siblings on the wire) ->
``core.py`` -> ``node.py`` (gRPC), ``client.py`` and ``sim.py``; the lost-write check is
``protocols.check.vkv``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from protocols.common.errors import StorageError
from protocols.common.fs import FileSystem
from protocols.common.wal import SyncPolicy, WriteAheadLog
from protocols.contract import MessageTable, NodeContext, NodeParts, OneWay, ProtocolSpec, Rpc
from protocols.contract import Storage as StorageBase
from protocols.vkv.core import KeyRecord, Put, ReplicaIdRecord, VkvCore, VkvOptions
from protocols.vkv.messages import Digest, DigestReply, Replicate

__all__ = ["SPEC", "VkvCore", "VkvSpec"]


class VkvStorage(StorageBase):
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


class VkvSpec(ProtocolSpec):
    name = "vkv"
    messages = MessageTable((OneWay(Replicate), Rpc(Digest, DigestReply)))

    def create_node(self, ctx: NodeContext) -> NodeParts:
        options = self._options(ctx.options)
        sync = SyncPolicy.ALWAYS if ctx.options.get("fsync", True) else SyncPolicy.NEVER
        storage = VkvStorage(ctx.fs, ctx.data_dir, sync)
        try:
            core = VkvCore(ctx.node_id, ctx.peers, ctx.rng, options, storage.latest,
                           ctx.tick_s, storage.replica_id)
        except ValueError as e:
            raise StorageError(f"{storage.path}: {e}; refusing to start, the file was left "
                               f"untouched") from None
        return NodeParts(core, storage)

    def check_options(self, options: Mapping[str, Any], nodes: int) -> None:
        self._options(options)

    @staticmethod
    def _options(options: Mapping[str, Any]) -> VkvOptions:
        return VkvOptions.from_mapping({k: v for k, v in options.items() if k != "fsync"})

    def message_size(self, msg: Any) -> int:
        if isinstance(msg, Replicate):
            return 8 + len(msg.key) + len(msg.state)
        if isinstance(msg, Digest):
            return 8 + sum(10 + len(k) for k in msg.hashes)
        if isinstance(msg, DigestReply):
            return 8 + sum(len(k) + len(v) for k, v in msg.states.items())
        return 32

    def bench_command(self, i: int, payload: str) -> Any:
        return Put(f"bench{i % 100}", payload or str(i), {})


SPEC = VkvSpec()
