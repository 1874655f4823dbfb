"""The deterministic simulator: the same cores, seeded faults, one seed replays one run.

``World`` is the event loop; ``run_once`` runs one seeded scenario (a workload plus a
random nemesis) and returns its result; ``replay`` turns a failing seed into a
regression test in one line::

    def test_seed_4242_regression():
        protocols.sim.replay("raft", 4242)
"""

from __future__ import annotations

from protocols.sim.api import KvAdapter, SimAdapter
from protocols.sim.disk import SimFileSystem
from protocols.sim.network import LONG_REORDERING, RELIABLE, UNRELIABLE, NetworkConfig
from protocols.sim.runner import RunResult, replay, run_once
from protocols.sim.world import SimulationFailure, World

__all__ = [
    "LONG_REORDERING",
    "RELIABLE",
    "UNRELIABLE",
    "KvAdapter",
    "NetworkConfig",
    "RunResult",
    "SimAdapter",
    "SimFileSystem",
    "SimulationFailure",
    "World",
    "replay",
    "run_once",
]
