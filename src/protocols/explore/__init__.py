"""Model checking the cores the nodes run: every interleaving of a small cluster.

``Explorer(adapter).run("bfs")`` visits every state of the protocol's own cores reachable
within ``Bounds`` (messages delivered in any order, dropped, duplicated; timers; crashes
with or without a torn write; restarts; client commands), checks ``Always``,
``Sometimes`` and ``Eventually`` properties, and returns the shortest counterexample.
See ``system`` (the state and its moves), ``search`` (BFS/DFS, fingerprints, symmetry)
and ``report`` (steps, space-time diagram, replay). Course chapter: model checking.
"""

from protocols.explore.model import (
    Always,
    Bounds,
    Eventually,
    ExploreAdapter,
    Property,
    Sometimes,
    sim_invariants,
)
from protocols.explore.system import Move, System

__all__ = ["Always", "Bounds", "Eventually", "ExploreAdapter", "Move", "Property",
           "Sometimes", "System", "sim_invariants"]
