"""Paxos: the Synod (single-decree, ``synod.py``) and Multi-Paxos serving the same
replicated KV store as Raft.

Read in order: ``messages.py`` (ballots, pvalues, P1a/P1b/P2a/P2b) -> ``acceptor.py``,
``leader.py`` (scouts and commanders), ``replica.py`` (the roles of "Paxos Made
Moderately Complex") -> ``core.py`` (the roles wired into one node, with what makes it
usable) -> ``options.py`` -> ``storage.py`` -> ``node.py`` (gRPC plumbing) and ``sim.py``.
Both protocols' specs are here: ``SPEC`` (Multi-Paxos) and ``SYNOD_SPEC``.
"""

from __future__ import annotations

from typing import Any

from protocols.common.wal import SyncPolicy
from protocols.contract import MessageTable, NodeContext, NodeParts, OneWay, ProtocolSpec, Rpc
from protocols.kv.commands import KvCommand
from protocols.paxos.core import (
    AcceptRecord,
    BallotRecord,
    PaxosCore,
    RoundRecord,
    SnapshotRecord,
)
from protocols.paxos.messages import (
    CatchUp,
    CatchUpReply,
    Heartbeat,
    HeartbeatReply,
    P1a,
    P1b,
    P2a,
    P2b,
)
from protocols.paxos.options import PaxosOptions, ReadMode, SynodOptions
from protocols.paxos.storage import PaxosStorage, SynodStorage
from protocols.paxos.synod import Accept, Accepted, Chosen, Prepare, Promise, SynodCore

__all__ = ["SPEC", "SYNOD_SPEC", "PaxosCore", "PaxosOptions", "PaxosSpec", "ReadMode",
           "SynodCore", "SynodOptions", "SynodSpec"]


class PaxosSpec(ProtocolSpec):
    name = "paxos"
    messages = MessageTable((
        Rpc(P1a, P1b),
        Rpc(P2a, P2b),
        Rpc(Heartbeat, HeartbeatReply),
        Rpc(CatchUp, CatchUpReply),
    ))
    # what the core persists (core.py; storage.py writes DecisionRecords only inside a
    # snapshot's rewrite)
    records = (BallotRecord, AcceptRecord, RoundRecord, SnapshotRecord)
    options_class = PaxosOptions

    def create_node(self, ctx: NodeContext) -> NodeParts:
        options = PaxosOptions.from_mapping(ctx.options, [ctx.node_id, *ctx.peers])
        sync = SyncPolicy.ALWAYS if options.fsync else SyncPolicy.NEVER
        storage = PaxosStorage(ctx.fs, ctx.data_dir, sync)
        core = PaxosCore(ctx.node_id, ctx.peers, ctx.rng, options, storage.recovered,
                         clock=ctx.clock, tick_s=ctx.tick_s)
        return NodeParts(core, storage)

    def message_size(self, msg: Any) -> int:
        match msg:
            case P2a(pvalues=pvalues):
                return 16 + sum(40 + len(pv.command) for pv in pvalues)
            case P1b(accepted=accepted):
                return 40 + sum(40 + len(pv.command) for pv in accepted)
            case CatchUpReply(decisions=decisions, snapshot=snapshot):
                return 24 + len(snapshot) + sum(16 + len(d.command) for d in decisions)
        return 32

    def bench_command(self, i: int, payload: str) -> Any:
        return KvCommand("put", f"bench{i % 1000}", payload or str(i))


SPEC = PaxosSpec()


class SynodSpec(ProtocolSpec):
    """Single-decree Paxos (``synod.py``): a protocol of its own, in the simulator only."""

    name = "synod"
    messages = MessageTable((Rpc(Prepare, Promise), Rpc(Accept, Accepted), OneWay(Chosen)))
    options_class = SynodOptions

    def create_node(self, ctx: NodeContext) -> NodeParts:
        options = SynodOptions.from_mapping(ctx.options, [ctx.node_id, *ctx.peers])
        sync = SyncPolicy.ALWAYS if options.fsync else SyncPolicy.NEVER
        storage = SynodStorage(ctx.fs, ctx.data_dir, sync)
        core = SynodCore(ctx.node_id, ctx.peers, ctx.rng, options, storage.acceptor,
                         storage.highest_round)
        return NodeParts(core, storage)


SYNOD_SPEC = SynodSpec()
