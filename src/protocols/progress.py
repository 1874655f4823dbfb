"""Progress bars for the long commands: seed sweeps (``scripts/sim --sweep``), model
checking (``scripts/explore``, ``scripts/check-models``), mutation runs
(``scripts/mutate``) and the benchmarks (``scripts/bench_*.py``).

A bar is drawn on stderr, and only when stderr is a terminal: a log, a pipe or a test's
capture gets exactly the output it always did. What the command prints meanwhile is not
changed: with stdout on the terminal too, rich draws those lines above the bar (through
the bar's console, the same terminal); with stdout elsewhere, they go there untouched.
The bar disappears when its command is done (``transient``).

This is the command-line layer's: the simulator and the explorer take a callback and
know nothing of it.

    with progress_bar("raft seeds", total=200) as bar:
        for seed in seeds:
            ...
            bar.advance(note=f"{failed} failed")
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Column

__all__ = ["Bar", "progress_bar", "shown"]


def shown(stream: TextIO | None = None) -> bool:
    """Whether bars are drawn: ``stream`` (default stderr) is a terminal that can redraw
    a line (not a log, a pipe, a test's capture, a dumb terminal)."""
    stream = sys.stderr if stream is None else stream
    try:
        return stream.isatty() and os.environ.get("TERM") != "dumb"
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


class Bar:
    """One task of a progress display; every call does nothing when bars are not shown
    (so a command calls it unconditionally)."""

    def __init__(self, progress: Progress | None, task: TaskID | None) -> None:
        self.progress = progress
        self.task = task

    def advance(self, steps: float = 1, note: str | None = None) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.advance(self.task, steps)
            if note is not None:
                self.progress.update(self.task, note=note)

    def update(self, *, completed: float | None = None, total: float | None = None,
               note: str | None = None) -> None:
        """Set how far it is (and its total, when it is known late); ``note``: what it is
        at, shown after the bar."""
        if self.progress is None or self.task is None:
            return
        self.progress.update(self.task, completed=completed, total=total)
        if note is not None:
            self.progress.update(self.task, note=note)

    def bar(self, description: str, total: float | None = None) -> Bar:
        """Another bar on the same display, below this one (one model's states under
        the count of models); ``close`` it when it is done."""
        if self.progress is None:
            return Bar(None, None)
        return Bar(self.progress, self.progress.add_task(description, total=total, note=""))

    def close(self) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.remove_task(self.task)
            self.task = None


@contextmanager
def progress_bar(description: str, total: float | None = None, *, enabled: bool = True
                 ) -> Iterator[Bar]:
    """A bar of ``total`` steps (None: not known; it counts and pulses) on stderr, if
    stderr is a terminal (and ``enabled``: a command's --quiet); gone when the block
    ends."""
    if not (enabled and shown()):
        yield Bar(None, None)
        return
    progress = Progress(
        SpinnerColumn(), TextColumn("[progress.description]{task.description}"),
        BarColumn(bar_width=20), MofNCompleteColumn(), TimeElapsedColumn(),
        TextColumn("eta"), TimeRemainingColumn(),
        # the note takes what is left of the line, cut at its end, never the figures
        TextColumn("{task.fields[note]}", markup=False,
                   table_column=Column(no_wrap=True, overflow="ellipsis", ratio=1)),
        console=Console(stderr=True, highlight=False), transient=True, expand=True,
        # lines printed to a stdout on the terminal go above the bar, not through it
        redirect_stdout=shown(sys.stdout), redirect_stderr=True)
    with progress:
        yield Bar(progress, progress.add_task(description, total=total, note=""))
