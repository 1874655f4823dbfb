"""Space-time diagrams of a run, drawn from the nodes' event logs.

A *space-time diagram* (Lamport 1978, figure 1) draws each process as a line with time
running along it, and each message as an arrow from the point where it was sent to the
point where it was received. Causality is then visible: an event can influence another
only if a path of lane segments and arrows leads from the first to the second.

Every node (and the simulator) writes an *event log*: JSON Lines, one object per event,
with ``t`` in seconds on one clock for the whole run (``time.time()`` on processes,
simulated seconds in the simulator)::

    {"t": 1733030000.123, "node": "n1", "kind": "send", "peer": "n2",
     "msg": "AppendEntries", "mid": "n1:17", "vc": {"n1": 17, "n2": 9}}
    {"t": 1733030000.125, "node": "n2", "kind": "recv", "peer": "n1",
     "msg": "AppendEntries", "mid": "n1:17", "vc": {"n1": 17, "n2": 10}}
    {"t": ..., "node": "n1", "kind": "state", "role": "leader", "epoch": 3}
    {"t": ..., "node": "n3", "kind": "start"}    {"t": ..., "node": "n3", "kind": "stop"}

A ``send`` and its ``recv`` share ``mid``; a message may be received zero times (lost) or
more than once (duplicated). This module turns such logs into

* a **ShiViz** log (``shiviz_log``, ``write_shiviz``), for the interactive explorer of
  the University of British Columbia's DistributedClocks group, which orders events by
  their vector clocks alone; and
* a self-contained **HTML space-time diagram** (``render_spacetime``): one lane per node,
  real time on the x axis, roles as coloured bands, down time greyed, fault intervals
  shaded, and the clients' operations below, grouped by key. Zoom with the mouse wheel,
  pan by dragging, and hover anything for its details. It needs no network.

``protocols.check.timeline`` draws a history alone; this draws the messages behind it.
"""

from __future__ import annotations

import bisect
import html
import json
import math
import re
import warnings
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from protocols.check.history import Operation
from protocols.check.linearizability import CheckResult

__all__ = ["SHIVIZ_REGEX", "load_events", "render_spacetime", "shiviz_log", "write_shiviz"]

EventRecord = Mapping[str, Any]
"""One line of an event log, as ``json.loads`` returns it."""

Fault = tuple[float, float, str]
"""``(start_t, end_t, label)`` of one injected fault, on the events' clock."""

_MESSAGE_KINDS = ("send", "recv")

# Bounds on what a log may hold, so a malformed or hostile log is a clear error naming
# its file and line, never a RecursionError, an OverflowError or a quadratic stall.
MAX_LINE_BYTES = 1 << 20  # an event is a few hundred bytes
MAX_NESTING = 16  # {"vc": {...}} nests 2 deep; json.loads recurses on "[[[[..."
MAX_NAME = 256  # characters of a node, kind, peer, message type, role or string mid
MAX_EVENTS = 5_000_000  # per call of load_events
MAX_T = 1e11  # |t| in seconds: time.time() for the next thousands of years, or simulated
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(r"[\[\]{}]")


# --------------------------------------------------------------------------- loading


def load_events(paths: Iterable[str | Path] | str | Path, *,
                max_events: int = MAX_EVENTS) -> list[dict[str, Any]]:
    """Read event logs and return their events sorted by ``t`` (ties keep file order).

    Each path is a JSON Lines file, or a directory whose ``events*.jsonl`` files are all
    read. Blank lines are skipped. A line that is not a JSON object with a numeric ``t``
    and string ``node`` and ``kind`` (and, for ``send``/``recv``, a ``peer`` and a
    ``mid``) raises ``ValueError`` naming ``file:line``; so does one past the bounds
    (``MAX_LINE_BYTES``, ``MAX_NESTING``, ``MAX_NAME``, ``|t| <= MAX_T``) or past
    ``max_events`` events. One exception: a *last* line with no newline that does not
    parse is the write that ``kill -9`` cut short; it is skipped with a warning, since
    fault runs are the ones most worth drawing.
    """
    if isinstance(paths, (str, Path)):
        paths = [paths]
    files: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(p.glob("events*.jsonl"))
            if not found:
                raise FileNotFoundError(f"{p}: no events*.jsonl files in this directory")
            files.extend(found)
        else:
            files.append(p)
    events: list[dict[str, Any]] = []
    for f in files:
        lines = f.read_text(encoding="utf-8").split("\n")
        # split("\n") leaves "" after a final newline; anything else there is a torn write
        torn_last = len(lines) - 1 if lines[-1].strip() else -1
        for i, line in enumerate(lines):
            if not line.strip():
                continue
            if len(events) >= max_events:
                raise ValueError(f"{f}:{i + 1}: more than {max_events} events; draw a time "
                                 f"window of the run")
            if len(line) > MAX_LINE_BYTES:
                raise ValueError(f"{f}:{i + 1}: a line of {len(line)} characters (at most "
                                 f"{MAX_LINE_BYTES}): {line[:80]!r}")
            if (depth := _nesting(line)) > MAX_NESTING:
                raise ValueError(f"{f}:{i + 1}: nested {depth} deep (at most "
                                 f"{MAX_NESTING}): {line.strip()[:80]!r}")
            try:
                obj = json.loads(line)
            except ValueError as exc:  # JSONDecodeError, or an integer of 4 300+ digits
                why = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)[:60]
                if i == torn_last:
                    warnings.warn(f"{f}:{i + 1}: skipped a torn last line (no newline, not "
                                  f"JSON: {why}); was the process killed?", stacklevel=2)
                    continue
                raise ValueError(f"{f}:{i + 1}: not JSON ({why}): {line.strip()[:80]!r}"
                                 ) from None
            problem = _malformed(obj)
            if problem:
                raise ValueError(f"{f}:{i + 1}: {problem}: {line.strip()[:80]!r}")
            events.append(obj)
    events.sort(key=lambda e: e["t"])
    return events


