"""The search: every state reachable within the bounds, visited once.

Breadth-first finds the *shortest* counterexample (the first state that breaks a
property is reached by a path of least moves); depth-first goes deep first with less
memory. Both keep a table of visited fingerprints (the canonical encoding of a state,
least under node renaming when the model is symmetric) and, for each, the state it was
first reached from and by which move: the counterexample's path is read back from it.

Eventually-properties are carried along each path as the set still unmet ("ebits", as
Stateright does); a maximal path (no move left within the bounds) that still owes one is
a counterexample. The ebits are part of the visited key, so a state reached with a
property met is not confused with the same state reached without.
"""

from __future__ import annotations

import sys
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, TextIO

from protocols.check.linearizability import check_history
from protocols.explore.canon import fingerprint, symmetric_fingerprint
from protocols.explore.model import (
    Always,
    Eventually,
    ExploreAdapter,
    Property,
    Sometimes,
    sim_invariants,
)
from protocols.explore.system import CoreFailure, Move, System

__all__ = ["Counterexample", "Explorer", "Result", "check_always"]

Strategy = Literal["bfs", "dfs"]


@dataclass(slots=True)
class Counterexample:
    """A property broken: how, and the moves from the initial state that break it."""

    prop: str
    kind: str
    why: str
    path: list[Move]

    def to_json(self) -> dict[str, Any]:
        return {"property": self.prop, "kind": self.kind, "why": self.why,
                "path": [m.to_json() for m in self.path]}


@dataclass(slots=True)
class Result:
    """What a search saw, reported the way Stateright reports it."""

    model: str
    strategy: str
    states: int = 0  # states generated (every successor, repeats included)
    unique: int = 0  # distinct states (after symmetry)
    max_depth: int = 0
    seconds: float = 0.0
    pruned: int = 0  # states beyond a bound (in flight, depth): counted, not expanded
    complete: bool = True  # every state within the bounds was visited
    counterexamples: list[Counterexample] = field(default_factory=list)
    reached: dict[str, list[Move] | None] = field(default_factory=dict)  # sometimes: path
    properties: dict[str, str] = field(default_factory=dict)  # name -> kind

    @property
    def rate(self) -> float:
        return self.states / self.seconds if self.seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        return not self.counterexamples and all(p is not None for p in self.reached.values())

    def as_expected(self, expect_violation: str | None) -> bool:
        """``ok``, or, for a model that exists to break one property, exactly that one
        broken (every other holds, every sometimes reached)."""
        if expect_violation is None:
            return self.ok
        return ({c.prop for c in self.counterexamples} == {expect_violation}
                and all(p is not None for p in self.reached.values()))

    def summary(self) -> str:
        return (f"{self.model} [{self.strategy}]: {self.states} states, {self.unique} unique, "
                f"max depth {self.max_depth}, {self.seconds:.2f} s, {self.rate:,.0f} states/s"
                + ("" if self.complete else " (stopped before the end)"))

    def verdicts(self) -> list[str]:
        lines = []
        broken = {c.prop: c for c in self.counterexamples}
        for name, kind in self.properties.items():
            if kind == "sometimes":
                path = self.reached.get(name)
                lines.append(f"  {'reached' if path is not None else 'NEVER REACHED'}: "
                             f"sometimes {name}"
                             + (f" ({len(path)} moves)" if path is not None else ""))
            elif name in broken:
                lines.append(f"  VIOLATED: {kind} {name}: {broken[name].why} "
                             f"({len(broken[name].path)} moves)")
            else:
                lines.append(f"  holds: {kind} {name}")
        return lines


