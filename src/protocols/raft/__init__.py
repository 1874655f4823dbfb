"""Raft: a persistent, linearizable replicated KV store.

Read in order: ``messages.py`` (the paper's RPCs) -> ``log.py`` -> ``core.py`` (the
algorithm, in the paper's order) with the rules it leans on in modules of their own
(``quorum.py``, ``progress.py``, ``reads.py``, ``membership.py``, ``snapshots.py``) ->
``records.py`` and ``storage.py`` (durable state) -> ``node.py`` (gRPC plumbing) and
``sim.py`` (the simulator adapter).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from protocols.common.wal import SyncPolicy
from protocols.contract import MessageTable, NodeContext, NodeParts, ProtocolSpec, Rpc
from protocols.kv.commands import KvCommand
from protocols.raft.core import RaftCore, RaftOptions, Role
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
from protocols.raft.storage import RaftStorage

__all__ = ["SPEC", "RaftCore", "RaftOptions", "RaftSpec", "Role"]

_STORAGE_OPTIONS = ("fsync",)


class RaftSpec(ProtocolSpec):
    name = "raft"
    messages = MessageTable((
        Rpc(RequestVote, RequestVoteReply),
        Rpc(AppendEntries, AppendEntriesReply),
        Rpc(InstallSnapshot, InstallSnapshotReply),
        Rpc(TimeoutNow, TimeoutNowReply),
    ))

    def create_node(self, ctx: NodeContext) -> NodeParts:
        sync = SyncPolicy.ALWAYS if ctx.options.get("fsync", True) else SyncPolicy.NEVER
        storage = RaftStorage(ctx.fs, ctx.data_dir, sync)
        state = storage.recovered
        core = RaftCore(ctx.node_id, ctx.peers, ctx.rng, self._core_options(ctx.options),
                        state.current_term, state.voted_for, state.entries, state.snapshot,
                        clock=ctx.clock, tick_s=ctx.tick_s)
        return NodeParts(core, storage)

    def check_options(self, options: Mapping[str, Any], nodes: int) -> None:
        self._core_options(options)

    @staticmethod
    def _core_options(options: Mapping[str, Any]) -> RaftOptions:
        return RaftOptions.from_mapping({k: v for k, v in options.items()
                                         if k not in _STORAGE_OPTIONS})

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
