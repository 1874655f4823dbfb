"""2PC on real processes under the random nemesis (partitions, kill -9, pauses, latency,
lost messages) and its crash points armed at random (``after_persist:Prepared``,
``Decided``, ``OnePhase``, ``before_send`` of every message): the bank keeps its total
with no transfer torn or lost, and list-append transactions are strict serializable.

Replay: the seed is printed; ``pytest tests/twopc/chaos -k <seed>`` runs the same
schedule (the nemesis is seeded; the interleaving of real processes is not)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from cluster.runner import LocalCluster
from cluster.workload_twopc import BankWorkload, ListAppendWorkload
from tests.support.chaos import (
    ALL_FAULTS,
    TARGETED_FAULTS,
    BankConsistent,
    Serializable,
    run_chaos,
)

Factory = Callable[..., Awaitable[LocalCluster]]
KINDS = (*ALL_FAULTS, "crash_point", "hook")
assert set(KINDS) >= set(TARGETED_FAULTS) - {"disk_pause"}
OPTIONS = {"inquiry_ticks": 20, "vote_timeout_ticks": 100, "lock_timeout_ticks": 50}


# 12 s: the slow suite (suite time). By default the simulator runs the bank under the
# nemesis and every crash point (tests/twopc/sim), and each crash point of the textbook
# is forced on processes (tests/twopc/integration/test_twopc_cluster.py)
@pytest.mark.slow
@pytest.mark.parametrize("seed", [14])  # the coordinator crashes before a COMMIT leaves
async def test_bank_under_the_nemesis_keeps_its_total(cluster: Factory, tmp_path: Path,
                                                      seed: int) -> None:
    c = await cluster("twopc", nodes=4, event_log=True, seed=seed, options=OPTIONS)
    workload = BankWorkload(c.client_addresses, clients=4, seed=seed)
    checker = BankConsistent(lambda: workload.bank.initial if workload.bank else {})
    await run_chaos(c, workload, checker, seed=seed, duration_s=10.0, tmp_path=tmp_path,
                    kinds=KINDS, min_ok=20)
    assert [e["point"] for e in c.nemesis.crash_points_fired()] == ["before_send:Decision"]


@pytest.mark.slow  # the simulator runs list-append under the nemesis in the default suite
@pytest.mark.parametrize("seed", [9])  # a shard crashes right after PREPARED
async def test_list_append_under_the_nemesis_is_strict_serializable(
        cluster: Factory, tmp_path: Path, seed: int) -> None:
    c = await cluster("twopc", nodes=4, event_log=True, seed=seed, options=OPTIONS)
    workload = ListAppendWorkload(c.client_addresses, clients=4, seed=seed)
    await run_chaos(c, workload, Serializable(), seed=seed, duration_s=10.0,
                    tmp_path=tmp_path, kinds=KINDS, min_ok=20)
    assert [e["point"] for e in c.nemesis.crash_points_fired()] == ["after_persist:Prepared"]