def _nesting(line: str) -> int:
    """How deep ``line``'s arrays and objects nest, strings skipped: checked before
    ``json.loads``, which recurses on ``[[[[...`` to the interpreter's limit."""
    depth = deepest = 0
    for b in _BRACKETS.findall(_STRING.sub("", line)):
        depth += 1 if b in "[{" else -1
        deepest = max(deepest, depth)
    return deepest


def _malformed(obj: Any) -> str:
    """What is wrong with one decoded line (or event), or ``""`` if nothing."""
    if not isinstance(obj, dict):
        return "not a JSON object"
    t = obj.get("t")
    if isinstance(t, bool) or not isinstance(t, (int, float)) or (
            isinstance(t, float) and not math.isfinite(t)):
        return "'t' must be a finite number"
    if not -MAX_T <= t <= MAX_T:  # compared exactly: an int of 400 digits is no float
        return f"'t' must be within {MAX_T:g} s of 0"
    for field in ("node", "kind"):
        if not isinstance(obj.get(field), str) or not obj[field]:
            return f"'{field}' must be a non-empty string"
    if obj["kind"] in _MESSAGE_KINDS:
        if not isinstance(obj.get("peer"), str):
            return f"a {obj['kind']} needs a string 'peer'"
        mid = obj.get("mid")
        if isinstance(mid, bool) or not isinstance(mid, (str, int)):
            return f"a {obj['kind']} needs a 'mid' (string or integer)"
    for field in ("node", "kind", "peer", "msg", "role", "mid"):
        v = obj.get(field)
        if (isinstance(v, str) and len(v) > MAX_NAME) or (
                isinstance(v, int) and not -2**63 <= v < 2**64):
            return f"'{field}' is longer than {MAX_NAME} characters (or 64 bits)"
    return ""


def _sorted(events: Iterable[EventRecord]) -> list[EventRecord]:
    return sorted(events, key=lambda e: e["t"])


def _checked(events: Iterable[EventRecord]) -> list[EventRecord]:
    """The events, each as ``load_events`` would accept it (ValueError naming the first
    that is not): events may come from the simulator or a caller, not only from files."""
    out = list(events)
    for i, e in enumerate(out):
        problem = _malformed(e)
        if problem:
            raise ValueError(f"event #{i}: {problem}: {str(e)[:80]!r}")
    return out


def _fault(fault: Fault) -> Fault:
    start, end, label = fault
    if not all(isinstance(t, (int, float)) and -MAX_T <= t <= MAX_T for t in (start, end)) \
            or end < start:
        raise ValueError(f"fault {label!r}: ({start!r}, {end!r}) must be times within "
                         f"{MAX_T:g} s of 0, start <= end")
    return float(start), float(end), str(label)


# --------------------------------------------------------------------------- ShiViz

SHIVIZ_REGEX = r"^(?<event>.*)\n(?<host>\S+) (?<clock>\{.*\})$"
"""The regular expression to paste into ShiViz's "log parsing regular expression" box.

Each event is two lines: a description, then the host and its vector clock as JSON::

    send AppendEntries to n2 (mid n1:17) at +0.000123 s
    n1 {"n1": 5, "n2": 3}

ShiViz compiles it as a JavaScript RegExp with the ``g`` and ``m`` flags. The pattern
keeps to what JavaScript and Python share, except that Python spells a named group
``(?P<name>...)``: ``re.compile(SHIVIZ_REGEX.replace("(?<", "(?P<"), re.M)`` parses the
same text in Python.
"""

_SHIVIZ_KINDS = ("send", "recv", "state", "start", "stop")


@dataclass(frozen=True, slots=True)
class _ShivizEvent:
    host: str
    clock: dict[str, int]
    text: str


def shiviz_log(events: Iterable[EventRecord]) -> str:
    """The events as a ShiViz log, parsed by ``SHIVIZ_REGEX`` (paste it in, with the regex).

    ShiViz is strict about vector clocks: each host's own entries must run 1, 2, 3, ...
    over the events in the log, and each clock must be exactly what the messages in the
    log imply. A node's logged ``vc`` does not satisfy that in general (it counts events
    that are not logged, restarts after a crash, ...), so the clocks are recomputed here
    from the send/recv pairing, in an order that puts every send before its receives.
    Sends and receives become message events; ``state`` (role and epoch changes),
    ``start`` and ``stop`` become local events, so roles show on ShiViz's lanes too.
    Times in the descriptions are seconds after the first event.
    """
    shown = [e for e in _sorted(events) if e["kind"] in _SHIVIZ_KINDS]
    t0 = shown[0]["t"] if shown else 0.0
    lines: list[str] = []
    for ev in _shiviz_events(shown, t0):
        lines.append(ev.text)
        lines.append(f"{ev.host} {json.dumps(ev.clock, sort_keys=True)}")
    return "".join(line + "\n" for line in lines)


def write_shiviz(events: Iterable[EventRecord], path: str | Path) -> Path:
    """Write a ShiViz log to ``path`` and the regex beside it; return ``path``.

    ShiViz reads a log in one of two ways:

    * **Upload** ("choose a file"): ShiViz takes the file's first line as the parsing
      regular expression (wrapping it in ``^...$``), its second as the delimiter between
      executions (empty: one execution), and the rest as the log. The file written here
      is laid out that way, so uploading it needs nothing else.
    * **Paste**: the log goes in the text box and the regex in its own box. For that,
      ``<stem>.shiviz-regex.txt`` beside ``path`` holds ``SHIVIZ_REGEX``, and the two
      header lines of the file are harmless in the text box (they match nothing).
    """
    target = Path(path)
    header = SHIVIZ_REGEX.removeprefix("^").removesuffix("$")
    target.write_text(f"{header}\n\n{shiviz_log(events)}", encoding="utf-8", newline="\n")
    regex_file = target.with_name(f"{target.stem}.shiviz-regex.txt")
    regex_file.write_text(SHIVIZ_REGEX + "\n", encoding="utf-8", newline="\n")
    return target


