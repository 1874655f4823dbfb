"""Linearizability checking: did a concurrent history behave like *some* sequential one
that respects real time? (Herlihy & Wing 1990; course chapters 29-30.)

The search is Wing & Gong's (1993): walk the history's call/return events in time
order; at each call, try to linearize that operation now (if the model allows it); on
reaching the return of an operation that was not linearized yet, undo the last choice
and try the next candidate. Lowe's memoisation (2017) makes it practical: a
(set of linearized operations, model state) pair reached once never needs to be
explored again. Porcupine (Athalye 2017) showed the approach; this is our own code.

Two refinements matter in practice:

* **P-compositionality**: linearizability is local (Herlihy & Wing, Theorem 1), so a
  key-value history is checked one key at a time — exponentially cheaper.
* **Indeterminate operations** (``info``: the client timed out) have ``ret = inf``: they
  may take effect at any point after their call, or never. When only such returns are
  left, every completed operation has been placed and the history is linearizable.

The search has a time budget; when it runs out the verdict is ``unknown`` — never a
guess.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from protocols.check.history import History, Operation
from protocols.check.models import KvRegister, Model

__all__ = ["CheckResult", "KeyResult", "Verdict", "check_history", "check_operations"]

Verdict = Literal["ok", "violation", "unknown"]


@dataclass(slots=True)
class KeyResult:
    """The verdict for one independent sub-history (one key)."""

    key: Any
    verdict: Verdict
    operations: list[Operation]
    prefix: list[Operation] = field(default_factory=list)  # longest linearization found
    culprit: Operation | None = None  # the operation that could not be placed
    explanation: str = ""
    explored: int = 0


@dataclass(slots=True)
class CheckResult:
    verdict: Verdict
    keys: dict[Any, KeyResult]
    elapsed_s: float

    @property
    def violation(self) -> KeyResult | None:
        return next((k for k in self.keys.values() if k.verdict == "violation"), None)

    def summary(self) -> str:
        counts: dict[str, int] = defaultdict(int)
        for k in self.keys.values():
            counts[k.verdict] += 1
        head = (f"{self.verdict}: {len(self.keys)} keys ({counts['ok']} ok, "
                f"{counts['violation']} violation, {counts['unknown']} unknown) "
                f"in {self.elapsed_s:.2f}s")
        bad = self.violation
        return head + (f"\n{bad.explanation}" if bad is not None else "")


class _Node:
    """An entry of the doubly linked list of call/return events."""

    __slots__ = ("is_call", "match", "next", "op_id", "prev", "time")

    def __init__(self, op_id: int, is_call: bool, t: float) -> None:
        self.op_id = op_id
        self.is_call = is_call
        self.time = t
        self.match: _Node | None = None  # a call's return node
        self.prev: _Node | None = None
        self.next: _Node | None = None


def _entries(ops: Sequence[Operation]) -> _Node:
    """The list head; events sorted by time, calls before returns at equal times."""
    events: list[tuple[float, int, int]] = []
    for i, op in enumerate(ops):
        events.append((op.call, 0, i))
        events.append((op.ret, 1, i))
    events.sort()
    head = _Node(-1, False, -math.inf)
    calls: dict[int, _Node] = {}
    prev = head
    for t, kind, i in events:
        node = _Node(i, kind == 0, t)
        if kind == 0:
            calls[i] = node
        else:
            calls[i].match = node
        prev.next, node.prev = node, prev
        prev = node
    return head


def _lift(call: _Node) -> None:
    """Take a call and its return out of the list (the operation is linearized)."""
    assert call.prev is not None and call.match is not None
    call.prev.next = call.next
    if call.next is not None:
        call.next.prev = call.prev
    ret = call.match
    assert ret.prev is not None
    ret.prev.next = ret.next
    if ret.next is not None:
        ret.next.prev = ret.prev


def _unlift(call: _Node) -> None:
    """Put them back, exactly where they were."""
    ret = call.match
    assert ret is not None and ret.prev is not None and call.prev is not None
    ret.prev.next = ret
    if ret.next is not None:
        ret.next.prev = ret
    call.prev.next = call
    if call.next is not None:
        call.next.prev = call


def _check_key(key: Any, ops: list[Operation], model: Model, deadline: float) -> KeyResult:
    # an unanswered read constrains nothing: drop it (a big win on info-heavy histories)
    ops = [op for op in ops if not (op.status != "ok" and op.f in ("get", "read"))]
    ops.sort(key=lambda op: (op.call, op.index))
    result = KeyResult(key, "ok", ops)
    if not ops:
        return result
    head = _entries(ops)
    cache: set[tuple[int, Hashable]] = set()
    stack: list[tuple[_Node, Any]] = []
    state: Any = model.init()
    linearized = 0
    best: list[int] = []
    culprit = -1
    node = head.next
    steps = 0
    while node is not None:
        steps += 1
        if steps % 2048 == 0 and time.monotonic() > deadline:
            result.verdict = "unknown"
            result.explanation = (f"key {key!r}: time budget exhausted after {steps} steps "
                                  f"({len(best)} of {len(ops)} operations placed)")
            result.explored = steps
            return result
        if node.is_call:
            legal, new_state = model.step(state, ops[node.op_id])
            bits = linearized | (1 << node.op_id)
            if legal and (bits, new_state) not in cache:
                cache.add((bits, new_state))
                stack.append((node, state))
                state, linearized = new_state, bits
                _lift(node)
                if len(stack) > len(best):
                    best = [n.op_id for n, _ in stack]
                node = head.next
            else:
                node = node.next
            continue
        if node.time == math.inf:  # only unknown outcomes remain: all completed ops placed
            break
        if len(stack) == len(best) and culprit < 0:
            culprit = node.op_id  # first return we could not get past at the best depth
        if not stack:
            return _violation(result, ops, best, culprit, model, steps)
        top, state = stack.pop()
        linearized &= ~(1 << top.op_id)
        _unlift(top)
        node = top.next
    result.prefix = [ops[n.op_id] for n, _ in stack]
    result.explored = steps
    return result


def _violation(result: KeyResult, ops: list[Operation], best: list[int], culprit: int,
               model: Model, steps: int) -> KeyResult:
    result.verdict = "violation"
    result.prefix = [ops[i] for i in best]
    result.culprit = ops[culprit] if culprit >= 0 else None
    result.explored = steps
    state = model.init()
    for op in result.prefix:
        state = model.step(state, op)[1]
    placed = {id(op) for op in result.prefix}
    pending = [op for op in ops if id(op) not in placed]
    lines = [f"key {result.key!r}: not linearizable.",
             f"  longest linearizable prefix: {len(result.prefix)} of {len(ops)} operations;"
             f" the state after it is {state!r}."]
    if result.culprit is not None:
        c = result.culprit
        lines.append(f"  cannot place: process {c.process} {model.describe(c)} "
                     f"[{c.call:.4f} .. {c.ret:.4f}]")
    lines.append("  operations left unplaced, none of which can be linearized next:")
    for op in pending[:8]:
        legal = model.step(state, op)[0]
        lines.append(f"    p{op.process} {model.describe(op)} [{op.call:.4f} .. {op.ret:.4f}]"
                     f"{'' if legal else '  (illegal in this state)'}")
    result.explanation = "\n".join(lines)
    return result


def check_operations(ops: Iterable[Operation], model: Model | None = None,
                     timeout_s: float = 30.0) -> CheckResult:
    """Check paired operations; one independent sub-history per key."""
    started = time.monotonic()
    deadline = started + timeout_s
    model = model or KvRegister()
    by_key: dict[Any, list[Operation]] = defaultdict(list)
    for op in ops:
        by_key[op.key].append(op)
    keys: dict[Any, KeyResult] = {}
    for key in sorted(by_key, key=repr):
        keys[key] = _check_key(key, by_key[key], model, deadline)
    verdicts = {k.verdict for k in keys.values()}
    verdict: Verdict = ("violation" if "violation" in verdicts else
                        "unknown" if "unknown" in verdicts else "ok")
    return CheckResult(verdict, keys, time.monotonic() - started)


def check_history(history: History, model: Model | None = None,
                  timeout_s: float = 30.0) -> CheckResult:
    """Check a recorded history (invocations paired with completions; fails dropped)."""
    return check_operations(history.operations(), model, timeout_s)
