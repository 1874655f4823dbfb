"""Seed sweeps (issue #37): ``protocols.sim.sweep`` reports every seed to its callback as
it is run and keeps only the failed runs; ``scripts/sim --sweep`` draws a progress bar
on a terminal's stderr without changing a byte of what it prints, and none elsewhere."""

from __future__ import annotations

import io
import sys
from collections.abc import Callable

import pytest

from protocols.sim import RunResult, World, sweep
from protocols.simulate import main
from tests.toy.protocol.sim import SPEC, ToyAdapter

TOY = "tests.toy.protocol:ENTRY"


class EvenSeedsFail(ToyAdapter):
    """The toy, with an invariant that breaks on even seeds (after 50 events)."""

    def invariants(self) -> list[Callable[[World], None]]:
        def odd_seeds_only(w: World) -> None:
            assert w.seed % 2 or w.events < 50, "an even seed"
        return [*super().invariants(), odd_seeds_only]


def test_a_sweep_reports_every_seed_and_keeps_the_failures() -> None:
    heard: list[RunResult] = []
    failed = sweep(EvenSeedsFail("even-fails", SPEC), range(3, 8), heard.append,
                   nodes=3, duration_ms=300)
    assert [r.seed for r in heard] == [3, 4, 5, 6, 7]
    assert [r.ok for r in heard] == [True, False, True, False, True]
    assert [r.seed for r in failed] == [4, 6] and all("an even seed" in (r.failure or "")
                                                      for r in failed)


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def sim(*args: str) -> list[str]:
    return ["--protocol", TOY, "--nodes", "3", "--duration-ms", "300", *args]


def test_the_progress_bar_changes_nothing_printed(capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    assert main(sim("--sweep", "1..3")) == 0
    plain = capsys.readouterr()
    assert plain.err == "", "a bar on a stderr that is not a terminal"
    assert [line.split(":")[0] for line in plain.out.splitlines()[:3]] == \
        ["seed 1", "seed 2", "seed 3"] and "0 of 3 seeds failed" in plain.out

    terminal = Terminal()
    monkeypatch.setattr(sys, "stderr", terminal)
    monkeypatch.setenv("COLUMNS", "160")  # room for the note after the bar
    assert main(sim("--sweep", "1..3")) == 0
    assert capsys.readouterr().out == plain.out  # the same lines, the same traces
    drawn = terminal.getvalue()
    assert f"{TOY} seeds" in drawn and "3/3" in drawn and "seed 3: ok" in drawn, drawn


@pytest.mark.parametrize(("seeds", "error"), [
    ("x..3", "--sweep wants a seed range A..B, not 'x..3'"),
    ("5..2", "--sweep 5..2: the range is empty (B is below A)"),
])
def test_a_bad_seed_range_is_one_line_and_exit_2(
        capsys: pytest.CaptureFixture[str], seeds: str, error: str) -> None:
    assert main(sim("--sweep", seeds)) == 2
    assert capsys.readouterr().err.strip() == f"error: {error}"
