"""``scripts/demo txnkv`` at a small size: a coordinator killed under its clients'
transfers leaves STAGING records that readers recover, the bank stays consistent through
that and another node's kill -9, nothing is left running, and the space-time diagram
shades the recovery window."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.demo_txnkv import run


# 14 s: the slow suite (suite time). By default, every step of a coordinator's death and
# its recovery runs in the simulator (tests/txnkv/sim/test_coordinator_crash.py), and
# transactions across the ranges on processes (test_txnkv_cluster.py)
@pytest.mark.slow
async def test_the_txnkv_demo_recovers_a_dead_coordinators_commits_and_keeps_the_bank(
        tmp_path: Path) -> None:
    assert await run(tmp_path, seconds=3.0) == 0
    page = (tmp_path / "spacetime.html").read_text()
    assert "killed mid-commit; readers recover its transactions" in page
