"""Raft: a persistent, linearizable replicated KV store.

Read in order: ``messages.py`` (the paper's RPCs) -> ``log.py`` -> ``core.py`` (the
algorithm, in the paper's order) with the rules it leans on in modules of their own
(``quorum.py``, ``progress.py``, ``reads.py``, ``membership.py``, ``snapshots.py``) ->
``records.py`` and ``storage.py`` (durable state) -> ``node.py`` (gRPC plumbing) and
``sim.py`` (the simulator adapter).
"""

from __future__ import annotations

from typing import Any

from protocols.common.wal import SyncPolicy
from protocols.contract import MessageTable, NodeContext, NodeParts, ProtocolSpec, Rpc
from protocols.kv.commands import KvCommand
from protocols.raft.core import RaftCore, Role
from protocols.raft.messages import (
    AppendEntries,
    AppendEntriesReply,
    InstallSnapshot,
    InstallSnapshotReply,
    RequestVote,
    RequestVoteReply,
    TimeoutNow,
    TimeoutNowReply,
)
from protocols.raft.options import RaftOptions, ReadMode
from protocols.raft.records import AppendEntry, HardState, SaveSnapshot, TruncateFrom
from protocols.raft.storage import RaftStorage

__all__ = ["SPEC", "RaftCore", "RaftOptions", "RaftSpec", "ReadMode", "Role"]


class RaftSpec(ProtocolSpec):
    name = "raft"
    messages = MessageTable((
        Rpc(RequestVote, RequestVoteReply),
        Rpc(AppendEntries, AppendEntriesReply),
        Rpc(InstallSnapshot, InstallSnapshotReply),
        Rpc(TimeoutNow, TimeoutNowReply),
    ))
    records = (HardState, AppendEntry, TruncateFrom, SaveSnapshot)  # records.py
    options_class = RaftOptions

    def create_node(self, ctx: NodeContext) -> NodeParts:
        options = RaftOptions.from_mapping(ctx.options, [ctx.node_id, *ctx.peers])
        sync = SyncPolicy.ALWAYS if options.fsync else SyncPolicy.NEVER
        storage = RaftStorage(ctx.fs, ctx.data_dir, sync)
        state = storage.recovered
        core = RaftCore(ctx.node_id, ctx.peers, ctx.rng, options,
                        state.current_term, state.voted_for, state.entries, state.snapshot,
                        clock=ctx.clock, tick_s=ctx.tick_s)
        return NodeParts(core, storage)

    def message_size(self, msg: Any) -> int:
        match msg:
            case AppendEntries(entries=entries):
                return 32 + sum(24 + len(e.command) for e in entries)
            case InstallSnapshot(data=data):
                return 32 + len(data)
        return 32

    def bench_command(self, i: int, payload: str) -> Any:
        """Admin.Load proposes puts at the leader (like a library client of PySyncObj)."""
        return KvCommand("put", f"bench{i % 1000}", payload or str(i))


SPEC = RaftSpec()