def _one_line(text: str) -> str:
    """Text that stays on one line in ShiViz (JavaScript's ``.`` also stops at U+2028)."""
    return " ".join(text.replace("{", "(").replace("}", ")").split())


def _shiviz_host(node: str) -> str:
    return "_".join(node.split()) or "_"


def _describe(e: EventRecord, t0: float) -> str:
    at = f"at +{e['t'] - t0:.6f} s"
    kind = e["kind"]
    if kind == "send":
        text = f"send {e.get('msg', 'message')} to {e['peer']} (mid {e['mid']}) {at}"
    elif kind == "recv":
        text = f"recv {e.get('msg', 'message')} from {e['peer']} (mid {e['mid']}) {at}"
    elif kind == "state":
        extra = ", ".join(f"{k} {v}" for k, v in e.items()
                          if k not in ("t", "node", "kind", "role", "epoch"))
        text = f"state {e.get('role', '?')}, epoch {e.get('epoch', '?')}"
        text += f", {extra}" if extra else ""
        text += f" {at}"
    else:
        text = f"{kind} {at}"
    return _one_line(text)


def _shiviz_events(events: Sequence[EventRecord], t0: float) -> list[_ShivizEvent]:
    """Recompute vector clocks: tick on every event, merge the send's clock on receipt.

    Events are taken node by node in time order, but a receive waits until its send has
    been taken, so a sender's clock skew cannot make a message arrive before it left. A
    receive whose send is not in the log merges nothing.
    """
    queues: dict[str, deque[EventRecord]] = defaultdict(deque)
    for e in events:
        queues[e["node"]].append(e)
    send_mids = {str(e["mid"]) for e in events if e["kind"] == "send"}
    sent: dict[str, dict[str, int]] = {}
    clocks: dict[str, dict[str, int]] = {node: {} for node in queues}
    out: list[_ShivizEvent] = []
    while True:
        heads = [(q[0]["t"], node) for node, q in queues.items() if q]
        if not heads:
            return out
        ready = [(t, node) for t, node in heads
                 if queues[node][0]["kind"] != "recv"
                 or str(queues[node][0]["mid"]) not in send_mids
                 or str(queues[node][0]["mid"]) in sent]
        # none ready only if the logs say a receive preceded its own send on both sides:
        # a cycle; then take the earliest receive and merge nothing, rather than stop
        _, node = min(ready or heads)
        e = queues[node].popleft()
        host = _shiviz_host(node)
        clock = clocks[node]
        if e["kind"] == "recv" and str(e["mid"]) in sent:
            for h, c in sent[str(e["mid"])].items():
                clock[h] = max(clock.get(h, 0), c)
        clock[host] = clock.get(host, 0) + 1
        snapshot = dict(clock)
        if e["kind"] == "send":
            sent[str(e["mid"])] = snapshot
        out.append(_ShivizEvent(host, snapshot, _describe(e, t0)))


# --------------------------------------------------------------------------- the model


@dataclass(slots=True)
class _Arrow:
    """One delivery (or a send never delivered, or a receive whose send is missing)."""

    mid: str
    msg: str
    src: str
    dst: str
    sent: float | None  # None: the send is not in the log
    received: float | None  # None: lost
    copy: int = 1  # 2, 3, ... for duplicate deliveries


def _arrows(events: Sequence[EventRecord]) -> list[_Arrow]:
    """Pair every receive with its send by ``mid``; unreceived sends become lost arrows.
    ``events`` are sorted by time, so each mid's sends are too (a binary search finds
    the latest before a receive, however often a mid is reused)."""
    sends: dict[str, list[EventRecord]] = defaultdict(list)
    for e in events:
        if e["kind"] == "send":
            sends[str(e["mid"])].append(e)
    send_times = {mid: [s["t"] for s in group] for mid, group in sends.items()}
    delivered: dict[int, int] = defaultdict(int)  # id(send event) -> deliveries so far
    out: list[_Arrow] = []
    for e in events:
        if e["kind"] != "recv":
            continue
        mid = str(e["mid"])
        candidates = sends.get(mid, [])
        # a resent mid: pair with the latest send before this receive
        before = bisect.bisect_right(send_times.get(mid, []), e["t"])
        send = candidates[before - 1] if before else (candidates[0] if candidates else None)
        msg = str(e.get("msg", send.get("msg", "message") if send else "message"))
        if send is None:
            out.append(_Arrow(mid, msg, str(e["peer"]), e["node"], None, e["t"]))
            continue
        delivered[id(send)] += 1
        out.append(_Arrow(mid, msg, send["node"], e["node"], send["t"], e["t"],
                          delivered[id(send)]))
    for group in sends.values():
        for s in group:
            if delivered[id(s)] == 0:
                out.append(_Arrow(str(s["mid"]), str(s.get("msg", "message")), s["node"],
                                  str(s["peer"]), s["t"], None))
    out.sort(key=lambda a: (a.sent if a.sent is not None else a.received or 0.0))
    return out


@dataclass(slots=True)
class _Band:
    node: str
    start: float
    end: float
    role: str
    epoch: Any
    extra: dict[str, Any]


@dataclass(slots=True)
class _Down:
    node: str
    start: float
    end: float
    inferred: bool  # no stop was logged: the gap before a restart (kill -9)


