"""Space-time diagrams of a cluster run: the nodes' event logs (``event_log=True``), the
nemesis's fault intervals and the clients' operations, drawn by
``protocols.check.spacetime`` as ``spacetime.html`` and a ShiViz log beside it. Used by
the demos, by chaos tests when they fail, and by the pytest plugin's failure report."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from protocols.check.history import History, Operation
from protocols.check.linearizability import CheckResult
from protocols.check.spacetime import load_events, render_spacetime, write_shiviz

__all__ = ["wall_operations", "write_diagrams"]


def wall_operations(history: History, monotonic_t0: float) -> list[Operation]:
    """A workload's operations with their times moved from its own clock (seconds since
    ``monotonic_t0`` on ``time.monotonic``) to the wall clock the event logs use."""
    shift = time.time() - time.monotonic() + monotonic_t0
    return [dataclasses.replace(op, call=op.call + shift, ret=op.ret + shift)
            for op in history.operations()]


def write_diagrams(directory: Path, *, faults: Sequence[tuple[float, float, str]] = (),
                   operations: Iterable[Operation] = (), result: CheckResult | None = None,
                   title: str = "") -> tuple[Path, Path] | None:
    """Draw the run whose event logs are in ``directory``; None if there are none."""
    logs = sorted(directory.glob("events.*.jsonl"))
    if not logs:
        return None
    events = load_events(logs)
    html = render_spacetime(events, directory / "spacetime.html", faults=faults,
                            operations=list(operations), result=result, title=title)
    shiviz = write_shiviz(events, directory / "spacetime.shiviz.log")
    return html, shiviz