class Explorer:
    """Checks an ``ExploreAdapter``'s model: ``Explorer(adapter).run("bfs")``."""

    def __init__(self, adapter: ExploreAdapter, *, symmetry: bool | None = None,
                 progress: TextIO | None = None, progress_every_s: float = 5.0,
                 on_progress: Callable[[Result, float, int], None] | None = None,
                 max_states: int | None = None, stop_at_first: bool = True,
                 plain: bool = False) -> None:
        """``progress``: a stream for a line of figures every ``progress_every_s``;
        ``on_progress``: called as often with the result so far, the seconds taken and
        the states queued (a command's progress bar)."""
        self.adapter = adapter
        self.symmetry = adapter.symmetric if symmetry is None else symmetry
        self.progress = progress
        self.on_progress = on_progress
        self.progress_every_s = progress_every_s
        self.max_states = max_states
        self.stop_at_first = stop_at_first
        self.plain = plain  # the baseline: pickled whole states, no canonical form
        self.properties: list[Property] = list(adapter.properties)
        if adapter.sim is not None and adapter.sim_invariants:
            self.properties += sim_invariants(adapter.sim)  # the simulator's checkers
        if adapter.kv is not None:
            self.properties.append(Always("linearizable", linearizable))

    # ------------------------------------------------------------ the state's key
    def key(self, system: System) -> bytes:
        if self.plain:
            import pickle
            return pickle.dumps(_plain_view(system))
        encoding = system.encode()
        if self.symmetry:
            return symmetric_fingerprint(encoding, system.ids)
        return fingerprint(encoding)

    # ------------------------------------------------------------ the search
    def run(self, strategy: Strategy = "bfs") -> Result:
        result = Result(self.adapter.name, strategy, properties={
            p.name: p.kind for p in self.properties})
        sometimes = [p for p in self.properties if isinstance(p, Sometimes)]
        result.reached = {p.name: None for p in sometimes}
        eventually = frozenset(p.name for p in self.properties
                               if isinstance(p, Eventually) and p.after is None)
        started = last_report = time.monotonic()
        init = System(self.adapter)
        parents: dict[Any, tuple[Any, Move] | None] = {}
        frontier: deque[tuple[System, Any, frozenset[str]]] = deque()

        def visit(system: System, parent: Any, move: Move | None, owed: frozenset[str]
                  ) -> None:
            result.states += 1
            owed = owed | self._triggered(system)
            owed = owed - self._met(system, owed)
            vkey = (self.key(system), owed)
            if vkey in parents:
                return
            parents[vkey] = None if move is None else (parent, move)
            result.unique += 1
            result.max_depth = max(result.max_depth, system.depth)
            if self._check(system, vkey, parents, result, sometimes):
                return
            if len(system.network) > self.adapter.bounds.in_flight or \
                    system.depth >= self.adapter.bounds.depth or \
                    (self.adapter.within is not None and not self.adapter.within(system)):
                result.pruned += 1
                if system.depth >= self.adapter.bounds.depth:
                    result.complete = False
                return
            frontier.append((system, vkey, owed))

        try:
            visit(init, None, None, eventually)
        except CoreFailure as e:
            result.counterexamples.append(Counterexample("no core raises", "always", str(e), []))
        while frontier and not (self.stop_at_first and result.counterexamples):
            system, vkey, owed = frontier.popleft() if strategy == "bfs" else frontier.pop()
            moves = system.moves()
            if not moves and owed:
                names = ", ".join(sorted(owed))
                result.counterexamples.append(Counterexample(
                    names, "eventually", "a maximal path ends without it",
                    _path(parents, vkey)))
                continue
            for move in moves:
                child = system.fork(move)
                try:
                    child.apply(move)
                except CoreFailure as e:
                    result.counterexamples.append(Counterexample(
                        "no core raises", "always", str(e), [*_path(parents, vkey), move]))
                    break
                visit(child, vkey, move, owed)
                if self.stop_at_first and result.counterexamples:
                    break
            if self.max_states is not None and result.states >= self.max_states:
                result.complete = False
                break
            now = time.monotonic()
            if (self.progress is not None or self.on_progress is not None) and \
                    now - last_report >= self.progress_every_s:
                last_report = now
                self._report(result, now - started, len(frontier))
        result.seconds = time.monotonic() - started
        if frontier and not self.stop_at_first:
            result.complete = False
        return result

    def _triggered(self, system: System) -> frozenset[str]:
        """The leads-to properties whose ``after`` holds here: owed from now on."""
        return frozenset(p.name for p in self.properties
                         if isinstance(p, Eventually) and p.after is not None and
                         bool(p.after(system)))

    def _met(self, system: System, owed: frozenset[str]) -> frozenset[str]:
        if not owed:
            return frozenset()
        return frozenset(p.name for p in self.properties
                         if p.name in owed and isinstance(p, Eventually) and
                         bool(p.check(system)))

    def _check(self, system: System, vkey: Any, parents: dict[Any, Any], result: Result,
               sometimes: list[Sometimes]) -> bool:
        """Check the state; True if it breaks an always-property (it is not expanded)."""
        for s in sometimes:
            if result.reached[s.name] is None and s.check(system):
                result.reached[s.name] = _path(parents, vkey)
        for p in self.properties:
            if not isinstance(p, Always):
                continue
            why = check_always(p, system)
            if why is not None:
                result.counterexamples.append(Counterexample(p.name, "always", why,
                                                             _path(parents, vkey)))
                return True
        return False

    def _report(self, result: Result, elapsed: float, queue: int) -> None:
        if self.on_progress is not None:
            self.on_progress(result, elapsed, queue)
        if self.progress is None:
            return
        self.progress.write(f"  {result.states:,} states, {result.unique:,} unique, "
                            f"depth {result.max_depth}, queue {queue:,}, "
                            f"{result.states / max(elapsed, 1e-9):,.0f} states/s\n")
        self.progress.flush()


def check_always(p: Always, system: System) -> str | None:
    """None if ``p`` holds in ``system``, else what is wrong."""
    try:
        verdict = p.check(system)
    except AssertionError as e:
        return str(e) or type(e).__name__
    if verdict is None or verdict is True:
        return None
    return "it does not hold" if verdict is False else str(verdict)


def linearizable(system: System) -> str | None:
    """The clients' history so far is linearizable (Herlihy & Wing; the project's
    checker, ``protocols.check.linearizability``): unanswered commands may have taken
    effect or not."""
    if not any(e.type == "ok" for e in system.history.events):
        return None
    result = check_history(system.history, timeout_s=10.0)
    if result.verdict == "violation":
        return result.summary()
    return None


def _path(parents: dict[Any, tuple[Any, Move] | None], vkey: Any) -> list[Move]:
    out: list[Move] = []
    link = parents[vkey]
    while link is not None:
        parent, move = link
        out.append(move)
        link = parents[parent]
    out.reverse()
    return out


def _plain_view(system: System) -> Any:
    """The baseline's key: the whole state pickled as it is (no canonical form)."""
    return (system.encode(),)


def replay(adapter: ExploreAdapter, path: list[Move], *,
           each: Callable[[System, Move], None] | None = None) -> Iterator[System]:
    """The states of ``path`` from the initial state (each move found again among the
    enabled ones: a path that no longer applies says at which step)."""
    system = System(adapter)
    yield system
    for move in path:
        found = system.find(move)
        system.apply(found)
        if each is not None:
            each(system, found)
        yield system


def _stderr() -> TextIO:
    return sys.stderr