def _bands_and_downs(events: Sequence[EventRecord], t_end: float
                     ) -> tuple[list[_Band], list[_Down]]:
    """Role/epoch bands (from one ``state`` to the next, or a stop) and down intervals."""
    by_node: dict[str, list[EventRecord]] = defaultdict(list)
    for e in events:
        by_node[e["node"]].append(e)
    bands: list[_Band] = []
    downs: list[_Down] = []
    for node, evs in by_node.items():
        role: str | None = None
        epoch: Any = None
        open_band: _Band | None = None
        stopped_at: float | None = None
        last_t: float | None = None
        for e in evs:
            kind = e["kind"]
            if kind == "state":
                if open_band is not None:
                    open_band.end = e["t"]
                role = str(e.get("role", role if role is not None else "?"))
                epoch = e.get("epoch", epoch)
                extra = {k: v for k, v in e.items()
                         if k not in ("t", "node", "kind", "role", "epoch")}
                open_band = _Band(node, e["t"], t_end, role, epoch, extra)
                bands.append(open_band)
            elif kind == "stop":
                if open_band is not None:
                    open_band.end = e["t"]
                    open_band = None
                stopped_at = e["t"]
            elif kind == "start":
                if stopped_at is not None:
                    downs.append(_Down(node, stopped_at, e["t"], False))
                elif last_t is not None:  # restarted without a logged stop
                    if open_band is not None:
                        open_band.end = last_t
                        open_band = None
                    downs.append(_Down(node, last_t, e["t"], True))
                stopped_at = None
            last_t = e["t"]
        if stopped_at is not None:
            downs.append(_Down(node, stopped_at, t_end, False))
    return bands, downs


def _natural_key(text: str) -> list[Any]:
    """Sort n2 before n10."""
    return [(0, int(p)) if p.isdigit() else (1, p) for p in re.split(r"(\d+)", text) if p]


# --------------------------------------------------------------------------- rendering

def _absences(evs: Sequence[EventRecord], t0: float, t1: float
              ) -> list[tuple[str, float, float, str]]:
    """Where a node was no member (``join`` and ``leave`` events: a node added or
    removed while the cluster ran): its lane starts at its join and ends at its leave.
    (node, start, end relative to ``t0``, why)."""
    out = []
    for e in evs:
        if e["kind"] == "join":
            out.append((e["node"], 0.0, e["t"] - t0, "not yet in the cluster (joined later)"))
        elif e["kind"] == "leave":
            out.append((e["node"], e["t"] - t0, t1 - t0, "removed from the cluster"))
    return out


_LEFT = 110  # px for lane and key labels
_RIGHT = 16
_PLOT_W = 1250  # initial width of the time axis; the page fits it to the window
_AXIS_H = 26
_FAULT_ROW_H = 17
_LANE_H = 46
_OPS_HEAD_H = 22
_OP_ROW_H = 16
_KEY_GAP = 8
_STUB_PX = 16.0  # length of a lost message's stub
_MAX_ZOOM_RESOLUTION_S = 1e-6  # the deepest zoom shows about a microsecond per pixel

_TYPE_COLOURS = ("#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1",
                 "#edc948", "#ff9da7", "#9c755f", "#17becf", "#bcbd22", "#7f7f7f")
_ROLE_COLOURS = {"leader": "#f6c343", "candidate": "#8ecae6", "follower": "#cfe8cf",
                 "primary": "#f6c343", "backup": "#cfe8cf", "proposer": "#f6c343",
                 "acceptor": "#cfe8cf", "alive": "#cfe8cf", "suspect": "#f5c66b",
                 "dead": "#e0a0a0"}
_OTHER_ROLE_COLOURS = ("#d7c4f0", "#c6e2ff", "#ffe0b3", "#e6f5c9", "#f0c8d8", "#d0ece7")
_READS = frozenset({"get", "read"})
_REPLY_SUFFIXES = ("Reply", "Response", "Ack", "Resp")


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _num(v: float) -> str:
    """A relative time for a data attribute: microseconds, no trailing zeros."""
    s = f"{v:.6f}".rstrip("0").rstrip(".")
    return s if s not in ("", "-0") else "0"


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _short(value: Any, limit: int = 24) -> str:
    return _clip(repr(value), limit)


def _nice_step(raw: float) -> float:
    """1, 2 or 5 times a power of ten, at least ``raw``."""
    if raw <= 0 or not math.isfinite(raw):
        return 1.0
    base = 10.0 ** math.floor(math.log10(raw))
    return next(m * base for m in (1, 2, 5, 10) if m * base >= raw * (1 - 1e-9))


def _pack_rows(intervals: Sequence[tuple[float, float]]) -> list[int]:
    """Greedy interval packing: a row for each interval, no two overlapping in a row."""
    ends: list[float] = []
    rows = [0] * len(intervals)
    for i in sorted(range(len(intervals)), key=lambda j: intervals[j][0]):
        start, end = intervals[i]
        row = next((r for r, last in enumerate(ends) if last < start), len(ends))
        if row == len(ends):
            ends.append(end)
        else:
            ends[row] = end
        rows[i] = row
    return rows


def _type_styles(types: Sequence[str]) -> dict[str, tuple[int, bool]]:
    """Message type -> (colour index, is a reply). A reply takes its request's colour."""
    styles: dict[str, tuple[int, bool]] = {}
    requests = [t for t in types
                if not any(t.endswith(s) and t[: -len(s)] in types for s in _REPLY_SUFFIXES)]
    for i, t in enumerate(requests):
        styles[t] = (i % len(_TYPE_COLOURS), False)
    for t in types:
        if t not in styles:
            base = next(t[: -len(s)] for s in _REPLY_SUFFIXES
                        if t.endswith(s) and t[: -len(s)] in styles)
            styles[t] = (styles[base][0], True)
    return styles


def _op_id(op: Operation) -> tuple[Any, ...]:
    return (op.process, op.index, op.f, op.call)


