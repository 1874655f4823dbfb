"""Set-full (Jepsen) under the random nemesis: clients add unique elements to a few keys
with blind writes and read them; after the faults heal a read of all N replicas of each
key shows every acknowledged add. Replay a seed with
``scripts/sim --protocol dynamo --workload set-full --seed S --nodes 5 --duration-ms 4000
--nemesis partition,isolate,crash,...``."""

from __future__ import annotations

import pytest

from protocols.simulate import run_once

FAULTS = ("partition", "isolate", "crash", "unreliable", "one-way", "stall", "slow", "pause")


@pytest.mark.parametrize("seed", range(6))
def test_no_acknowledged_add_is_lost(seed: int) -> None:
    r = run_once("dynamo", seed, nodes=5, duration_ms=4000, nemesis_kinds=FAULTS,
                 workload="set-full")
    assert r.ok, f"{r.failure or r.describe()}\n  replay: {r.replay}"
    assert r.verdicts[0].status == "ok" and " 0 lost" in r.verdicts[0].summary


def test_the_checker_sees_adds_lost_without_fsync() -> None:
    """A workload that cannot fail proves nothing: with fsync off and W = 1 a crash
    takes acknowledged adds with it (seed 8 found by a sweep), and the verdict says so."""
    r = run_once("dynamo", 8, nodes=5, duration_ms=4000, nemesis_kinds=("crash",),
                 workload="set-full", options={"fsync": False, "w": 1})
    assert r.verdicts[0].status == "violation"
    assert "lost" in r.verdicts[0].summary
