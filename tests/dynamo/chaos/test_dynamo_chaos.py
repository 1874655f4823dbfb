"""Dynamo on real processes under the random nemesis (partitions, kill -9 + restart,
pauses, latency, lost messages; with ``--run-slow`` also nodes joining and leaving), Jepsen's
set-full workload (``cluster.workload_dynamo``): clients add unique elements to three keys
with blind puts at random nodes (siblings) and read them. Checked:

* no acknowledged add lost: every one is in the final R = N read of its key (the set-full
  checker, ``tests.support.chaos.SetFull``; stale reads during the run are allowed);
* convergence: once the faults stop, within ``CONVERGE_S`` every node sees the same ring,
  holds nothing hinted (handoff emptied every hint) and nothing moving, the cluster holds
  N copies of each key, and every node reads each key with the same siblings.

Replay: the seed is printed; ``pytest tests/dynamo/chaos -k <seed>`` runs the same
schedule (the nemesis is seeded; the interleaving of real processes is not)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from cluster.runner import LocalCluster
from cluster.workload_dynamo import SetFullWorkload
from tests.support.chaos import ALL_FAULTS, SetFull, run_chaos

Factory = Callable[..., Awaitable[LocalCluster]]

N = 3
CONVERGE_S = 20.0  # the stated bound: faults stopped -> converged
OPTIONS = {"n": N, "r": 2, "w": 2, "handoff_interval_ms": 200, "aae_interval_ms": 500,
           "failure_memory_ms": 1000,
           "swim": {"probe_interval_ms": 300, "probe_timeout_ms": 150}}


async def set_full_under_the_nemesis(cluster: Factory, tmp_path: Path, seed: int,
                                     nodes: int, duration_s: float,
                                     kinds: tuple[str, ...]) -> SetFullWorkload:
    c = await cluster("dynamo", nodes=nodes, event_log=True, seed=seed, options=OPTIONS)
    workload = SetFullWorkload(c.client_addresses, clients=4, keys=3, seed=seed, n=N,
                               converge_s=CONVERGE_S, nodes=lambda: c.client_addresses)
    checker = SetFull()
    print(f"replay: pytest tests/dynamo/chaos -k 'seed{seed}' --run-slow")
    await run_chaos(c, workload, checker, seed=seed, duration_s=duration_s,
                    tmp_path=tmp_path, kinds=kinds, min_ok=20)
    assert checker.result is not None and not checker.result.lost
    print(f"converged {workload.converged_after_s} s after the faults stopped "
          f"({workload.converge_polls} polls, {workload.probe_disagreements} with R=1 "
          f"reads differing; last: {workload.last_seen})")
    assert workload.converged_after_s is not None, (
        f"not converged within {CONVERGE_S} s after the faults stopped: "
        f"{workload.last_seen}")
    return workload


# seed 5: n2 paused, killed (-9) and restarted, then isolated, in 8 s
# 12 s: the slow suite with the others (suite time); by default the simulator runs set-full
# under every fault, and kill -9 on processes runs in the integration tests and the demo's
@pytest.mark.slow
@pytest.mark.parametrize("seed", [pytest.param(5, id="seed5")])
async def test_set_full_under_the_nemesis_loses_nothing_and_converges(
        cluster: Factory, tmp_path: Path, seed: int) -> None:
    await set_full_under_the_nemesis(cluster, tmp_path, seed, 5, 8.0, ALL_FAULTS)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [pytest.param(s, id=f"seed{s}") for s in (2, 12, 22)])
async def test_set_full_longer_runs(cluster: Factory, tmp_path: Path, seed: int) -> None:
    await set_full_under_the_nemesis(cluster, tmp_path, seed, 5, 20.0, ALL_FAULTS)


# seed 3: kill -9, latency, a partition into halves, a node joins, n2 leaves, another
# joins; seed 39: two joins, n5 leaves, n3 killed, n1 isolated
@pytest.mark.slow
@pytest.mark.parametrize("seed", [pytest.param(s, id=f"seed{s}") for s in (3, 39)])
async def test_set_full_with_nodes_joining_and_leaving(cluster: Factory, tmp_path: Path,
                                                       seed: int) -> None:
    await set_full_under_the_nemesis(cluster, tmp_path, seed, 5, 16.0,
                                     (*ALL_FAULTS, "join", "leave"))