def render_spacetime(events: Iterable[EventRecord], path: str | Path, *,
                     faults: Iterable[Fault] = (),
                     operations: Iterable[Operation] = (),
                     result: CheckResult | None = None,
                     title: str = "",
                     max_arrows: int = 30_000) -> Path:
    """Write a self-contained HTML space-time diagram of the run to ``path``; return it.

    * one lane per node (``class="lane" data-node=...``), time on the x axis, in seconds
      after the first event;
    * every delivery an arrow from the send to the receive (``class="msg"``, with
      ``data-mid``, ``data-type``, ``data-src``, ``data-dst``), coloured by message type
      (a reply dashed, in its request's colour); a lost message is a short stub toward
      its destination ending in a cross (``class="msg lost"``); each duplicate delivery
      is an arrow of its own (``class="msg dup"``); a receive whose send is not in the
      log arrives from a dotted stub (``class="msg orphan"``);
    * roles as coloured bands along the lanes, labelled e.g. "leader t3" (``t`` for the
      term/epoch; ``class="band"``); a node's down time, stop to start, greyed
      (``class="down"``; a restart with no logged stop greys the gap since its last
      event, ``class="down inferred"``);
    * each fault ``(start_t, end_t, label)`` shaded across the lanes and labelled above
      them (``class="fault" data-label=...``);
    * the clients' operations below the lanes, one block per key (``class="op"
      data-key=...``): a bar from call to return, hatched to the right edge if the
      outcome is unknown. With ``result``, a non-linearizable key is coloured as in
      ``protocols.check.timeline``: its longest linearizable prefix green, the operation
      that cannot be placed red, the rest amber.

    Mouse wheel zooms the time axis about the pointer, dragging pans, the buttons zoom
    and reset; the URL fragment ``#zoom=4&t=1.5`` opens zoomed 4x about 1.5 s (the page
    keeps it up to date, so a view can be shared). More than ``max_arrows`` messages
    are cut to the first ``max_arrows`` with a note saying so: filter the events to a
    time window to see the rest.
    """
    evs = _sorted(_checked(events))
    fault_list = [_fault(f) for f in faults]
    ops = list(operations)
    finite = [e["t"] for e in evs]
    finite += [t for fa, fb, _ in fault_list for t in (fa, fb)]
    finite += [t for op in ops for t in (op.call, op.ret) if math.isfinite(t)]
    t0, t1 = (min(finite), max(finite)) if finite else (0.0, 1.0)
    span = max(t1 - t0, 1e-6)

    arrows = _arrows(evs)
    n_arrows_total = len(arrows)
    drawn = arrows[:max_arrows]
    bands, downs = _bands_and_downs(evs, t1)
    nodes = sorted({e["node"] for e in evs} | {a.src for a in arrows} | {a.dst for a in arrows},
                   key=_natural_key)
    types = sorted({a.msg for a in arrows})
    styles = _type_styles(types)
    roles = sorted({b.role for b in bands})
    role_colour = {r: _ROLE_COLOURS.get(r.lower(), _OTHER_ROLE_COLOURS[i % len(
        _OTHER_ROLE_COLOURS)]) for i, r in enumerate(roles)}

    # vertical layout, top to bottom: axis, fault labels, node lanes, operations
    fault_rows = _pack_rows([(fa, fb + span * 0.08) for fa, fb, _ in fault_list])
    y_faults = _AXIS_H
    y_lanes = y_faults + (max(fault_rows) + 1 if fault_rows else 0) * _FAULT_ROW_H + 4
    lane_y = {n: y_lanes + i * _LANE_H + _LANE_H / 2 for i, n in enumerate(nodes)}
    y_lanes_end = y_lanes + len(nodes) * _LANE_H
    keys = sorted({op.key for op in ops}, key=lambda k: _natural_key(str(k)))
    key_rows: dict[Any, list[int]] = {}
    key_y: dict[Any, float] = {}
    y = y_lanes_end + (_OPS_HEAD_H if ops else 0)
    for key in keys:
        mine = [op for op in ops if op.key == key]
        key_rows[key] = _pack_rows([(op.call, op.ret if math.isfinite(op.ret) else math.inf)
                                    for op in mine])
        key_y[key] = y
        y += (max(key_rows[key]) + 1) * _OP_ROW_H + _KEY_GAP
    height = int(y + 10)
    width = _LEFT + _PLOT_W + _RIGHT
    pps = _PLOT_W / span

    def rel(t: float) -> float:
        return t - t0

    def x(t_rel: float) -> float:
        return _LEFT + t_rel * pps

    def span_attrs(s: float, e: float, y0: float, h: float, minw: float = 0.0) -> str:
        """Position a rect from relative time s to e (the page's script redoes x/width)."""
        w = max(minw, x(e) - x(s))
        extra = f' data-minw="{minw:g}"' if minw else ""
        return (f'data-s="{_num(s)}" data-e="{_num(e)}"{extra} x="{x(s):.1f}" y="{y0:.1f}"'
                f' width="{w:.1f}" height="{h:.1f}"')

    def label_attrs(s: float, e: float, y0: float, text: str) -> str:
        room = x(e) - x(s)
        hidden = ' style="display:none"' if room < len(text) * 5.6 + 4 else ""
        return f'data-s="{_num(s)}" data-e="{_num(e)}" x="{x(s) + 2:.1f}" y="{y0:.1f}"{hidden}'

    # -- faults: shaded across lanes and ops, labelled in rows above the lanes
    fault_svg: list[str] = []
    for (fa, fb, label), row in zip(fault_list, fault_rows, strict=True):
        s, e = rel(fa), rel(fb)
        ly = y_faults + row * _FAULT_ROW_H
        tip = _esc(f"{label}\n+{s:.6f} s .. +{e:.6f} s ({fb - fa:.3f} s)")
        fault_svg.append(
            f'<g class="fault" data-label="{_esc(label)}"><title>{tip}</title>'
            f'<rect class="fault-shade" {span_attrs(s, e, y_lanes, height - y_lanes, 1)}/>'
            f'<rect class="fault-head" {span_attrs(s, e, ly + 1, _FAULT_ROW_H - 3, 1)}/>'
            f'<text class="fault-label" data-s="{_num(s)}" data-e="{_num(e)}" data-spill="1"'
            f' x="{x(s) + 2:.1f}" y="{ly + 11:.1f}">{_esc(label)}</text></g>')

    # -- lanes, down time, bands
    lane_svg = [
        f'<g class="lane" data-node="{_esc(n)}"><title>node {_esc(n)}</title>'
        f'<line class="lane-line" x1="{_LEFT}" x2="{_LEFT + _PLOT_W}" y1="{lane_y[n]:.1f}"'
        f' y2="{lane_y[n]:.1f}"/><text class="lane-label" x="6" y="{lane_y[n] + 4:.1f}">'
        f'{_esc(n)}</text></g>' for n in nodes]
    down_svg = []
    for down in downs:
        s, e = rel(down.start), rel(down.end)
        why = "down (restarted, no stop logged)" if down.inferred else "down (stopped)"
        down_cls = "down inferred" if down.inferred else "down"
        down_svg.append(
            f'<rect class="{down_cls}" data-node="{_esc(down.node)}"'
            f' {span_attrs(s, e, lane_y[down.node] - 18, 36)}><title>'
            f'{_esc(f"{down.node} {why}")}&#10;+{s:.6f} s .. +{e:.6f} s</title></rect>')
    for node, s, e, why in _absences(evs, t0, t1):  # before a join, after a leave
        down_svg.append(
            f'<rect class="absent" data-node="{_esc(node)}"'
            f' {span_attrs(s, e, lane_y[node] - 3, 6)}><title>'
            f'{_esc(f"{node} {why}")}&#10;+{s:.6f} s .. +{e:.6f} s</title></rect>')
    band_svg = []
    for band in bands:
        s, e = rel(band.start), rel(band.end)
        text = f"{band.role} t{band.epoch}" if band.epoch is not None else band.role
        more = "".join(f"\n{k}: {v}" for k, v in band.extra.items())
        tip = _esc(f"{band.node}: {band.role}, epoch {band.epoch}{more}\n+{s:.6f} s .. +{e:.6f} s")
        yb = lane_y[band.node] - 15
        band_svg.append(
            f'<rect class="band" data-node="{_esc(band.node)}" data-role="{_esc(band.role)}"'
            f' data-epoch="{_esc(band.epoch)}" fill="{role_colour[band.role]}"'
            f' {span_attrs(s, e, yb, 12)}><title>{tip}</title></rect>'
            f'<text class="band-label" {label_attrs(s, e, yb + 9.5, text)}>{_esc(text)}</text>')

    # -- messages
    msg_svg = []
    for arr in drawn:
        ci, reply = styles[arr.msg]
        cls = f"msg c{ci}" + (" reply" if reply else "")
        ys, yr = lane_y[arr.src], lane_y[arr.dst]
        common = (f'data-mid="{_esc(arr.mid)}" data-type="{_esc(arr.msg)}"'
                  f' data-src="{_esc(arr.src)}" data-dst="{_esc(arr.dst)}"')
        head = f"{arr.msg} {arr.src} → {arr.dst}, mid {arr.mid}"
        if arr.sent is not None and arr.received is not None:
            s, e = rel(arr.sent), rel(arr.received)
            dup = f"\nduplicate delivery #{arr.copy}" if arr.copy > 1 else ""
            tip = (f"{head}\nsent +{s:.6f} s, received +{e:.6f} s "
                   f"({(arr.received - arr.sent) * 1e3:.3f} ms){dup}")
            msg_svg.append(
                f'<line class="{cls}{" dup" if arr.copy > 1 else ""}" {common}'
                f' data-s="{_num(s)}" data-e="{_num(e)}" x1="{x(s):.1f}" y1="{ys:.1f}"'
                f' x2="{x(e):.1f}" y2="{yr:.1f}"><title>{_esc(tip)}</title></line>')
        elif arr.sent is not None:
            s = rel(arr.sent)
            dpath = _stub_out(x(s), ys, yr)
            tip = f"{head}\nsent +{s:.6f} s, never received (lost)"
            msg_svg.append(
                f'<path class="{cls} lost" {common} data-s="{_num(s)}" data-e="{_num(s)}"'
                f' data-y0="{ys:.1f}" data-y1="{yr:.1f}" d="{dpath}"><title>{_esc(tip)}</title>'
                f'</path>')
        else:
            assert arr.received is not None
            e = rel(arr.received)
            dpath = _stub_in(x(e), yr, ys)
            tip = f"{head}\nreceived +{e:.6f} s; its send is not in the log"
            msg_svg.append(
                f'<path class="{cls} orphan" {common} data-s="{_num(e)}" data-e="{_num(e)}"'
                f' data-y0="{ys:.1f}" data-y1="{yr:.1f}" d="{dpath}"><title>{_esc(tip)}</title>'
                f'</path>')

    # -- client operations
    bad_keys = {kr.key: kr for kr in (result.keys.values() if result else ())
                if kr.verdict == "violation"}
    op_svg = []
    key_svg = []  # outside the clipped plot: the left margin
    if ops:
        key_svg.append(f'<text class="ops-head" x="6" y="{y_lanes_end + 15:.1f}">client '
                      f'operations, by key</text>')
    for key in keys:
        mine = [op for op in ops if op.key == key]
        kr = bad_keys.get(key)
        prefix = {_op_id(op) for op in kr.prefix} if kr else set()
        culprit = _op_id(kr.culprit) if kr and kr.culprit else None
        verdict = result.keys[key].verdict if result and key in result.keys else ""
        rows = key_rows[key]
        ky = key_y[key]
        key_tip = f"key {key!r}" + (f": {verdict}" if verdict else "")
        key_svg.append(
            f'<text class="key-label{" bad" if kr else ""}" data-key="{_esc(key)}" x="6"'
            f' y="{ky + 12:.1f}"><title>{_esc(key_tip)}</title>{_esc(_clip(str(key), 14))}</text>')
        for op, row in zip(mine, rows, strict=True):
            if kr is not None:
                cls = ("culprit" if _op_id(op) == culprit
                       else "prefix" if _op_id(op) in prefix else "pending")
            else:
                cls = "read" if op.f.lower() in _READS else "write"
            unknown = not math.isfinite(op.ret)
            s = rel(op.call)
            e = span if unknown else rel(op.ret)
            out = "unknown" if unknown or op.status != "ok" else repr(op.output)
            tip = (f"p{op.process} {op.f}({op.key!r}, {op.input!r}) -> {out}\n"
                   f"+{s:.6f} s .. {'?' if unknown else f'+{e:.6f} s'}")
            if cls == "culprit":
                tip += "\ncannot be linearized"
            text = f"{op.f} {_short(op.input, 12)}"
            if not unknown and op.status == "ok" and op.output is not None:
                text += f"→{_short(op.output, 12)}"
            oy = ky + row * _OP_ROW_H + 1
            op_svg.append(
                f'<rect class="op {cls}{" unknown" if unknown else ""}" data-key="{_esc(key)}"'
                f' data-process="{op.process}" data-status="{_esc(op.status)}"'
                f' {span_attrs(s, e, oy, _OP_ROW_H - 3, 2)}><title>{_esc(tip)}</title></rect>'
                f'<text class="op-label" {label_attrs(s, e, oy + 10, text)}>{_esc(text)}</text>')

    # -- header: summary, legend, controls
    lost = sum(1 for a in arrows if a.received is None)
    dups = sum(1 for a in arrows if a.copy > 1)
    n_sends = sum(1 for e in evs if e["kind"] == "send")
    n_states = sum(1 for e in evs if e["kind"] == "state")
    summary = (f"{len(nodes)} nodes, {n_sends} messages sent ({lost} lost, {dups} duplicate "
               f"deliveries), {n_states} state changes, {len(fault_list)} faults, "
               f"{len(ops)} client operations on {len(keys)} keys; {span:.3f} s from "
               f"t0 = {t0:.6f}")
    note = ""
    if n_arrows_total > len(drawn):
        note = (f'<p class="note">Only the first {len(drawn)} of {n_arrows_total} messages '
                f'are drawn, to keep the page responsive: filter the events to a time window '
                f'to see the rest.</p>')
    legend = []
    for t in types:
        ci, reply = styles[t]
        count = sum(1 for a in arrows if a.msg == t)
        dash = ' stroke-dasharray="4 2"' if reply else ""
        legend.append(f'<span class="key" data-type="{_esc(t)}"><svg width="26" height="10">'
                      f'<line x1="1" y1="5" x2="25" y2="5" stroke="{_TYPE_COLOURS[ci]}"'
                      f' stroke-width="2"{dash}/></svg>{_esc(t)} ({count})</span>')
    for r in roles:
        legend.append(f'<span class="key"><i style="background:{role_colour[r]}"></i>'
                      f'{_esc(r)}</span>')
    legend.append('<span class="key"><i style="background:#bbb"></i>down</span>')
    if fault_list:
        legend.append('<span class="key"><i style="background:#ffd6d6"></i>fault</span>')
    legend.append('<span class="key"><svg width="16" height="10"><path d="M3 1 L13 9 M3 9 L13 1"'
                  ' stroke="#333" stroke-width="1.5"/></svg>lost</span>')
    if ops:
        legend.append('<span class="key"><i style="background:#b8d4ee"></i>read</span>'
                      '<span class="key"><i style="background:#e3cfa5"></i>write</span>'
                      '<span class="key"><i class="hatch"></i>unknown outcome</span>')
    if bad_keys:
        legend.append('<span class="key"><i style="background:#8fd18f"></i>linearizable '
                      'prefix</span><span class="key"><i style="background:#e5484d"></i>cannot '
                      'be placed</span><span class="key"><i style="background:#f5c66b"></i>'
                      'rest of that key</span>')
    result_html = f"<pre>{_esc(result.summary())}</pre>" if result is not None else ""

    markers = "".join(
        f'<marker id="ah{i}" viewBox="0 0 8 8" refX="7.5" refY="4" markerWidth="7"'
        f' markerHeight="7" orient="auto"><path d="M0,0.5 L8,4 L0,7.5 z" fill="{c}"/></marker>'
        for i, c in enumerate(_TYPE_COLOURS))
    type_css = "\n".join(f".msg.c{i} {{ stroke: {c}; marker-end: url(#ah{i}); }}"
                         for i, c in enumerate(_TYPE_COLOURS))
    axis_svg = _axis(0.0, span, pps, 0.0, y_lanes, height)
    heading = _esc(title or "Space-time diagram")
    max_zoom = max(1.0, span / (_MAX_ZOOM_RESOLUTION_S * _PLOT_W))

    doc = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{heading}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 16px; color: #222; }}
