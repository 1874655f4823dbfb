"""``scripts/demo dynamo`` at a small size (5 nodes, 2 s of clients): an owner of the
clients' keys killed, puts acknowledged through hinted stand-ins (the hinted count
rises), handed back once it restarts (back to 0), converged, no acknowledged add lost,
nothing left running, and the space-time diagram drawn with the kill shaded."""

from __future__ import annotations

import json
from pathlib import Path

from cluster.demo_dynamo import run
from protocols.check.record import read_record


async def test_the_dynamo_demo_hands_hints_back_converges_and_loses_nothing(
        tmp_path: Path) -> None:
    assert await run(tmp_path, seconds=2.0, nodes=5) == 0
    summary = json.loads((tmp_path / "dynamo-demo.json").read_text())
    assert summary["max_hinted"] > 0 and summary["final_hinted"] == 0, summary
    assert summary["valid"] and summary["lost"] == 0 and summary["acknowledged"] > 0
    assert summary["converged_after_s"] is not None
    page = (tmp_path / "spacetime.html").read_text()
    assert f"kill-{summary['victim']}" in page  # the kill, shaded
    record = read_record(tmp_path)  # the run's page: its verdicts and the kill
    assert record is not None and record.status == "ok", record
    assert [v.check for v in record.verdicts] == ["set-full", "convergence", "hinted handoff",
                                                 "processes left"]
    index = (tmp_path / "index.html").read_text()
    assert "VALID</div>" in index and f'<td class="what">kill-{summary["victim"]}</td>' in index
