"""Histories: what clients saw, in the vocabulary of Jepsen and Knossos.

A client (``process``) *invokes* an operation and later sees it complete with one of:

* ``ok``   - it happened, with this result;
* ``fail`` - it certainly did not happen (e.g. a NotLeader before anything was proposed);
* ``info`` - we do not know (timeout, connection lost): it may have happened, at any time
  after its invocation, or never. A checker must treat it as concurrent with everything
  after its invocation.

Times are floats in any unit (seconds on real clusters, ticks in the simulator); only
their order matters. ``History`` records events as they happen and pairs them into
``Operation``s for the checkers.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["Event", "EventType", "History", "Operation", "pairs"]

EventType = Literal["invoke", "ok", "fail", "info"]


@dataclass(frozen=True, slots=True)
class Event:
    """One line of a history."""

    type: EventType
    process: int
    f: str  # the operation: "get", "put", "cas", "append", "delete", ...
    key: Any = None
    value: Any = None  # invoke: the argument(s); ok: the result
    time: float = 0.0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class Operation:
    """An invocation paired with its completion.

    ``ret`` is ``math.inf`` for an operation whose outcome is unknown (``info``) or that
    never completed: it may take effect at any point after ``call``.
    """

    process: int
    f: str
    key: Any
    input: Any
    output: Any
    call: float
    ret: float
    status: EventType  # "ok" or "info" ("fail" operations are dropped by ``operations``)
    index: int = 0  # position of the invocation in the history, for reports


@dataclass(slots=True)
class History:
    """An append-only list of events, safe to record from many asyncio tasks."""

    events: list[Event] = field(default_factory=list)

    def invoke(self, process: int, f: str, key: Any, value: Any, time: float) -> Event:
        e = Event("invoke", process, f, key, value, time)
        self.events.append(e)
        return e

    def complete(
        self,
        invocation: Event,
        type: EventType,
        value: Any,
        time: float,
        error: str | None = None,
    ) -> Event:
        if type == "invoke":
            raise ValueError("complete() takes ok, fail or info")
        e = Event(type, invocation.process, invocation.f, invocation.key, value, time, error)
        self.events.append(e)
        return e

    def __iter__(self) -> Iterator[Event]:
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)

    def operations(self) -> list[Operation]:
        """Pair invocations with completions; drop ``fail``s; open or ``info`` ops get ret=inf.

        Raises ValueError on a malformed history (a completion with no open invocation, or
        a process invoking twice without completing).
        """
        done: list[Operation] = []
        for idx, inv, e in pairs(self.events):
            if e is None:  # never completed: it may have happened
                done.append(Operation(inv.process, inv.f, inv.key, inv.value, None,
                                      inv.time, math.inf, "info", idx))
            elif e.type != "fail":
                ret = e.time if e.type == "ok" else math.inf
                out = e.value if e.type == "ok" else None
                done.append(Operation(e.process, inv.f, inv.key, inv.value, out, inv.time,
                                      ret, e.type, idx))
        done.sort(key=lambda op: op.index)
        return done

    def to_jsonl(self) -> str:
        return "".join(json.dumps(asdict(e), sort_keys=True) + "\n" for e in self.events)

    @classmethod
    def from_jsonl(cls, text: str) -> History:
        return cls([Event(**json.loads(line)) for line in text.splitlines() if line.strip()])


def pairs(events: Iterable[Event]) -> Iterator[tuple[int, Event, Event | None]]:
    """Each invocation (with its position) and its completion, in completion order; then
    the invocations never completed, with None, in invocation order. ValueError naming
    the event on a malformed history (a completion with no open invocation, or a process
    invoking twice without completing)."""
    open_ops: dict[int, tuple[int, Event]] = {}
    for i, e in enumerate(events):
        if e.type == "invoke":
            if e.process in open_ops:
                raise ValueError(f"event {i}: process {e.process} invoked twice")
            open_ops[e.process] = (i, e)
            continue
        if e.process not in open_ops:
            raise ValueError(f"event {i}: {e.type} for process {e.process} with no invoke")
        idx, inv = open_ops.pop(e.process)
        yield idx, inv, e
    for idx, inv in sorted(open_ops.values(), key=lambda p: p[0]):
        yield idx, inv, None
