"""txnkv in the simulator under the random nemesis (partitions, crashes, pauses, slow
and lossy links): the bank and list-append workloads judged by the 2PC store's checkers
(``protocols.check.bank``, Elle's list-append at strict serializability), the TLA+
model's properties after every event, the final state's atomicity; snapshot isolation's
write skew caught by the same checker; a recovery that commits without checking caught.

Replay any run: ``scripts/sim --protocol txnkv --seed N --workload bank``."""

from __future__ import annotations

import importlib
import sys
from typing import Any

import pytest

from protocols.sim.runner import run_once
from protocols.txnkv.sim import ADAPTER
from tests.support.planted import planted


@pytest.mark.parametrize("workload", ["bank", "list-append"])
def test_a_seed_under_the_random_nemesis(workload: str) -> None:
    result = run_once(ADAPTER, 1, workload=workload)
    assert result.ok, result.failure
    assert result.verdicts[0].status == "ok"


@pytest.mark.slow  # 2 x 60 seeds, about 4 minutes; the default suite runs one of each
@pytest.mark.parametrize("workload", ["bank", "list-append"])
def test_a_sweep_under_the_random_nemesis(workload: str) -> None:
    failed = [r.replay for seed in range(1, 61)
              if not (r := run_once(ADAPTER, seed, workload=workload)).ok]
    assert not failed, failed


SPLITS = ("partition", "crash", "pause", "split")


@pytest.mark.parametrize(("workload", "seed"), [("bank", 7), ("list-append", 2)])
def test_ranges_split_while_the_workload_runs_under_the_nemesis(workload: str,
                                                                seed: int) -> None:
    """The nemesis's ``split`` among partitions, crashes and pauses: ranges split at a
    key they hold while transactions run. Bank seed 7 found a read that waited in r1's
    queue while r1 split, then was evaluated on r1 and read nothing of a key that had
    moved (each replica now checks again at evaluation)."""
    result = run_once(ADAPTER, seed, workload=workload, nemesis_kinds=SPLITS,
                      keep_trace=True)
    assert result.ok, result.failure
    assert any(": split at " in line for line in result.trace)


@pytest.mark.slow  # 2 x 100 seeds, about 6 minutes
@pytest.mark.parametrize("workload", ["bank", "list-append"])
def test_a_sweep_with_splits(workload: str) -> None:
    failed = [r.replay for seed in range(1, 101)
              if not (r := run_once(ADAPTER, seed, workload=workload,
                                    nemesis_kinds=(*SPLITS, "skew"))).ok]
    assert not failed, failed


def test_the_two_round_commit_passes_the_same_checks() -> None:
    result = run_once(ADAPTER, 3, workload="bank", options={"commit": "two-round"})
    assert result.ok, result.failure


# ====================================================================== isolation
def _write_skew(isolation: str) -> Any:
    """Transactions of 1-4 micro-ops that read keys and append to others: under
    snapshot isolation two of them can each read what the other writes, before it (about
    half of the seeds show it with these settings; the rule itself is pinned by
    ``test_snapshot_isolation_lets_write_skew_through`` on one node)."""
    return run_once(ADAPTER, 6, workload="list-append", nemesis=False, clients=4, keys=2,
                    duration_ms=2000, options={"isolation": isolation})


def test_snapshot_isolation_shows_write_skew_to_the_serializability_checker() -> None:
    result = _write_skew("snapshot")
    assert result.verdicts[0].status == "violation"
    assert "G2" in result.verdicts[0].summary


def test_serializable_isolation_on_the_same_run_does_not() -> None:
    result = _write_skew("serializable")
    assert result.ok, result.failure


# ====================================================================== a planted bug
def test_a_recovery_that_commits_without_checking_the_writes_is_caught() -> None:
    """The issue's planted bug: a status resolution that commits the STAGING record of a
    coordinator that died with a write missing, without querying the writes. The final
    state names the transaction committed without its write."""
    sys.modules.pop("tests.txnkv.sim.scenarios", None)  # bound to the planted modules
    try:
        with planted("txnkv-recovery-queries-writes"):
            crash = importlib.import_module("tests.txnkv.sim.scenarios")
            violations = crash.killed_with_a_write_missing()
    finally:
        sys.modules.pop("tests.txnkv.sim.scenarios", None)
    assert any(v.startswith("atomicity:") for v in violations), violations


def test_the_same_scenario_passes_with_the_real_recovery() -> None:
    crash = importlib.import_module("tests.txnkv.sim.scenarios")
    assert crash.killed_with_a_write_missing() == []

