"""The deterministic simulator: the same cores, seeded faults, one seed replays one run.

``World`` is the event loop; ``run_once(adapter, seed)`` runs one seeded scenario (one
of the protocol's workloads plus a random nemesis) and returns its result; ``replay``
turns a failing seed into a regression test.

The simulator knows no protocol, and no list of them: each one hands it a ``SimAdapter``
(its spec, invariants and workloads). Running a protocol *by name* — ``scripts/sim``,
``protocols.simulate.replay("raft", 4242)`` — goes through ``protocols.simulate``, which
stands above the simulator and the registry.
"""

from __future__ import annotations

from protocols.sim.api import (
    KvBinding,
    SimAdapter,
    Verdict,
    Workload,
    WorkloadFactory,
    WorkloadParams,
)
from protocols.sim.disk import SimFileSystem
from protocols.sim.network import LONG_REORDERING, RELIABLE, UNRELIABLE, NetworkConfig
from protocols.sim.runner import RunResult, replay, run_once, sweep
from protocols.sim.workload import KvWorkload, kv_workload
from protocols.sim.world import SimulationFailure, World

__all__ = [
    "LONG_REORDERING",
    "RELIABLE",
    "UNRELIABLE",
    "KvBinding",
    "KvWorkload",
    "NetworkConfig",
    "RunResult",
    "SimAdapter",
    "SimFileSystem",
    "SimulationFailure",
    "Verdict",
    "Workload",
    "WorkloadFactory",
    "WorkloadParams",
    "World",
    "kv_workload",
    "replay",
    "run_once",
    "sweep",
]
