"""Dynamo (DeCandia et al., "Dynamo: Amazon's Highly Available Key-value Store", SOSP
2007): every node a coordinator, N/R/W quorums over the ring's preference lists
(``protocols.hashing.Ring``), sloppy quorum and hinted handoff, read repair, anti-entropy
with Merkle or Tictac trees, membership and failure detection by SWIM
(``protocols.swim``), rebalancing on joins and leaves, and siblings under dotted version
vectors (the versioned KV's, ``protocols.vkv``) or last-write-wins for contrast.

Read in order: ``messages.py`` -> ``membership.py`` -> ``core.py`` (the rules) ->
``lww.py`` -> ``aae.py`` (the trees) -> ``storage.py`` -> ``sim.py`` (the set-full
workload). ``docs/dynamo.md`` says how to run it.
"""

from __future__ import annotations

from typing import Any

from protocols.common.errors import StorageError
from protocols.common.wal import SyncPolicy
from protocols.contract import MessageTable, NodeContext, NodeParts, ProtocolSpec, Rpc
from protocols.dynamo.core import SWIM_MESSAGES, DynamoCore, DynamoOptions, Get, Ownership, Put
from protocols.dynamo.messages import (
    AaeAnswer,
    AaeAsk,
    Forward,
    Forwarded,
    ReplicaGet,
    ReplicaGetReply,
    ReplicaPut,
    ReplicaPutAck,
)
from protocols.dynamo.storage import DynamoStorage
from protocols.swim import SPEC as SWIM_SPEC
from protocols.vkv.core import KeyRecord

__all__ = ["SPEC", "DynamoCore", "DynamoOptions", "DynamoSpec", "Get", "Ownership", "Put"]


class DynamoSpec(ProtocolSpec):
    name = "dynamo"
    open_membership = True  # a node joins by SWIM, through a seed
    messages = MessageTable((Rpc(ReplicaPut, ReplicaPutAck), Rpc(ReplicaGet, ReplicaGetReply),
                             Rpc(Forward, Forwarded), Rpc(AaeAsk, AaeAnswer),
                             *SWIM_SPEC.messages.kinds))
    options_class = DynamoOptions
    records = (KeyRecord,)

    def create_node(self, ctx: NodeContext) -> NodeParts:
        # checked against the cluster's size when it starts (check_options); a node built
        # later may find fewer members than N (nodes left): it serves what it can
        options = DynamoOptions.from_mapping(ctx.options)
        sync = SyncPolicy.ALWAYS if options.fsync else SyncPolicy.NEVER
        storage = DynamoStorage(ctx.fs, ctx.data_dir, ctx.node_id, sync)
        try:
            core = DynamoCore(ctx.node_id, ctx.peers, ctx.rng, options, storage.latest,
                              ctx.tick_s, storage.replica_id,
                              swim_recovered=storage.swim_recovered, address=ctx.address,
                              addresses=ctx.addresses, clock=ctx.clock)
        except ValueError as e:
            raise StorageError(f"{storage.path}: {e}; refusing to start, the file was left "
                               f"untouched") from None
        return NodeParts(core, storage)

    def message_size(self, msg: Any) -> int:
        if isinstance(msg, SWIM_MESSAGES):
            return SWIM_SPEC.message_size(msg)
        if isinstance(msg, (ReplicaPut, ReplicaGetReply)):
            return 8 + len(msg.key) + len(msg.state)
        if isinstance(msg, Forward):
            return 16 + len(msg.key) + len(msg.value) + 12 * len(msg.context)
        if isinstance(msg, AaeAsk):
            return 8 + 4 * len(msg.indices)
        if isinstance(msg, AaeAnswer):
            return 8 + 8 * len(msg.hashes) + sum(4 + sum(len(k) + 8 for k in seg.items)
                                                 for seg in msg.items.values())
        if isinstance(msg, Forwarded):
            return 8 + sum(len(v) for v in msg.values) + 12 * len(msg.context)
        return 8 + len(getattr(msg, "key", ""))


SPEC = DynamoSpec()
