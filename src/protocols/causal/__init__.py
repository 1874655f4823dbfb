"""Causal broadcast (Birman, Schiper, Stephenson 1991): the BSS/CBCAST delivery rule
over vector timestamps, a hold-back queue, reliable delivery by status and resend, and
two contrast modes (FIFO only, no ordering).

Read in order: ``messages.py`` -> ``core.py`` -> ``node.py`` (gRPC) and ``sim.py``;
the checker is ``protocols.check.causal``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from protocols.causal.core import CausalCore, CausalOptions, Mode, Send
from protocols.causal.messages import CausalMessage, Status
from protocols.common.fs import FileSystem
from protocols.common.latest import LatestRecord
from protocols.common.wal import SyncPolicy
from protocols.contract import (
    MessageTable,
    NodeContext,
    NodeParts,
    OneWay,
    ProtocolSpec,
    Storage,
)

__all__ = ["SPEC", "CausalCore", "CausalSpec", "Mode"]


class CausalStorage(Storage):
    """The member's own sequence number and what it delivered (``CausalCore._record``)."""

    def __init__(self, fs: FileSystem, data_dir: str, sync: SyncPolicy) -> None:
        fs.makedirs(data_dir)
        self.latest = LatestRecord(fs, f"{data_dir}/causal.wal", sync)

    def save(self, records: Sequence[Any]) -> None:
        if records:
            self.latest.save(records[-1])

    def close(self) -> None:
        self.latest.close()


class CausalSpec(ProtocolSpec):
    name = "causal"
    messages = MessageTable((OneWay(CausalMessage), OneWay(Status)))

    def create_node(self, ctx: NodeContext) -> NodeParts:
        options = self._options(ctx.options)
        sync = SyncPolicy.ALWAYS if ctx.options.get("fsync", True) else SyncPolicy.NEVER
        storage = CausalStorage(ctx.fs, ctx.data_dir, sync)
        core = CausalCore(ctx.node_id, ctx.peers, options, storage.latest.recovered,
                          ctx.tick_s)
        return NodeParts(core, storage)

    def check_options(self, options: Mapping[str, Any], nodes: int) -> None:
        self._options(options)

    @staticmethod
    def _options(options: Mapping[str, Any]) -> CausalOptions:
        return CausalOptions.from_mapping({k: v for k, v in options.items() if k != "fsync"})

    def message_size(self, msg: Any) -> int:
        if isinstance(msg, CausalMessage):
            return 16 + 12 * len(msg.clock) + len(msg.payload)
        if isinstance(msg, Status):
            return 8 + 12 * len(msg.delivered)
        return 32

    def bench_command(self, i: int, payload: str) -> Any:
        return Send((payload or str(i)).encode())


SPEC = CausalSpec()
