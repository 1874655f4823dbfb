"""Helpers the simulator experiments share: clients whose operations are recorded as a
history (checked by the linearizability checker), and the run's diagrams."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from protocols.check import check_history, render_timeline
from protocols.check.history import History
from protocols.check.linearizability import CheckResult
from protocols.check.spacetime import render_spacetime
from protocols.kv.commands import KvCommand
from protocols.sim.world import World

__all__ = ["Clients", "write_diagrams"]

Fault = tuple[float, float, str]


class Clients:
    """Clients of a simulated KV cluster: each operation is handed to one node and
    recorded (call and return in simulated seconds); one that gets no answer within its
    timeout is recorded as unknown ("info"), as a real client would have to."""

    def __init__(self, world: World, timeout_ms: int = 1000) -> None:
        self.world = world
        self.timeout_ms = timeout_ms
        self.history = History()
        self._process = itertools.count()

    def call(self, node: str, f: str, key: str, value: str | None = None) -> Any:
        """One operation at ``node``: its result (a get's value, None if absent), or
        ``"timeout"`` / the error's class name when it did not succeed."""
        w = self.world
        w.run_for(1)  # a client's moment between operations: real time orders them
        inv = self.history.invoke(next(self._process), f, key, value, w.now / 1000)
        command = KvCommand("get", key) if f == "get" else KvCommand("put", key, value or "")
        rid = w.submit(node, command)
        answer = w.wait(lambda: w.answers.get(rid), self.timeout_ms)
        if answer is None:
            self.history.complete(inv, "info", None, w.now / 1000, error="timeout")
            return "timeout"
        if answer.error is not None:  # refused: it surely did not happen; else it may have
            surely_not = getattr(answer.error, "refused", False)
            self.history.complete(inv, "fail" if surely_not else "info", None, w.now / 1000,
                                  error=type(answer.error).__name__)
            return type(answer.error).__name__
        result = answer.result
        output = (result.value if result.found else None) if f == "get" else None
        self.history.complete(inv, "ok", output, w.now / 1000)
        return output

    def check(self) -> CheckResult:
        return check_history(self.history)


def write_diagrams(world: World, out: Path, *, title: str, faults: Sequence[Fault] = (),
                   clients: Clients | None = None) -> list[Path]:
    """The run as a space-time diagram (needs ``World(event_log=True)``) and, with
    clients, their history as a timeline with the checker's verdict."""
    out.mkdir(parents=True, exist_ok=True)
    files = []
    result = clients.check() if clients is not None else None
    ops = clients.history.operations() if clients is not None else []
    if world.event_log is not None:
        files.append(render_spacetime(world.event_log, out / "spacetime.html", faults=faults,
                                      operations=ops, result=result, title=title))
    if clients is not None:
        files.append(render_timeline(clients.history, result, out / "timeline.html",
                                     nemesis=faults))
    return files
