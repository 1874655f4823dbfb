"""The README's first command, ``scripts/demo`` (Raft, 5 processes on the embedded
proxy), and ``scripts/demo swim`` at their smallest, end valid with their run's page
written (the slow suite: about 20 s each); a node count a demo cannot run with is one
error line and exit 2 (default suite)."""

from __future__ import annotations

from pathlib import Path

import pytest

from cluster.demo import main, run
from cluster.demo_swim import run as run_swim
from protocols.check.record import read_record


@pytest.mark.slow
async def test_the_raft_demo_ends_valid_with_its_page(tmp_path: Path) -> None:
    assert await run("raft", 5, tmp_path, seconds=4.0) == 0
    record = read_record(tmp_path)
    assert record is not None and record.status == "ok", record
    assert (tmp_path / "index.html").exists() and (tmp_path / "timeline.html").exists()


@pytest.mark.slow
async def test_the_swim_demo_runs_with_its_fewest_members(tmp_path: Path) -> None:
    assert await run_swim(5, tmp_path) == 0
    record = read_record(tmp_path)
    assert record is not None and record.status == "ok", record


@pytest.mark.parametrize(("protocol", "nodes", "least"), [("swim", "4", 5), ("raft", "2", 3),
                                                          ("dynamo", "3", 4)])
def test_too_few_nodes_is_one_line_and_exit_2(protocol: str, nodes: str, least: int,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as e:
        main([protocol, "-n", nodes])
    assert e.value.code == 2
    assert f"--nodes must be at least {least} for {protocol}" in capsys.readouterr().err
