"""Lease reads (thesis §6.4.1) checked linearizable in the simulator under every fault
the nemesis has, including the two that broke them before (issue #19): leadership
transfers (a delayed TimeoutNow) and stalled or paused leaders. Each run must really
serve lease reads, so the check is not vacuous."""

from __future__ import annotations

import pytest

from protocols.sim.nemesis import KINDS
from protocols.simulate import run_once

ALL_FAULTS = (*KINDS, "transfer")


@pytest.mark.parametrize("seed", range(1, 21))
def test_lease_reads_stay_linearizable_under_every_fault(seed: int) -> None:
    result = run_once("raft", seed, duration_ms=6000, options={"read_mode": "lease"},
                      nemesis_kinds=ALL_FAULTS, keep_trace=True)
    assert result.ok, result.failure
    served = sum(1 for line in result.trace if "lease read" in line)
    assert result.verdict == "ok" and len(result.history) > 100
    assert served > 0, "no read was served from a lease: the run proves nothing"


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(21, 221))
def test_lease_sweep(seed: int) -> None:
    result = run_once("raft", seed, duration_ms=6000, options={"read_mode": "lease"},
                      nemesis_kinds=ALL_FAULTS)
    assert result.ok, result.failure
