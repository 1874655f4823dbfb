"""scripts/explore and scripts/check-models as a user meets them: a model that holds
exits 0 with Stateright's figures; a planted bug exits 1 with the shortest
counterexample as steps, saved with its space-time diagram and browser page; the saved
file replays to the same violation; bad input exits 2 naming what is wrong."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from protocols.modelcheck import check_models
from protocols.modelcheck import main as explore

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import explore as explore_script  # noqa: E402  (scripts/explore.py: --plant)


def test_a_model_that_holds_exits_0_with_the_figures(capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    assert explore(["vkv", "--model", "made-up-context"]) == 0
    out = capsys.readouterr().out
    assert "states," in out and "unique" in out and "states/s" in out
    assert "holds: always no acknowledged write is lost" in out
    assert "NEVER REACHED" not in out


def test_check_models_prints_one_row_per_model(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert check_models(["swim", "--size", "small", "--quiet",
                         "--json", str(tmp_path / "f.json")]) == 0
    out = capsys.readouterr().out
    assert "| swim/crash |" in out and "| ok |" in out
    rows = json.loads((tmp_path / "f.json").read_text())
    assert [r["model"] for r in rows] == ["crash"] and rows[0]["unique"] > 0


def test_a_planted_bug_prints_saves_and_replays(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    out_dir = tmp_path / "cx"
    code = explore_script.main(["vkv", "--model", "made-up-context", "--plant",
                                "context-claims", "--out", str(out_dir)])
    out = capsys.readouterr().out
    assert code == 1
    assert "the shortest counterexample: 3 moves" in out
    assert "VIOLATED: always no acknowledged write is lost" in out
    for name in ("counterexample.json", "spacetime.html", "explorer.html"):
        assert (out_dir / name).stat().st_size > 0, name
    saved = str(out_dir / "counterexample.json")
    assert f"replay: scripts/explore replay {saved} --plant context-claims" in out
    assert explore_script.main(["replay", saved, "--plant", "context-claims"]) == 1
    assert "broken at step 3" in capsys.readouterr().out
    # the fixed code takes a different path at the forged context: the step is refused
    assert explore(["replay", saved]) in (0, 2)


def test_bad_input_exits_2_naming_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                     ) -> None:
    assert explore(["nosuch"]) == 2
    assert "unknown protocol 'nosuch'" in capsys.readouterr().err
    assert explore(["vkv", "--model", "nosuch"]) == 2
    assert "has no model 'nosuch'" in capsys.readouterr().err
    assert explore(["bare"]) == 2
    assert "has no explorer models" in capsys.readouterr().err
    assert explore(["vkv", "--size", "huge"]) == 2
    assert explore(["replay"]) == 2
    (tmp_path / "x.json").write_text("[]")
    assert explore(["replay", str(tmp_path / "x.json")]) == 2
    assert "not a counterexample" in capsys.readouterr().err
    assert explore_script.main(["vkv", "--plant", "no-such-rule"]) == 2
    assert "no mutation 'no-such-rule'" in capsys.readouterr().err


def test_list_names_every_registered_model(capsys: pytest.CaptureFixture[str]) -> None:
    assert explore(["--list"]) == 0
    out = capsys.readouterr().out
    for protocol in ("synod", "raft", "swim", "causal", "vkv"):
        assert f"\n{protocol}" in f"\n{out}", protocol


def test_a_model_that_exists_to_break_one_property_passes_only_when_it_does() -> None:
    """2PC's ``blocking`` and 3PC's ``split`` are lessons: ``scripts/check-models``
    counts them as passing when exactly the property they name breaks."""
    from protocols.explore.search import Counterexample, Result
    from protocols.modelcheck import _verdict
    from protocols.twopc.explore import MODELS
    assert MODELS["blocking"]("small").expect_violation == \
        "an uncertain participant learns the outcome"
    assert MODELS["split"]("small").expect_violation == "sim:Atomicity"
    assert MODELS["atomic"]("small").expect_violation is None
    r = Result("m", "bfs", reached={"commits": []})
    assert r.as_expected(None) and not r.as_expected("p")  # it had to break p
    r.counterexamples.append(Counterexample("p", "always", "why", []))
    assert r.as_expected("p") and not r.as_expected(None) and not r.as_expected("q")
    r.counterexamples.append(Counterexample("q", "always", "why", []))
    assert not r.as_expected("p")  # something else broke too
    assert _verdict({"ok": True, "expected": "p"}) == "broken as expected (p)"
    assert _verdict({"ok": False, "expected": "p"}) == "FAILED"


def test_check_models_on_a_terminal_draws_its_bars_on_stderr_alone(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    """A bar of models and one of each model's states, on a terminal's stderr; stdout
    the same lines as without a terminal (but for the seconds each model took)."""
    def timeless(out: str) -> list[str]:
        return [line for line in out.splitlines() if " s, " not in line and "|" not in line]

    def run() -> int:  # 50 states: a bounded run, its verdict beside the point
        return check_models(["synod", "--size", "small", "--max-states", "50"])

    code = run()
    plain = capsys.readouterr().out

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setenv("COLUMNS", "160")
    assert run() == code
    assert timeless(capsys.readouterr().out) == timeless(plain)
    drawn = terminal.getvalue()
    assert "models" in drawn and "1/1" in drawn and "synod/synod" in drawn, drawn
