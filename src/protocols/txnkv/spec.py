"""txnkv's ``ProtocolSpec``: its messages, options, records and how a node is built."""

from __future__ import annotations

from typing import Any

from protocols.common.wal import SyncPolicy
from protocols.contract import MessageTable, NodeContext, NodeParts, ProtocolSpec, Rpc
from protocols.txnkv.core import RangeRecord, RangeSeed, TxnKvCore, TxnKvOptions
from protocols.txnkv.messages import (
    BatchRequest,
    BatchResponse,
    ClockCheck,
    ClockCheckReply,
    RangeRaft,
    RangeRaftReply,
)
from protocols.txnkv.ranges import static_split
from protocols.txnkv.storage import TxnKvStorage

__all__ = ["SPEC", "TxnKvSpec"]


class TxnKvSpec(ProtocolSpec):
    name = "txnkv"
    messages = MessageTable((Rpc(RangeRaft, RangeRaftReply),
                             Rpc(BatchRequest, BatchResponse, deadline_ms=1000),
                             Rpc(ClockCheck, ClockCheckReply)))
    options_class = TxnKvOptions
    records = (RangeRecord, RangeSeed)

    def create_node(self, ctx: NodeContext) -> NodeParts:
        options = TxnKvOptions.from_mapping(ctx.options)
        ranges = static_split([ctx.node_id, *ctx.peers], options.splits, options.replication)
        hosted = [r.range_id for r in ranges if ctx.node_id in r.replicas]
        sync = SyncPolicy.ALWAYS if options.fsync else SyncPolicy.NEVER
        storage = TxnKvStorage(ctx.fs, ctx.data_dir, hosted, sync)
        core = TxnKvCore(ctx.node_id, ctx.peers, ctx.rng, options, storage.recovered,
                         ctx.clock, ctx.tick_s, seeds=storage.seeds)
        return NodeParts(core, storage)

    def message_size(self, msg: Any) -> int:
        return len(repr(msg))


SPEC = TxnKvSpec()
