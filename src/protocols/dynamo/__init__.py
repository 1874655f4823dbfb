"""Dynamo (DeCandia et al., "Dynamo: Amazon's Highly Available Key-value Store", SOSP
2007), first slice: a static cluster, every node a coordinator, N/R/W quorums over the
ring's preference lists, sloppy quorum with hinted stand-ins, read repair. The versions
are the versioned KV's (``protocols.vkv``: DVVSet siblings, contexts, replica ids).

Read in order: ``messages.py`` -> ``core.py`` (the rules, and the slices still to come)
-> ``storage.py`` -> ``sim.py`` (the set-full workload). ``docs/dynamo.md`` says how to
run it.
"""

from __future__ import annotations

from typing import Any

from protocols.common.errors import StorageError
from protocols.common.wal import SyncPolicy
from protocols.contract import MessageTable, NodeContext, NodeParts, ProtocolSpec, Rpc
from protocols.dynamo.core import DynamoCore, DynamoOptions, Get, Put
from protocols.dynamo.messages import (
    Forward,
    Forwarded,
    ReplicaGet,
    ReplicaGetReply,
    ReplicaPut,
    ReplicaPutAck,
)
from protocols.dynamo.storage import DynamoStorage
from protocols.vkv.core import KeyRecord

__all__ = ["SPEC", "DynamoCore", "DynamoOptions", "DynamoSpec", "Get", "Put"]


class DynamoSpec(ProtocolSpec):
    name = "dynamo"
    messages = MessageTable((Rpc(ReplicaPut, ReplicaPutAck), Rpc(ReplicaGet, ReplicaGetReply),
                             Rpc(Forward, Forwarded)))
    options_class = DynamoOptions
    records = (KeyRecord,)

    def create_node(self, ctx: NodeContext) -> NodeParts:
        options = DynamoOptions.from_mapping(ctx.options, [ctx.node_id, *ctx.peers])
        sync = SyncPolicy.ALWAYS if options.fsync else SyncPolicy.NEVER
        storage = DynamoStorage(ctx.fs, ctx.data_dir, sync)
        try:
            core = DynamoCore(ctx.node_id, ctx.peers, ctx.rng, options, storage.latest,
                              ctx.tick_s, storage.replica_id)
        except ValueError as e:
            raise StorageError(f"{storage.path}: {e}; refusing to start, the file was left "
                               f"untouched") from None
        return NodeParts(core, storage)

    def message_size(self, msg: Any) -> int:
        if isinstance(msg, (ReplicaPut, ReplicaGetReply)):
            return 8 + len(msg.key) + len(msg.state)
        if isinstance(msg, Forward):
            return 16 + len(msg.key) + len(msg.value) + 12 * len(msg.context)
        if isinstance(msg, Forwarded):
            return 8 + sum(len(v) for v in msg.values) + 12 * len(msg.context)
        return 8 + len(getattr(msg, "key", ""))


SPEC = DynamoSpec()
