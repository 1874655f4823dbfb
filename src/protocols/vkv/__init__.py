"""A Dynamo-style multi-version KV: always-writable replicas, siblings for concurrent
writes, resolved by a write that saw them; dotted or plain version vectors.

Read in order: ``messages.py`` -> ``state.py`` (a key's siblings on the wire) ->
``core.py`` -> ``storage.py`` -> ``node.py`` (gRPC), ``client.py`` and ``sim.py``; the
lost-write check is ``protocols.check.vkv``.
"""

from __future__ import annotations

from typing import Any

from protocols.common.errors import StorageError
from protocols.common.wal import SyncPolicy
from protocols.contract import MessageTable, NodeContext, NodeParts, OneWay, ProtocolSpec, Rpc
from protocols.vkv.core import Clock, Put, VkvCore, VkvOptions
from protocols.vkv.messages import Digest, DigestReply, Replicate
from protocols.vkv.storage import VkvStorage

__all__ = ["SPEC", "Clock", "VkvCore", "VkvOptions", "VkvSpec", "VkvStorage"]


class VkvSpec(ProtocolSpec):
    name = "vkv"
    messages = MessageTable((OneWay(Replicate), Rpc(Digest, DigestReply)))
    options_class = VkvOptions

    def create_node(self, ctx: NodeContext) -> NodeParts:
        options = VkvOptions.from_mapping(ctx.options, [ctx.node_id, *ctx.peers])
        sync = SyncPolicy.ALWAYS if options.fsync else SyncPolicy.NEVER
        storage = VkvStorage(ctx.fs, ctx.data_dir, sync)
        try:
            core = VkvCore(ctx.node_id, ctx.peers, ctx.rng, options, storage.latest,
                           ctx.tick_s, storage.replica_id)
        except ValueError as e:
            raise StorageError(f"{storage.path}: {e}; refusing to start, the file was left "
                               f"untouched") from None
        return NodeParts(core, storage)

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
