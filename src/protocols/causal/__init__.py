"""Causal broadcast (Birman, Schiper, Stephenson 1991): the BSS/CBCAST delivery rule
over vector timestamps, a hold-back queue, reliable delivery by status and resend, and
two contrast modes (FIFO only, no ordering).

Read in order: ``messages.py`` -> ``core.py`` -> ``storage.py`` -> ``node.py`` (gRPC) and
``sim.py``; the checker is ``protocols.check.causal``.
"""

from __future__ import annotations

from typing import Any

from protocols.causal.core import CausalCore, CausalOptions, Mode, Send
from protocols.causal.messages import CausalMessage, Status
from protocols.causal.storage import CausalStorage
from protocols.common.wal import SyncPolicy
from protocols.contract import MessageTable, NodeContext, NodeParts, OneWay, ProtocolSpec

__all__ = ["SPEC", "CausalCore", "CausalOptions", "CausalSpec", "CausalStorage", "Mode"]


class CausalSpec(ProtocolSpec):
    name = "causal"
    messages = MessageTable((OneWay(CausalMessage), OneWay(Status)))
    options_class = CausalOptions

    def create_node(self, ctx: NodeContext) -> NodeParts:
        options = CausalOptions.from_mapping(ctx.options, [ctx.node_id, *ctx.peers])
        sync = SyncPolicy.ALWAYS if options.fsync else SyncPolicy.NEVER
        storage = CausalStorage(ctx.fs, ctx.data_dir, sync)
        core = CausalCore(ctx.node_id, ctx.peers, options, storage.recovered, ctx.tick_s)
        return NodeParts(core, storage)

    def message_size(self, msg: Any) -> int:
        if isinstance(msg, CausalMessage):
            return 16 + 12 * len(msg.clock) + len(msg.payload)
        if isinstance(msg, Status):
            return 8 + 12 * (len(msg.delivered) + len(msg.stable))
        return 32

    def bench_command(self, i: int, payload: str) -> Any:
        return Send((payload or str(i)).encode())


SPEC = CausalSpec()
