"""Sequential specifications for the linearizability checker.

A model says what one operation does to a state when operations run one at a time:
``step(state, op) -> (legal, new_state)``. States must be hashable (the checker
memoises on them, Lowe's optimisation) and immutable.

``KvRegister`` is the model of one key of a key-value store — the checker is
P-compositional (Herlihy & Wing's locality; Horn & Kroening), so a KV history is checked
as one independent register per key.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any, Protocol

from protocols.check.history import Operation

__all__ = ["KvRegister", "Model"]


class Model(Protocol):
    def init(self) -> Hashable:
        """The state before any operation."""

    def step(self, state: Any, op: Operation) -> tuple[bool, Any]:
        """Is ``op`` (with its observed output) legal in ``state``; the state after it.

        For an operation whose outcome is unknown (``op.status == "info"``) the output
        was never observed: any output is legal, only the effect matters.
        """

    def describe(self, op: Operation) -> str:
        """A short human description of ``op`` for reports."""


class KvRegister:
    """One key: ``None`` (absent) or a value. Operations and their outputs:

    * ``get``              -> the value, or None if absent
    * ``put(v)``           -> None
    * ``cas([expected, v])`` -> True iff the value was ``expected`` (None: iff absent)
    * ``delete``           -> True iff the key existed
    * ``append(v)``        -> None (the value becomes old + v)
    """

    def init(self) -> Hashable:
        return None

    def step(self, state: Any, op: Operation) -> tuple[bool, Any]:
        unknown = op.status != "ok"
        match op.f:
            case "get" | "read":
                return unknown or op.output == state, state
            case "put" | "write":
                return True, op.input
            case "cas":
                expected, new = op.input
                holds = state is None if expected is None else state == expected
                legal = unknown or bool(op.output) == holds
                return legal, (new if holds else state)
            case "delete":
                return unknown or bool(op.output) == (state is not None), None
            case "append":
                return True, (state or "") + op.input
        raise ValueError(f"KvRegister has no operation {op.f!r}")

    def describe(self, op: Operation) -> str:
        out = "?" if op.status != "ok" else repr(op.output)
        arg = "" if op.input is None else repr(op.input)
        return f"{op.f}({op.key!r}{', ' + arg if arg else ''}) -> {out}"
