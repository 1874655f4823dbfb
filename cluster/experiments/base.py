"""What an experiment is: a small scripted run that shows one chapter's point, prints
what to look at, writes its diagrams, and states a conclusion the run either bears out
or not (``Outcome.holds``). ``scripts/experiment NAME`` runs one; the tests run each at
its small size and assert the conclusion held."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Experiment", "Outcome", "Report"]


@dataclass
class Outcome:
    """What a run showed: its figures, the files to open, and whether the conclusion the
    experiment states held in this run."""

    conclusion: str  # one sentence: the chapter's point, as this run showed it
    holds: bool
    figures: dict[str, Any] = field(default_factory=dict)
    files: list[Path] = field(default_factory=list)


class Report:
    """Where an experiment says what it does as it goes (stdout by default)."""

    def __init__(self, echo: Callable[[str], None] = print) -> None:
        self.echo = echo
        self.lines: list[str] = []

    def __call__(self, line: str) -> None:
        self.lines.append(line)
        self.echo(line)


@dataclass(frozen=True)
class Experiment:
    """One experiment: ``run(out, full, say)`` writes into ``out``, prints through
    ``say``, and returns its ``Outcome``. ``full`` is the documented size; the default is
    a smaller run that still shows the point (the default test suite runs that)."""

    name: str
    title: str
    chapters: tuple[int, ...]  # the course chapters it goes with (docs/chapters.md)
    point: str  # what it shows, for --list
    run: Callable[[Path, bool, Report], Outcome]
    on: str = "simulator"  # or "processes"
