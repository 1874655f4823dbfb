"""The bare protocol: a node with no algorithm at all.

It serves everything the shared shell serves (health, reflection, Admin, Probe) and
nothing else. The cluster runner's own tests use it to prove partitions, kills and
message faults work before any real protocol exists, and it is the smallest example of
a protocol plugging into ``protocols.runtime``.
"""

from __future__ import annotations

from typing import Any

from protocols.bare.core import BareCore
from protocols.contract import NodeContext, NodeParts, NoStorage, ProtocolSpec

__all__ = ["SPEC", "BareCore", "BareSpec"]


class BareSpec(ProtocolSpec):
    name = "bare"

    def create_node(self, ctx: NodeContext) -> NodeParts:
        return NodeParts(BareCore(ctx.node_id), NoStorage())

    def bench_command(self, i: int, payload: str) -> Any:
        """Admin.Load on a bare node measures the shell alone (submit -> pump -> answer)."""
        return payload


SPEC = BareSpec()
