"""Every experiment of ``scripts/experiment`` runs at its small size and its printed
conclusion holds; two conclusions are shown to fail when the rule they rest on is
planted away (check-quorum doing nothing, a clock that cannot jump); the others compare
a run with the rule and one without it, both checked; ``--list`` and bad names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cluster.experiments import EXPERIMENTS, Report
from cluster.experiments.__main__ import main, run_one
from protocols.raft.core import RaftCore
from protocols.sim.world import World


@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_each_experiment_runs_and_its_conclusion_holds(name: str, tmp_path: Path) -> None:
    lines: list[str] = []
    outcome = run_one(EXPERIMENTS[name], tmp_path, False, Report(lines.append))
    assert outcome.holds, "\n".join(lines)
    assert any(line.startswith("look at") for line in lines)
    assert lines[-2].startswith("conclusion (it held")
    assert all(f.exists() and f.stat().st_size > 0 for f in outcome.files)
    saved = json.loads((tmp_path / "experiment.json").read_text())
    assert saved["holds"] is True and saved["conclusion"] == outcome.conclusion


def test_the_split_brain_conclusion_fails_when_check_quorum_does_nothing(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(RaftCore, "_check_quorum", lambda self: None)
    outcome = EXPERIMENTS["split-brain"].run(tmp_path, False, Report(lambda _: None))
    assert not outcome.holds
    assert outcome.figures["two_leaders_ms_with"] == outcome.figures["two_leaders_ms_without"]


def test_the_lease_conclusion_fails_when_the_clock_cannot_jump(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(World, "set_clock", lambda self, n, **kw: None)
    outcome = EXPERIMENTS["lease-clock"].run(tmp_path, False, Report(lambda _: None))
    assert not outcome.holds and outcome.figures["stale_lease_1000"] == 0


def test_list_names_every_experiment_with_its_chapters(capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    for e in EXPERIMENTS.values():
        assert e.name in out and f"ch. {e.chapters[0]}" in out


def test_an_unknown_experiment_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    assert main(["split-brian"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: no experiment 'split-brian'") and "\n" not in err
    assert main([]) == 2
    assert main(["key-movement", "--out", __file__]) == 2
    assert "is a file, not a directory" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("name", list(EXPERIMENTS))
def test_each_experiment_at_its_full_size(name: str, tmp_path: Path) -> None:
    lines: list[str] = []
    assert run_one(EXPERIMENTS[name], tmp_path, True, Report(lines.append)).holds, \
        "\n".join(lines)
