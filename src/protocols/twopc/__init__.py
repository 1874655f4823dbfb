"""Atomic commitment: two-phase commit (Gray 1978; Bernstein, Hadzilacos & Goodman 1987,
ch. 7), with presumed abort or presumed commit (Mohan, Lindsay & Obermarck 1986), over
shards of a KV store kept with strict two-phase locking; or three-phase commit (Skeen
1981, option ``commit_protocol="3pc"``) with its termination protocol (BHG §7.5).

Read in order: ``table.py`` (the protocol as data) -> ``messages.py`` -> ``locks.py`` ->
``participant.py`` -> ``coordinator.py`` -> ``core.py`` -> ``storage.py``; ``sim.py``
runs it in the simulator.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from protocols.common.errors import ConfigError
from protocols.common.wal import SyncPolicy
from protocols.contract import MessageTable, NodeContext, NodeParts, OneWay, ProtocolSpec
from protocols.twopc.core import TwoPcCore, TwoPcOptions
from protocols.twopc.messages import (
    Ack,
    Decision,
    Inquiry,
    Outcome,
    PreCommit,
    PreCommitAck,
    Prepare,
    StateReport,
    StateRequest,
    Vote,
)
from protocols.twopc.storage import Decided, OnePhase, Prepared, TwoPcStorage

__all__ = ["SPEC", "TwoPcCore", "TwoPcOptions", "TwoPcSpec"]


class TwoPcSpec(ProtocolSpec):
    name = "twopc"
    messages = MessageTable(tuple(OneWay(m) for m in (Prepare, Vote, Decision, Ack, PreCommit,
                                                        PreCommitAck, Inquiry, Outcome,
                                                        StateRequest, StateReport)))
    options_class = TwoPcOptions
    roles = ("coordinator", "participant")
    records = (Prepared, Decided, OnePhase)  # the crash points the nemesis may arm

    def create_node(self, ctx: NodeContext) -> NodeParts:
        options = TwoPcOptions.from_mapping(ctx.options, [ctx.node_id, *ctx.peers])
        sync = SyncPolicy.ALWAYS if options.fsync else SyncPolicy.NEVER
        storage = TwoPcStorage(ctx.fs, ctx.data_dir, sync)
        core = TwoPcCore(ctx.node_id, ctx.peers, options, storage.recovered,
                         {str(k): v for k, v in ctx.roles.items()})
        return NodeParts(core, storage)

    def check_roles(self, roles: Mapping[str, str]) -> None:
        super().check_roles(roles)
        if roles and "coordinator" not in roles.values():
            raise ConfigError("2PC needs a coordinator: give one node the role "
                              "'coordinator' (the nodes without a role are participants)")

    def message_size(self, msg: Any) -> int:
        return 32 + 24 * len(getattr(msg, "ops", ())) + 24 * len(getattr(msg, "reads", ()))


SPEC = TwoPcSpec()
