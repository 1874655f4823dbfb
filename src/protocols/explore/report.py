"""A counterexample, for people: numbered steps, a space-time diagram, a file to replay.

``replay_path`` drives a fresh ``System`` through a path's moves (each found again among
the enabled ones), checking every property after every step, and records what a learner
reads: the move, what each node says about itself after it, the messages in flight, and
the space-time events (``protocols.check.spacetime``'s format, one time unit per step).
``save`` writes the path as JSON (``scripts/explore replay FILE`` takes it back).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from protocols.common.errors import ConfigError
from protocols.explore.model import Always, Eventually, ExploreAdapter, Sometimes
from protocols.explore.search import Counterexample, Explorer, check_always
from protocols.explore.system import Move, Recorder, System, describe_nodes

__all__ = ["Replay", "load", "quiet_torn_tails", "replay_path", "save", "write_spacetime"]

FORMAT = "protocols.explore/counterexample/1"


@dataclass(slots=True)
class Replay:
    """A path replayed: the text of each step, the first always-property that broke
    (and at which step), and the recorded space-time events."""

    steps: list[str] = field(default_factory=list)
    broken: str | None = None
    broken_at: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    final: System | None = None

    def text(self) -> str:
        return "\n".join(self.steps)


def replay_path(adapter: ExploreAdapter, path: Sequence[Move], *, verbose: bool = True
                ) -> Replay:
    """Replay ``path`` on the protocol's cores, checking every always-property after
    each step; ValueError naming the step if a move is no longer possible (the code
    changed since the path was found)."""
    explorer = Explorer(adapter)
    always = [p for p in explorer.properties if isinstance(p, Always)]
    system = System(adapter)
    system.recorder = Recorder()
    out = Replay()
    out.steps.append("initial state:")
    out.steps += [f"    {line}" for line in describe_nodes(system)]
    _roles(system, {})
    roles: dict[str, tuple[str, int]] = {}
    for i, move in enumerate(path, 1):
        found = system.find(move)
        system.apply(found)
        out.steps.append(f"{i:3}. {found}")
        if verbose:
            out.steps += [f"       {line}" for line in describe_nodes(system)]
            if system.network:
                out.steps.append(f"       in flight: {len(system.network)}: " + "; ".join(
                    p.describe()[:60] for p in system.network[:4])
                    + (" ..." if len(system.network) > 4 else ""))
        roles = _roles(system, roles)
        for p in always:
            why = check_always(p, system)
            if why is not None and out.broken is None:
                out.broken, out.broken_at = f"{p.name}: {why}", i
                out.steps.append(f"       VIOLATED: always {p.name}: {why}")
    met = [p.name for p in explorer.properties
           if isinstance(p, (Sometimes, Eventually)) and p.check(system)]
    if met:
        out.steps.append("holds at the end: " + ", ".join(met))
    out.events = system.recorder.events
    out.final = system
    return out


def quiet_torn_tails() -> None:
    """A torn write is a move the explorer makes thousands of times: the WAL's warning
    on each recovery that cuts a torn tail says nothing new there."""
    logging.getLogger("protocols.common.wal").setLevel(logging.ERROR)


def _roles(system: System, last: dict[str, tuple[str, int]]) -> dict[str, tuple[str, int]]:
    """Record a ``state`` event for each node whose role or epoch changed (the bands of
    the space-time diagram)."""
    assert system.recorder is not None
    now = dict(last)
    for n in system.up_nodes():
        st = system.core(n).status()
        if last.get(n) != (st.role, st.epoch):
            now[n] = (st.role, st.epoch)
            system.recorder.event(n, "state", role=st.role, epoch=st.epoch)
    return now


def write_spacetime(replay: Replay, path: str | Path, title: str = "") -> Path:
    """The replayed path as the project's space-time diagram (one time unit per step)."""
    from protocols.check.spacetime import render_spacetime

    faults = []
    if replay.broken is not None:
        t = float(replay.broken_at)
        faults.append((t, t + 0.5, f"violated: {replay.broken[:80]}"))
    return render_spacetime(replay.events, path, faults=faults, title=title)


def save(path: str | Path, *, protocol: str, model: str, size: str,
         counterexample: Counterexample) -> Path:
    """Write a counterexample to replay (``scripts/explore replay FILE``)."""
    out = Path(path)
    out.write_text(json.dumps({"format": FORMAT, "protocol": protocol, "model": model,
                               "size": size, **counterexample.to_json()}, indent=1) + "\n")
    return out


def load(path: str | Path) -> tuple[dict[str, Any], list[Move]]:
    """A saved counterexample: its header and its moves; ConfigError naming the file and
    what is wrong with it."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ConfigError(f"{path}: cannot read a counterexample: {e}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ConfigError(f"{path}: not a counterexample of scripts/explore "
                          f"(expected format {FORMAT!r})")
    try:
        moves = [Move.from_json(m) for m in data["path"]]
        for key in ("protocol", "model", "size"):
            if not isinstance(data[key], str):
                raise TypeError(f"{key} must be a string")
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ConfigError(f"{path}: malformed counterexample: {e}") from None
    return data, moves