h2 {{ margin: 0 0 6px 0; }}
p {{ margin: 4px 0; }}
pre {{ background: #f6f6f6; padding: 8px; white-space: pre-wrap; }}
.note {{ color: #a33; }}
.legend {{ display: flex; flex-wrap: wrap; gap: 4px 14px; font-size: 12px; margin: 6px 0; }}
.legend .key {{ display: inline-flex; align-items: center; gap: 4px; }}
.legend i {{ display: inline-block; width: 14px; height: 10px; border: 1px solid #999; }}
.legend i.hatch {{ background: repeating-linear-gradient(45deg, #fff 0 2px, #888 2px 3px); }}
.controls {{ margin: 6px 0; font-size: 12px; }}
.controls button {{ font-size: 12px; }}
svg.spacetime {{ display: block; user-select: none; cursor: grab; }}
svg.spacetime.dragging {{ cursor: grabbing; }}
.axis line {{ stroke: #eee; }}
.axis text {{ font-size: 10px; fill: #666; }}
.lane-line {{ stroke: #333; stroke-width: 1; }}
.lane-label {{ font-size: 13px; font-weight: 600; fill: #222; }}
.fault-shade {{ fill: #ffd6d6; opacity: 0.45; }}
.fault-head {{ fill: #ffb3b3; }}
.fault-label {{ font-size: 10px; fill: #700; }}
.down {{ fill: #9a9a9a; opacity: 0.55; }}
.absent {{ fill: #fff; }}
.down.inferred {{ opacity: 0.3; }}
.band {{ opacity: 0.9; }}
.band-label {{ font-size: 9px; fill: #333; pointer-events: none; }}
.msg {{ fill: none; stroke-width: 1.1; }}
.msg:hover {{ stroke-width: 3; }}
.msg.reply {{ stroke-dasharray: 4 2; }}
.msg.lost {{ marker-end: none; stroke-width: 1.5; }}
.msg.orphan {{ stroke-dasharray: 1 2; }}
{type_css}
.ops-head {{ font-size: 12px; font-style: italic; fill: #444; }}
.key-label {{ font-size: 12px; fill: #222; }}
.key-label.bad {{ fill: #c00; font-weight: 600; }}
rect.op {{ stroke: #888; stroke-width: 0.5; }}
rect.op.read {{ fill: #b8d4ee; }}
rect.op.write {{ fill: #e3cfa5; }}
rect.op.prefix {{ fill: #8fd18f; }}
rect.op.pending {{ fill: #f5c66b; }}
rect.op.culprit {{ fill: #e5484d; stroke: #900; stroke-width: 1.5; }}
rect.op.unknown {{ fill: url(#hatch); }}
.op-label {{ font-size: 9px; fill: #000; pointer-events: none; }}
</style></head><body>
<h2>{heading}</h2>
<p class="summary">{_esc(summary)}</p>
{note}{result_html}
<div class="legend">{"".join(legend)}</div>
<div class="controls"><button type="button" id="zoom-in">zoom in</button>
<button type="button" id="zoom-out">zoom out</button>
<button type="button" id="reset">reset</button>
<span id="view-text"></span> &nbsp; mouse wheel: zoom about the pointer; drag: pan; hover
anything for details.</div>
<svg id="st" class="spacetime" xmlns="http://www.w3.org/2000/svg" width="{width}"
 height="{height}" data-left="{_LEFT}" data-right="{_RIGHT}" data-plotw="{_PLOT_W}"
 data-span="{_num(span)}" data-t0="{t0!r}" data-maxzoom="{max_zoom:.6g}" data-zoom="1"
 data-view="0,{_num(span)}" data-lanes-top="{y_lanes}">
<defs>{markers}
<pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse"
 patternTransform="rotate(45)"><rect width="6" height="6" fill="#fff"/>
<line x1="0" y1="0" x2="0" y2="6" stroke="#888" stroke-width="2"/></pattern>
<clipPath id="plot-clip"><rect id="plot-clip-rect" x="{_LEFT}" y="0" width="{_PLOT_W}"
 height="{height}"/></clipPath></defs>
<g class="axis">{axis_svg}</g>
<g class="lanes">{"".join(lane_svg)}</g>
<g clip-path="url(#plot-clip)">
<g class="faults">{"".join(fault_svg)}</g>
<g class="downs">{"".join(down_svg)}</g>
<g class="bands">{"".join(band_svg)}</g>
<g class="msgs">
{chr(10).join(msg_svg)}
</g>
<g class="ops">{"".join(op_svg)}</g>
</g>
<g class="keys">{"".join(key_svg)}</g>
</svg>
<script>
{_script()}</script>
</body></html>
"""
    target = Path(path)
    target.write_text(doc, encoding="utf-8")
    return target


def _stub_out(x0: float, y0: float, y_peer: float) -> str:
    """A lost message: a short stroke from the send toward the peer's lane, then a cross."""
    xe = x0 + _STUB_PX
    ye = y0 + max(-_STUB_PX, min(_STUB_PX, y_peer - y0))
    return (f"M{x0:.1f} {y0:.1f}L{xe:.1f} {ye:.1f}M{xe - 3.5:.1f} {ye - 3.5:.1f}"
            f"L{xe + 3.5:.1f} {ye + 3.5:.1f}M{xe - 3.5:.1f} {ye + 3.5:.1f}"
            f"L{xe + 3.5:.1f} {ye - 3.5:.1f}")


def _stub_in(x1: float, y1: float, y_peer: float) -> str:
    """A receive whose send is missing: a short stroke from the peer's side."""
    xs = x1 - _STUB_PX
    ys = y1 + max(-_STUB_PX, min(_STUB_PX, y_peer - y1))
    return f"M{xs:.1f} {ys:.1f}L{x1:.1f} {y1:.1f}"


def _axis(view0: float, view1: float, pps: float, pan: float, top: float, bottom: float
          ) -> str:
    """Tick labels and grid lines for relative times view0..view1 (the script redraws)."""
    step = _nice_step((view1 - view0) / max(2.0, _PLOT_W / 110))
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    parts = []
    for i in range(math.ceil(view0 / step - 1e-9), math.floor(view1 / step + 1e-9) + 1):
        t = i * step
        xt = _LEFT + t * pps + pan
        parts.append(f'<line x1="{xt:.1f}" x2="{xt:.1f}" y1="{top - 4:.1f}" y2="{bottom}"/>'
                     f'<text x="{xt:.1f}" y="14" text-anchor="middle">{t:.{decimals}f} s</text>')
    return "".join(parts)


def _script() -> str:
    """The page's script (zoom and pan), kept as JavaScript in ``spacetime.js`` beside
    this module, a package data file, so it reads and lints as what it is."""
    return resources.files("protocols.check").joinpath("spacetime.js").read_text(
        encoding="utf-8")
