"""Paxos: the Synod (single-decree, ``synod.py``) and Multi-Paxos serving the same
replicated KV store as Raft.

Read in order: ``messages.py`` (ballots, pvalues, P1a/P1b/P2a/P2b) -> ``acceptor.py``,
``leader.py`` (scouts and commanders), ``replica.py`` (the roles of "Paxos Made
Moderately Complex") -> ``core.py`` (the roles wired into one node, with what makes it
usable) -> ``storage.py`` -> ``node.py`` (gRPC plumbing) and ``sim.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from protocols.common.wal import SyncPolicy
from protocols.contract import MessageTable, NodeContext, NodeParts, ProtocolSpec, Rpc
from protocols.kv.commands import KvCommand
from protocols.paxos.core import PaxosCore, PaxosOptions
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
from protocols.paxos.storage import PaxosStorage

__all__ = ["SPEC", "PaxosCore", "PaxosOptions", "PaxosSpec"]

_STORAGE_OPTIONS = ("fsync",)


class PaxosSpec(ProtocolSpec):
    name = "paxos"
    messages = MessageTable((
        Rpc(P1a, P1b),
        Rpc(P2a, P2b),
        Rpc(Heartbeat, HeartbeatReply),
        Rpc(CatchUp, CatchUpReply),
    ))

    def create_node(self, ctx: NodeContext) -> NodeParts:
        options = self._core_options(ctx.options, len(ctx.peers) + 1)
        sync = SyncPolicy.ALWAYS if ctx.options.get("fsync", True) else SyncPolicy.NEVER
        storage = PaxosStorage(ctx.fs, ctx.data_dir, sync)
        core = PaxosCore(ctx.node_id, ctx.peers, ctx.rng, options, storage.recovered,
                         clock=ctx.clock, tick_s=ctx.tick_s)
        return NodeParts(core, storage)

    def check_options(self, options: Mapping[str, Any], nodes: int) -> None:
        self._core_options(options, nodes)

    @staticmethod
    def _core_options(options: Mapping[str, Any], nodes: int) -> PaxosOptions:
        return PaxosOptions.from_mapping({k: v for k, v in options.items()
                                          if k not in _STORAGE_OPTIONS}, nodes)

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
