"""Check a Jepsen-shaped transaction history at an isolation level, from the shell.

    python -m protocols.check.txn HISTORY.jsonl [--model mixed|list-append|rw-register]
        [--level serializable|strict-serializable|strong-session-serializable|
                 snapshot-isolation|read-committed] [--html OUT.html]

Elle's method (Kingsbury & Alvaro, VLDB 2020) on Adya's dependency graphs (Adya 1999):
``protocols.check.elle.check_transactions`` does the work; this module reads the file,
names the lines a problem is on, prints the anomalies with their cycles and writes the
graph page (``protocols.check.txn_page``).

History shape: one JSON object per line, in the order things happened::

    {"process": 3, "type": "invoke", "value": [["append", "x", 1], ["r", "y", null]], "time": 10}
    {"process": 3, "type": "ok", "value": [["append", "x", 1], ["r", "y", [1, 2]]], "time": 25}

``type`` is ``invoke``, then ``ok`` (it committed; reads filled in), ``fail`` (it surely
did not) or ``info`` (unknown); ``value`` holds the micro-ops ``["r", k, v]``,
``["append", k, v]``, ``["w", k, v]``; ``time`` (any unit) defaults to the line number.
Lines with an ``f`` other than ``"txn"`` (a nemesis's, say) are skipped.

Exit status: 0 valid at the level, 1 not valid, 2 cannot tell (the reason on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from protocols.check.elle import (
    LEVELS,
    MODEL_OPS,
    HistoryError,
    check_transactions,
)
from protocols.check.history import Event, History
from protocols.check.txn_page import render_txn_page

__all__ = ["load_history", "main"]

TYPES = ("invoke", "ok", "fail", "info")


def load_history(path: Path, model: str = "mixed") -> tuple[History, list[int]]:
    """The history in a JSONL file and the line number of each of its events.

    Raises HistoryError naming the line of the first malformed one.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise HistoryError(f"cannot read {path}: {e}") from e
    events: list[Event] = []
    lines: list[int] = []
    open_: dict[Any, tuple[int, Any]] = {}  # process -> (line of its invoke, its ops)
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        event = _event(n, line, model)
        if event is None:
            continue
        _pair(n, event, open_)
        events.append(event)
        lines.append(n)
    return History(events), lines


def _event(n: int, line: str, model: str) -> Event | None:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise HistoryError(f"line {n}: not JSON ({e.msg} at column {e.colno})") from e
    if not isinstance(obj, dict):
        raise HistoryError(f"line {n}: expected a JSON object, found {line.strip():.60}")
    if obj.get("f", "txn") != "txn":
        return None
    kind, process = obj.get("type"), obj.get("process")
    if kind not in TYPES:
        raise HistoryError(f"line {n}: \"type\" is {kind!r}; expected one of "
                           f"{', '.join(TYPES)}")
    if not isinstance(process, int) or isinstance(process, bool):
        raise HistoryError(f"line {n}: \"process\" must be an integer, not {process!r}")
    time = obj.get("time", n)
    if not isinstance(time, int | float) or isinstance(time, bool):
        raise HistoryError(f"line {n}: \"time\" must be a number, not {time!r:.40}")
    value = obj.get("value")
    if kind in ("invoke", "ok") or value is not None:
        _check_ops(n, value, model)
    return Event(kind, process, "txn", None, value, float(time))


def _check_ops(n: int, value: Any, model: str) -> None:
    if not isinstance(value, list):
        raise HistoryError(f"line {n}: \"value\" must be a list of micro-ops, "
                           f"not {value!r:.60}")
    allowed = MODEL_OPS[model]
    for i, op in enumerate(value, 1):
        if not isinstance(op, list) or len(op) != 3:
            raise HistoryError(f"line {n}: micro-op {i} {json.dumps(op):.60} is not "
                               "[f, key, value]")
        if op[0] not in allowed:
            hint = "" if model == "mixed" or op[0] not in MODEL_OPS["mixed"] else \
                " (use --model mixed to allow both models)"
            raise HistoryError(f"line {n}: micro-op {i} {json.dumps(op):.60}: unknown op "
                               f"{op[0]!r} for the {model} model, which knows "
                               f"{', '.join(allowed)}{hint}")


def _pair(n: int, e: Event, open_: dict[Any, tuple[int, Any]]) -> None:
    """An invoke opens the process's txn; a completion must close one with the same ops."""
    if e.type == "invoke":
        if e.process in open_:
            raise HistoryError(f"line {n}: process {e.process} invoked again before its txn "
                               f"from line {open_[e.process][0]} completed")
        open_[e.process] = (n, e.value)
        return
    if e.process not in open_:
        raise HistoryError(f"line {n}: {e.type} for process {e.process}, which has no txn "
                           "in flight (no invoke before it)")
    start, ops = open_.pop(e.process)
    if e.type == "ok":
        shape = [(op[0], op[1]) for op in ops]
        if [(op[0], op[1]) for op in e.value] != shape or any(
                op[0] != "r" and op[2] != mine[2] for op, mine in zip(e.value, ops,
                                                                     strict=True)):
            raise HistoryError(f"line {n}: the ok's micro-ops differ from those invoked on "
                               f"line {start} (only reads may fill in a value)")


def _where(err: HistoryError, lines: Sequence[int]) -> str:
    """The error, with the line each txn it names was invoked on."""
    named = [f"T{t} was invoked on line {lines[t]}" for t in err.txns if t < len(lines)]
    return str(err) + (f" ({'; '.join(named)})" if named else "")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m protocols.check.txn",
        description="Check a transaction history (Jepsen JSONL) for isolation anomalies "
                    "(Elle: Kingsbury & Alvaro 2020, on Adya's dependency graphs).",
        epilog="exit status: 0 valid at the level, 1 not valid, 2 cannot tell")
    p.add_argument("history", type=Path, help="JSONL file, one event per line")
    p.add_argument("--model", choices=list(MODEL_OPS), default="mixed",
                   help="list-append (r, append), rw-register (r, w), or mixed: each key "
                        "in the model its ops use (default)")
    p.add_argument("--level", choices=list(LEVELS), default="serializable",
                   help="the isolation level to check (default: serializable)")
    p.add_argument("--html", type=Path, metavar="OUT.html",
                   help="also write a page drawing each anomaly's cycle")
    p.add_argument("--per-kind", type=int, default=3, metavar="N",
                   help="print at most N anomalies of each kind (default 3)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    lines: list[int] = []
    try:
        history, lines = load_history(args.history, args.model)
        if not len(history):
            raise HistoryError("no transactions in the file (no line with \"f\": \"txn\" "
                               "or without \"f\")")
        result = check_transactions(history, model=args.model, level=args.level)
    except HistoryError as e:
        print(f"{args.history}: cannot tell: {_where(e, lines)}", file=sys.stderr)
        return 2
    print(result.summary(per_kind=args.per_kind))
    if args.html is not None:
        try:
            args.html.write_text(render_txn_page(result, title=args.history.name),
                                 encoding="utf-8")
        except OSError as e:
            print(f"cannot write the page {args.html}: {e}", file=sys.stderr)
            return 2
        print(f"graph page: {args.html}")
    return 0 if result.valid else 1


if __name__ == "__main__":
    sys.exit(main())
