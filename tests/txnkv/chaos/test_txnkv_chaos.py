"""txnkv on real processes under the random nemesis (partitions, kill -9, pauses,
latency, lost messages) with crash points and message hooks armed at random: the bank
keeps its total with no transfer torn or lost, and list-append transactions over the
three ranges are strict serializable. Clock skew beyond the bound is the simulator's
(``tests/txnkv/sim/test_clock_skew.py``): a process's clock cannot be moved from outside.

Replay: the seed is printed; ``pytest tests/txnkv/chaos -k <seed> --run-slow`` runs the
same schedule (the nemesis is seeded; the interleaving of real processes is not)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from cluster.runner import LocalCluster
from cluster.workload_twopc import BankWorkload, ListAppendWorkload
from protocols.check.spacetime import load_events
from protocols.txnkv.observed import ACK, violations
from protocols.txnkv.ranges import spread, static_split
from tests.support.chaos import ALL_FAULTS, BankConsistent, Serializable, run_chaos

Factory = Callable[..., Awaitable[LocalCluster]]
KINDS = (*ALL_FAULTS, "crash_point", "hook")
RANGES = static_split(("n1", "n2", "n3"), ("h", "p"), 3)


def _place(names: list[str]) -> list[str]:
    return spread(RANGES, names)


async def _tla_properties_hold(c: LocalCluster) -> None:
    """The TLA+ model's properties over every node's notes, across its kills and
    restarts (``protocols.txnkv.observed``), after the final reads met every key."""
    await c.stop()
    events = load_events(c.dir)
    assert any(e["kind"] == "note" and str(e["text"]).startswith(ACK) for e in events)
    assert violations(events, final=True) == []


# 2 x ~25 s: the slow suite; by default the simulator runs both workloads under the
# nemesis, and the demo kills -9 under a bank on processes
@pytest.mark.slow
@pytest.mark.parametrize("seed", [3, 8])
async def test_bank_under_the_nemesis_keeps_its_total(cluster: Factory, tmp_path: Path,
                                                      seed: int) -> None:
    c = await cluster("txnkv", nodes=3, event_log=True, seed=seed)
    workload = BankWorkload(c.client_addresses, clients=4, seed=seed, accounts=6,
                            place=_place)
    checker = BankConsistent(lambda: workload.bank.initial if workload.bank else {})
    await run_chaos(c, workload, checker, seed=seed, duration_s=10.0, tmp_path=tmp_path,
                    kinds=KINDS, min_ok=20)
    await _tla_properties_hold(c)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [4])
async def test_list_append_under_the_nemesis_is_strict_serializable(
        cluster: Factory, tmp_path: Path, seed: int) -> None:
    c = await cluster("txnkv", nodes=3, event_log=True, seed=seed)
    workload = ListAppendWorkload(c.client_addresses, clients=4, seed=seed, place=_place)
    await run_chaos(c, workload, Serializable(), seed=seed, duration_s=10.0,
                    tmp_path=tmp_path, kinds=KINDS, min_ok=20)
    await _tla_properties_hold(c)
