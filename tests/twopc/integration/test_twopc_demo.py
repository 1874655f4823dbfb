"""``scripts/demo twopc`` at a small size: the bank stays consistent through the
coordinator's crash and a shard's, nothing is left running, the space-time diagram
shades the blocked window, and the run's page (``index.html``) shows the verdicts and
the faults."""

from __future__ import annotations

from pathlib import Path

from cluster.demo_twopc import run
from protocols.check.record import read_record


async def test_the_twopc_demo_keeps_the_bank_consistent_and_draws_the_blocked_window(
        tmp_path: Path) -> None:
    assert await run(tmp_path, seconds=3.0) == 0
    page = (tmp_path / "spacetime.html").read_text()
    assert "blocked: " in page and "in doubt, locks held" in page  # the shaded window
    assert "participant in doubt" in page  # the blocked shards' role bands
    record = read_record(tmp_path)
    assert record is not None and record.status == "ok", record
    assert [v.check for v in record.verdicts] == ["bank", "final total", "processes left"]
    index = (tmp_path / "index.html").read_text()
    assert '<div class="banner" data-status="ok">VALID</div>' in index
    labels = [label for _, _, label in record.faults]
    assert any(label.startswith("kill-n") for label in labels)
    assert all(f'<td class="what">{label}</td>' in index for label in labels
               if "<" not in label and "&" not in label)
