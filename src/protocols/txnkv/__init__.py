"""A CockroachDB-style transactional store (issue #36): ranges as Raft groups, hybrid
logical clock timestamps, MVCC with write intents, parallel commits and status recovery.

Ranges are Raft groups, every transaction has a hybrid-logical-clock timestamp
(``protocols.clocks.hlc``), values are multi-versioned, writes are provisional *intents*
until their transaction record says otherwise, and a commit is one consensus round
(parallel commits). Course chapter: transactions. Read in order:

* ``mvcc.py``: one range's multi-version store: committed versions by HLC timestamp,
  write intents, the uncertainty interval, intent resolution, GC; and the transaction's
  header every intent carries (``TxnMeta``);
* ``tscache.py``: the timestamp cache: the highest read per key and span, and the rule
  that pushes a write above a served read (why serializable reads take no locks);
* ``record.py``: transaction records and parallel-commit status resolution;
* ``ranges.py``: the static split of the keyspace, and each range's replicas;
* ``messages.py``: requests to a leaseholder, and what a range's Raft log carries;
* ``replica.py``: a range's replicated state (MVCC, records, the lease) and the
  leaseholder's evaluation (timestamp cache, latches, lease);
* ``coordinator.py``: a transaction from its reads to its commit, pushes and recovery;
* ``core.py``: a node: its ranges' Raft groups, the coordinator, the clock;
* ``storage.py`` and ``sim.py`` (the bank and list-append workloads, the TLA+ model's
  properties after every event).

``docs/txnkv.md`` says what exists and what comes next.
"""

from __future__ import annotations

from typing import Any

from protocols.common.wal import SyncPolicy
from protocols.contract import MessageTable, NodeContext, NodeParts, ProtocolSpec, Rpc
from protocols.txnkv.core import RangeRecord, TxnKvCore, TxnKvOptions
from protocols.txnkv.messages import BatchRequest, BatchResponse, RangeRaft, RangeRaftReply
from protocols.txnkv.ranges import static_split
from protocols.txnkv.storage import TxnKvStorage

__all__ = ["SPEC", "TxnKvCore", "TxnKvOptions", "TxnKvSpec"]


class TxnKvSpec(ProtocolSpec):
    name = "txnkv"
    messages = MessageTable((Rpc(RangeRaft, RangeRaftReply),
                             Rpc(BatchRequest, BatchResponse, deadline_ms=1000)))
    options_class = TxnKvOptions
    records = (RangeRecord,)

    def create_node(self, ctx: NodeContext) -> NodeParts:
        options = TxnKvOptions.from_mapping(ctx.options)
        ranges = static_split([ctx.node_id, *ctx.peers], options.splits, options.replication)
        hosted = [r.range_id for r in ranges if ctx.node_id in r.replicas]
        sync = SyncPolicy.ALWAYS if options.fsync else SyncPolicy.NEVER
        storage = TxnKvStorage(ctx.fs, ctx.data_dir, hosted, sync)
        core = TxnKvCore(ctx.node_id, ctx.peers, ctx.rng, options, storage.recovered,
                         ctx.clock, ctx.tick_s)
        return NodeParts(core, storage)

    def message_size(self, msg: Any) -> int:
        return len(repr(msg))


SPEC = TxnKvSpec()
