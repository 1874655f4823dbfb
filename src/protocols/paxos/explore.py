"""The Synod and Multi-Paxos as models for the explorer (``protocols.explore``).

The Synod: 3 acceptors, 2 proposers (n1 and n2, each asked by one client for its own
value), every order of messages, losses, timeouts and timer firings: at most one value
is chosen (P2 of "Paxos Made Simple" §2.2, ``SynodAgreement`` over every acceptance
seen), and "a value is chosen" is reachable (a model that does nothing does not pass).
"""

from __future__ import annotations

from protocols.explore import Always, Bounds, ExploreAdapter, Sometimes, System
from protocols.paxos import SYNOD_SPEC
from protocols.paxos.sim import SYNOD
from protocols.paxos.synod import SynodCore

__all__ = ["SYNOD_MODELS", "synod"]


def _chosen(system: System) -> bool:
    """Some node learned a value (a majority accepted it and the proposer heard)."""
    return any(isinstance(node.core, SynodCore) and node.core.chosen is not None
               for node in system.nodes.values() if node.up)


def _learners_agree(system: System) -> str | None:
    learned = {node.core.chosen for node in system.nodes.values()
               if node.up and isinstance(node.core, SynodCore) and node.core.chosen}
    return None if len(learned) <= 1 else f"nodes learned different values: {sorted(learned)}"


def synod(size: str = "small") -> ExploreAdapter:
    """``size`` "small": no timer fires and no request times out (each proposer tries
    once: seconds); "full": each may time out and retry once."""
    bounds = (Bounds(ticks=0, timeouts=False, persist_moves=False) if size == "small" else
              Bounds(ticks=1, timeouts=True, persist_moves=False))
    return ExploreAdapter(
        "synod", SYNOD_SPEC, nodes=3,
        options={"retry_min_ticks": 1, "retry_max_ticks": 2},
        bounds=bounds,
        commands=("x", "y"), targets=(("n1",), ("n2",)),
        properties=(Always("learners agree", _learners_agree),
                    Sometimes("a value is chosen", _chosen)),
        sim=SYNOD,
        summary="the Synod: 3 acceptors, 2 proposers asked for x and y")


SYNOD_MODELS = {"synod": synod}
