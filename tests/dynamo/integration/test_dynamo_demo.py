"""``scripts/demo dynamo`` at a small size (5 nodes, 2 s of clients): an owner of the
clients' keys killed, puts acknowledged through hinted stand-ins (the hinted count
rises), handed back once it restarts (back to 0), converged, no acknowledged add lost,
nothing left running, and the space-time diagram drawn with the kill shaded."""

from __future__ import annotations

import json
from pathlib import Path

from cluster.demo_dynamo import run


async def test_the_dynamo_demo_hands_hints_back_converges_and_loses_nothing(
        tmp_path: Path) -> None:
    assert await run(tmp_path, seconds=2.0, nodes=5) == 0
    summary = json.loads((tmp_path / "dynamo-demo.json").read_text())
    assert summary["max_hinted"] > 0 and summary["final_hinted"] == 0, summary
    assert summary["valid"] and summary["lost"] == 0 and summary["acknowledged"] > 0
    assert summary["converged_after_s"] is not None
    page = (tmp_path / "spacetime.html").read_text()
    assert f"kill-{summary['victim']}" in page  # the kill, shaded
