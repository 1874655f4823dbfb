"""``scripts/demo twopc`` at a small size: the bank stays consistent through the
coordinator's crash and a shard's, nothing is left running, and the space-time diagram
shades the blocked window."""

from __future__ import annotations

from pathlib import Path

from cluster.demo_twopc import run


async def test_the_twopc_demo_keeps_the_bank_consistent_and_draws_the_blocked_window(
        tmp_path: Path) -> None:
    assert await run(tmp_path, seconds=3.0) == 0
    page = (tmp_path / "spacetime.html").read_text()
    assert "blocked: " in page and "in doubt, locks held" in page  # the shaded window
    assert "participant in doubt" in page  # the blocked shards' role bands
