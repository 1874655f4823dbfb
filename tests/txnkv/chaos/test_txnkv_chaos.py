"""txnkv on real processes under the random nemesis (partitions, kill -9, pauses,
latency, lost messages) with crash points and message hooks armed at random: the bank,
while r1 and r2 split between their accounts, keeps its total with no transfer torn or
lost, and list-append transactions over the
three ranges are strict serializable. Clock skew beyond the bound is the simulator's
(``tests/txnkv/sim/test_clock_skew.py``): a process's clock cannot be moved from outside.

Replay: the seed is printed; ``pytest tests/txnkv/chaos -k <seed> --run-slow`` runs the
same schedule (the nemesis is seeded; the interleaving of real processes is not)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from cluster.runner import LocalCluster
from cluster.workload_twopc import BankWorkload, ListAppendWorkload
from protocols.check.spacetime import load_events
from protocols.common.errors import InvalidRequest, Timeout, Unavailable
from protocols.txnkv.client import RangesClient
from protocols.txnkv.observed import ACK, violations
from protocols.txnkv.ranges import spread, static_split
from tests.support.chaos import ALL_FAULTS, BankConsistent, Serializable, run_chaos

Factory = Callable[..., Awaitable[LocalCluster]]
KINDS = (*ALL_FAULTS, "crash_point", "hook")
RANGES = static_split(("n1", "n2", "n3"), ("h", "p"), 3)


def _place(names: list[str]) -> list[str]:
    return spread(RANGES, names)


def _splitting(c: LocalCluster, done: list[str]) -> Callable[[float, Any], Awaitable[None]]:
    """Beside the nemesis: split r1 and r2 between their accounts while the bank runs
    (each asked again, a second apart, until it goes through or the run ends)."""
    async def split(duration_s: float, workload: Any) -> None:
        deadline = asyncio.get_running_loop().time() + duration_s
        async with RangesClient(c.client_addresses, timeout_s=3.0) as admin:
            for key in ("a3", "ha4"):
                await asyncio.sleep(duration_s / 4)
                while asyncio.get_running_loop().time() < deadline:
                    try:
                        await admin.split(key, node=f"n{1 + len(done)}")
                    except InvalidRequest:  # the key starts a range: an earlier ask did it
                        pass
                    except (Unavailable, Timeout):
                        await asyncio.sleep(1.0)  # maybe done, maybe not: ask again
                        continue
                    done.append(key)
                    break
    return split


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
    splits: list[str] = []
    await run_chaos(c, workload, checker, seed=seed, duration_s=10.0, tmp_path=tmp_path,
                    kinds=KINDS, min_ok=20, alongside=_splitting(c, splits))
    assert splits, "no range split went through in the run"
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
