"""Causal-broadcast cores driven by hand, for the unit and paper tests."""

from __future__ import annotations

from collections.abc import Sequence

from protocols.causal.core import CausalCore, CausalOptions, Recovered
from protocols.causal.messages import Status
from protocols.common.ids import NodeId

IDS = ("n1", "n2", "n3")
TICK_S = 0.01


def member(node: str, recovered: Recovered | None = None, ids: Sequence[str] = IDS,
           options: CausalOptions | None = None, *, first_start: bool = True
           ) -> CausalCore:
    """A member of ``ids``. On an empty disk (``recovered`` None) and ``first_start``, it
    hears every peer say it delivered nothing (a cluster's first start) and is rejoined;
    otherwise it is left as it started."""
    c = CausalCore(NodeId(node), [NodeId(p) for p in ids if p != node],
                   options or CausalOptions(), recovered, TICK_S)
    if recovered is None and first_start:
        for p in c.peers:
            c.on_message(p, Status({}))
        assert c.rejoined
        c.ready()
    return c


def status_of(c: CausalCore) -> Status:
    """The Status ``c`` would send now."""
    return Status(c._prefixes(), dict(c.stable_point))
