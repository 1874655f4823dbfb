"""Space-time diagrams and ShiViz logs from event logs (protocols.check.spacetime).

The run is synthetic but shaped like Raft's: five nodes, an election, heartbeats with
replies, a partition during which cross messages are lost and a minority elects its own
leader, a kill -9 and restart, a duplicated delivery, and client operations on two keys,
one of which is not linearizable. A small discrete-event loop writes the events with
real vector clocks (the sender ticks before sending; the receiver merges, then ticks).
"""

from __future__ import annotations

import heapq
import itertools
import json
import math
import random
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from protocols.check.history import Operation
from protocols.check.linearizability import CheckResult, check_operations
from protocols.check.spacetime import (
    SHIVIZ_REGEX,
    load_events,
    render_spacetime,
    shiviz_log,
    write_shiviz,
)

T0 = 1733030000.0
NODES = ("n1", "n2", "n3", "n4", "n5")
PARTITION = (T0 + 1.0, T0 + 1.5)
KILL = (T0 + 2.0, T0 + 2.4)
DUPLICATED_MID = "n1:40"  # an AppendEntries delivered twice
LOST_MID = "n1:30"  # an AppendEntries dropped outside any fault


@dataclass
class SyntheticRun:
    events: list[dict[str, Any]]
    faults: list[tuple[float, float, str]]
    operations: list[Operation]
    result: CheckResult
    sends: dict[str, dict[str, Any]] = field(default_factory=dict)
    recvs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)


def synthetic_run(seed: int = 7, rounds_until: float = 3.0) -> SyntheticRun:
    """A deterministic Raft-like run (about 400 messages for the default 3 s)."""
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    clocks: dict[str, dict[str, int]] = {n: {} for n in NODES}
    counters: Counter[str] = Counter()
    queue: list[tuple[float, int, str, dict[str, Any]]] = []
    seq = 0

    def at(t: float, what: str, **kw: Any) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(queue, (t, seq, what, kw))

    def down(node: str, t: float) -> bool:
        return node == "n5" and KILL[0] <= t < KILL[1]

    def side(node: str) -> int:
        return 0 if node in ("n1", "n2") else 1

    def cut(a: str, b: str, t: float) -> bool:
        return PARTITION[0] <= t < PARTITION[1] and side(a) != side(b)

    def log(t: float, node: str, kind: str, **kw: Any) -> dict[str, Any]:
        e = {"t": round(t, 6), "node": node, "kind": kind, **kw}
        events.append(e)
        return e

    def do_send(t: float, src: str, dst: str, msg: str) -> None:
        if down(src, t):
            return
        counters[src] += 1
        mid = f"{src}:{counters[src]}"
        clocks[src][src] = clocks[src].get(src, 0) + 1
        log(t, src, "send", peer=dst, msg=msg, mid=mid, vc=dict(clocks[src]))
        latency = rng.uniform(0.001, 0.008)
        if cut(src, dst, t) or mid == LOST_MID:
            return
        at(t + latency, "recv", src=src, dst=dst, msg=msg, mid=mid, vc=dict(clocks[src]))
        if mid == DUPLICATED_MID:
            at(t + latency + 0.004, "recv", src=src, dst=dst, msg=msg, mid=mid,
               vc=dict(clocks[src]))

    term = {n: 1 for n in NODES}

    def do_recv(t: float, src: str, dst: str, msg: str, mid: str, vc: dict[str, int]) -> None:
        if down(dst, t):
            return
        clock = clocks[dst]
        for h, c in vc.items():
            clock[h] = max(clock.get(h, 0), c)
        clock[dst] = clock.get(dst, 0) + 1
        log(t, dst, "recv", peer=src, msg=msg, mid=mid, vc=dict(clock))
        if msg in ("AppendEntries", "RequestVote"):
            at(t + 0.0005, "send", src=dst, dst=src, msg=msg + "Reply")

    def state(t: float, node: str, role: str, epoch: int) -> None:
        term[node] = epoch
        log(t, node, "state", role=role, epoch=epoch)

    for n in NODES:
        log(T0, n, "start")
        state(T0 + 0.001, n, "follower", 1)
    # n1 wins term 2; during the partition n3 wins term 3 with n4 and n5; n1 steps down
    # when it hears of term 3 after the heal
    at(T0 + 0.15, "elect", node="n1", epoch=2, voters=["n2", "n3", "n4", "n5"])
    at(T0 + 1.25, "elect", node="n3", epoch=3, voters=["n1", "n2", "n4", "n5"])
    at(KILL[0], "stop", node="n5")
    at(KILL[1], "start", node="n5")
    leader_of = [(T0 + 0.2, T0 + 1.3, "n1"), (T0 + 1.3, T0 + rounds_until, "n3")]
    t = T0 + 0.2
    while t < T0 + rounds_until:
        leader = next(n for a, b, n in leader_of if a <= t < b)
        for peer in NODES:
            if peer != leader:
                at(t, "send", src=leader, dst=peer, msg="AppendEntries")
        t += 0.05
    while queue:
        t, _, what, kw = heapq.heappop(queue)
        if what == "send":
            do_send(t, kw["src"], kw["dst"], kw["msg"])
        elif what == "recv":
            do_recv(t, **kw)
        elif what == "elect":
            state(t, kw["node"], "candidate", kw["epoch"])
            for v in kw["voters"]:
                do_send(t + 0.0001, kw["node"], v, "RequestVote")
            state(t + 0.02, kw["node"], "leader", kw["epoch"])
            if kw["node"] == "n3":
                for v in ("n4", "n5"):
                    state(t + 0.005, v, "follower", 3)
                at(PARTITION[1] + 0.01, "state", node="n1", role="follower", epoch=3)
                at(PARTITION[1] + 0.01, "state", node="n2", role="follower", epoch=3)
        elif what == "state":
            state(t, kw["node"], kw["role"], kw["epoch"])
        elif what == "stop":
            log(t, kw["node"], "stop")
        elif what == "start":
            log(t, kw["node"], "start")
            state(t + 0.001, kw["node"], "follower", 3)

    faults = [(PARTITION[0], PARTITION[1], "partition [n1,n2] | [n3,n4,n5]"),
              (KILL[0], KILL[1], "kill -9 n5")]

    def op(p: int, f: str, key: str, inp: Any, out: Any, call: float, ret: float,
           status: str = "ok") -> Operation:
        return Operation(p, f, key, inp, out, T0 + call,
                         T0 + ret if math.isfinite(ret) else math.inf,
                         status, index=p * 100 + int(call * 10))  # type: ignore[arg-type]

    operations = [
        op(0, "put", "x", 1, None, 0.30, 0.36),
        op(1, "get", "x", None, 1, 0.50, 0.53),
        op(2, "put", "x", 2, None, 1.10, math.inf, "info"),  # lost in the partition
        op(0, "put", "y", 5, None, 0.40, 0.45),
        op(1, "put", "y", 6, None, 1.60, 1.66),
        op(2, "get", "y", None, 5, 1.80, 1.84),  # stale: 6 was acknowledged before
        op(0, "get", "x", None, 1, 2.10, 2.15),
    ]
    result = check_operations(operations)
    run = SyntheticRun(events, faults, operations, result)
    for e in events:
        if e["kind"] == "send":
            run.sends[e["mid"]] = e
        elif e["kind"] == "recv":
            run.recvs.setdefault(e["mid"], []).append(e)
    return run


def write_per_node(events: list[dict[str, Any]], directory: Path, shuffle: int = 3) -> None:
    """One file per node, like real nodes write; shuffled across files by construction."""
    by_node: dict[str, list[str]] = defaultdict(list)
    for e in events:
        by_node[e["node"]].append(json.dumps(e))
    for i, (node, lines) in enumerate(sorted(by_node.items())):
        text = "\n".join(lines) + "\n"
        if i % shuffle == 0:
            text = "\n" + text.replace("\n", "\n\n", 2)  # blank lines are allowed
        (directory / f"events-{node}.jsonl").write_text(text, encoding="utf-8")


@pytest.fixture(scope="module")
def run() -> SyntheticRun:
    return synthetic_run()


# --------------------------------------------------------------------------- the fixture


def test_the_synthetic_run_has_what_the_tests_rely_on(run: SyntheticRun) -> None:
    n_msgs = len(run.sends)
    assert 300 <= n_msgs <= 600
    lost = [m for m in run.sends if m not in run.recvs]
    assert LOST_MID in lost and len(lost) > 5  # and the partition's
    assert len(run.recvs[DUPLICATED_MID]) == 2
    assert run.result.verdict == "violation" and run.result.violation is not None
    assert run.result.violation.key == "y"


# --------------------------------------------------------------------------- loading


def test_load_events_reads_a_directory_of_per_node_files_sorted(run: SyntheticRun,
                                                                 tmp_path: Path) -> None:
    write_per_node(run.events, tmp_path)
    (tmp_path / "notes.jsonl").write_text("not an event log\n")  # not events*.jsonl
    loaded = load_events([tmp_path])
    assert len(loaded) == len(run.events)
    assert [e["t"] for e in loaded] == sorted(e["t"] for e in run.events)
    key = lambda e: json.dumps(e, sort_keys=True)  # noqa: E731
    assert sorted(map(key, loaded)) == sorted(map(key, run.events))


def test_load_events_takes_files_and_a_single_path(run: SyntheticRun, tmp_path: Path) -> None:
    write_per_node(run.events, tmp_path)
    files = sorted(tmp_path.glob("events-*.jsonl"))
    assert len(load_events(files)) == len(run.events)
    assert len(load_events(str(files[0]))) == sum(1 for e in run.events if e["node"] == "n1")


@pytest.mark.parametrize(("line", "problem"), [
    ('{"t": 1.0, "node": "n1", "kind": "send"', "not JSON"),
    ('[1, 2]', "not a JSON object"),
    ('{"node": "n1", "kind": "start"}', "'t' must be a finite number"),
    ('{"t": "soon", "node": "n1", "kind": "start"}', "'t' must be a finite number"),
    ('{"t": 1.0, "kind": "start"}', "'node' must be a non-empty string"),
    ('{"t": 1.0, "node": "n1", "kind": "send", "mid": "n1:1"}', "a send needs a string 'peer'"),
    ('{"t": 1.0, "node": "n1", "kind": "recv", "peer": "n2"}', "a recv needs a 'mid'"),
    # issue #31: each of these raised RecursionError, OverflowError or a ValueError that
    # named neither file nor line
    ("[" * 100_000 + "]" * 100_000, "nested 100000 deep (at most 16)"),
    ('{"t": 1, "node": "n1", "kind": "state", "x": ' + "[" * 5000 + "]" * 5000 + "}",
     "nested 5001 deep"),
    ('{"t": 1e308, "node": "n1", "kind": "start"}', "'t' must be within 1e+11 s of 0"),
    ('{"t": -1e308, "node": "n1", "kind": "start"}', "'t' must be within 1e+11 s of 0"),
    ('{"t": 1' + "0" * 400 + ', "node": "n1", "kind": "start"}', "'t' must be within"),
    ('{"t": ' + "7" * 5000 + ', "node": "n1", "kind": "start"}', "not JSON (Exceeds the limit"),
    ('{"t": 1, "node": "' + "n" * 2_000_000 + '", "kind": "start"}',
     "a line of 2000037 characters (at most 1048576)"),
    ('{"t": 1, "node": "' + "n" * 300 + '", "kind": "start"}', "'node' is longer than 256"),
    ('{"t": 1, "node": "n1", "kind": "send", "peer": "n2", "mid": ' + "9" * 30 + "}",
     "'mid' is longer than 256 characters (or 64 bits)"),
])
def test_a_malformed_line_names_file_and_line(tmp_path: Path, line: str, problem: str) -> None:
    f = tmp_path / "events-n1.jsonl"
    f.write_text('{"t": 0.5, "node": "n1", "kind": "start"}\n\n' + line + "\n"
                 '{"t": 2.0, "node": "n1", "kind": "stop"}\n')
    with pytest.raises(ValueError, match=re.escape(f"{f}:3: {problem}")):
        load_events([f])


def test_the_events_of_a_call_are_bounded(tmp_path: Path) -> None:
    f = tmp_path / "events-n1.jsonl"
    f.write_text("".join(f'{{"t": {i}, "node": "n1", "kind": "start"}}\n' for i in range(5)))
    assert len(load_events([f], max_events=5)) == 5
    with pytest.raises(ValueError, match=re.escape(f"{f}:5: more than 4 events")):
        load_events([f], max_events=4)


@pytest.mark.parametrize(("event", "fault", "problem"), [
    ({"t": math.inf, "node": "n1", "kind": "start"}, None, "event #1: 't' must be a finite"),
    ({"t": 10**400, "node": "n1", "kind": "start"}, None, "event #1: 't' must be within"),
    ({"t": 1.0, "node": "n1", "kind": "send", "peer": "n2"}, None, "event #1: a send needs"),
    (None, (0.0, math.inf, "partition"), "fault 'partition': (0.0, inf) must be times"),
    (None, (2.0, 1.0, "heal"), "fault 'heal': (2.0, 1.0) must be times within"),
])
def test_the_renderer_refuses_events_and_faults_the_loader_would(
        tmp_path: Path, event: dict[str, Any] | None, fault: tuple[float, float, str] | None,
        problem: str) -> None:
    """Events may come from the simulator or a caller, not only from files."""
    events = [{"t": 0.5, "node": "n1", "kind": "start"}, *([event] if event else [])]
    with pytest.raises(ValueError, match=re.escape(problem)):
        render_spacetime(events, tmp_path / "x.html", faults=[fault] if fault else [])
    assert not (tmp_path / "x.html").exists()


class _CountedTime(float):
    """A time that counts how often it is compared: the renderer's work, exactly."""

    comparisons = 0

    def __lt__(self, other: object) -> bool:
        _CountedTime.comparisons += 1
        return float(self) < float(other)  # type: ignore[arg-type]

    def __le__(self, other: object) -> bool:
        _CountedTime.comparisons += 1
        return float(self) <= float(other)  # type: ignore[arg-type]

    __gt__ = lambda self, other: _CountedTime.__lt__(other, self)  # type: ignore  # noqa: E731
    __ge__ = lambda self, other: _CountedTime.__le__(other, self)  # type: ignore  # noqa: E731


def test_a_message_id_reused_thousands_of_times_is_paired_without_quadratic_work(
        tmp_path: Path) -> None:
    """Issue #31: pairing a receive scanned every send of its mid, so a mid reused 8 000
    times cost 64 million comparisons. Each receive pairs with the latest send before it
    (a binary search), and the pairing is still exact."""
    n = 8000
    sends = [{"t": _CountedTime(2 * i), "node": "n1", "kind": "send", "peer": "n2",
              "mid": "again"} for i in range(n)]
    recvs = [{"t": _CountedTime(2 * i + 1), "node": "n2", "kind": "recv", "peer": "n1",
              "mid": "again"} for i in range(n)]
    _CountedTime.comparisons = 0
    doc = parse_html(render_spacetime(sends + recvs, tmp_path / "r.html", max_arrows=n))
    assert _CountedTime.comparisons < 40 * n, _CountedTime.comparisons  # n log n, not n²
    lines = [a for tag, a in doc.tags if tag == "line" and "msg" in a.get("class", "")]
    assert len(lines) == n and not any("dup" in a["class"] for a in lines)
    assert all(float(a["data-e"]) - float(a["data-s"]) == 1 for a in lines)


def test_a_torn_last_line_is_skipped_with_a_warning(tmp_path: Path) -> None:
    f = tmp_path / "events-n1.jsonl"
    f.write_text('{"t": 0.5, "node": "n1", "kind": "start"}\n{"t": 0.7, "node": "n1", "ki')
    with pytest.warns(UserWarning, match=r"events-n1.jsonl:2: skipped a torn last line"):
        assert load_events([f]) == [{"t": 0.5, "node": "n1", "kind": "start"}]


def test_a_directory_without_event_logs_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="no events"):
        load_events([tmp_path])


# --------------------------------------------------------------------------- ShiViz


def parse_shiviz(text: str) -> list[tuple[str, dict[str, int], str]]:
    """What ShiViz's parser extracts, with Python's re and the same pattern."""
    pattern = re.compile(SHIVIZ_REGEX.replace("(?<", "(?P<"), re.M)
    return [(m["host"], json.loads(m["clock"]), m["event"]) for m in pattern.finditer(text)]


def test_the_regex_keeps_to_what_javascript_and_python_share() -> None:
    # ShiViz's NamedRegExp finds (?<name>...) groups and rewrites every other "(" into
    # "(?:": so no lookbehind, no escaped parentheses, no Python-only syntax
    assert re.findall(r"\(\?<(\w+)>", SHIVIZ_REGEX) == ["event", "host", "clock"]
    assert SHIVIZ_REGEX.count("(") == 3 and "\\(" not in SHIVIZ_REGEX
    assert "(?P" not in SHIVIZ_REGEX and "(?<=" not in SHIVIZ_REGEX


def test_shiviz_log_parses_and_its_clocks_satisfy_shiviz(run: SyntheticRun) -> None:
    parsed = parse_shiviz(shiviz_log(run.events))
    kinds = Counter(e["kind"] for e in run.events)
    assert len(parsed) == sum(kinds.values())  # send, recv, state, start, stop
    assert len(parsed) * 2 == len(shiviz_log(run.events).splitlines())
    own: dict[str, int] = defaultdict(int)
    sent: dict[str, dict[str, int]] = {}
    for host, clock, text in parsed:
        # each host's own entries count 1, 2, 3, ... (ShiViz rejects anything else)
        own[host] += 1
        assert clock[host] == own[host], (host, clock, text)
        assert all(isinstance(v, int) and v >= 1 for v in clock.values())
        assert set(clock) <= set(NODES)
        m = re.search(r"\(mid (\S+)\)", text)
        if text.startswith("send"):
            assert m is not None
            sent[m[1]] = clock
        elif text.startswith("recv"):
            assert m is not None and m[1] in sent  # written after its send
            assert all(clock.get(h, 0) >= c for h, c in sent[m[1]].items())
    # every entry names an event that exists
    for _, clock, _ in parsed:
        assert all(c <= own[h] for h, c in clock.items())
    assert sum(1 for _, _, text in parsed if text.startswith("state leader")) == 2


def test_shiviz_clocks_are_recomputed_even_if_the_logged_ones_skip(run: SyntheticRun) -> None:
    # a node whose logged vc counts unlogged events, and a receive logged (by wall
    # clock) before its send: ShiViz still gets consecutive, causal clocks
    events = [dict(e) for e in run.events[:60]]
    for e in events:
        if "vc" in e:
            e["vc"] = {k: v * 10 for k, v in e["vc"].items()}
    send = next(e for e in events if e["kind"] == "send" and e["mid"] in run.recvs)
    recv = next(e for e in events if e["kind"] == "recv" and e["mid"] == send["mid"])
    recv["t"] = send["t"] - 0.5
    parsed = parse_shiviz(shiviz_log(events))
    about = [text.split()[0] for _, _, text in parsed if f"(mid {send['mid']})" in text]
    assert about == ["send", "recv"]  # the send first, though logged later
    (recv_clock,) = [c for h, c, text in parsed
                     if h == recv["node"] and f"recv {send['msg']}" in text
                     and f"(mid {send['mid']})" in text]
    assert recv_clock[send["node"]] >= 1  # it merged the sender's clock
    own: dict[str, int] = defaultdict(int)
    for host, clock, _ in parsed:
        own[host] += 1
        assert clock[host] == own[host]


def test_write_shiviz_writes_the_upload_header_and_the_regex_beside(run: SyntheticRun,
                                                                    tmp_path: Path) -> None:
    path = write_shiviz(run.events, tmp_path / "run.log")
    text = path.read_text()
    first, second, rest = text.split("\n", 2)
    # ShiViz's upload takes line 1 as the regex (adding ^...$) and line 2 as delimiter
    assert "^" + first + "$" == SHIVIZ_REGEX and second == ""
    assert rest == shiviz_log(run.events)
    assert (tmp_path / "run.shiviz-regex.txt").read_text().strip() == SHIVIZ_REGEX
    # pasted whole, the two header lines match nothing
    assert len(parse_shiviz(text)) == len(parse_shiviz(rest))


def test_shiviz_descriptions_stay_on_one_line() -> None:
    events = [
        {"t": 1.0, "node": "node one", "kind": "send", "peer": "n2", "msg": "A\nB{x}",
         "mid": 1},
        {"t": 1.1, "node": "n2", "kind": "recv", "peer": "node one", "msg": "A\u2028B",
         "mid": 1},
        {"t": 1.2, "node": "n2", "kind": "state", "role": "leader", "epoch": 1,
         "note": "line\nbreak"},
    ]
    parsed = parse_shiviz(shiviz_log(events))
    assert [(h, c) for h, c, _ in parsed] == [("node_one", {"node_one": 1}),
                                              ("n2", {"n2": 1, "node_one": 1}),
                                              ("n2", {"n2": 2, "node_one": 1})]
    assert all("\u2028" not in text and "{" not in text for _, _, text in parsed)


# --------------------------------------------------------------------------- the HTML


class Elements(HTMLParser):
    """Every start tag with its attributes, and the text of each element (shallow)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: dict[int, str] = defaultdict(str)
        self._stack: list[int] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        if tag not in ("br", "meta", "i"):
            self._stack.append(len(self.tags) - 1)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        while self._stack and self.tags[self._stack[-1]][0] != tag:
            self._stack.pop()
        if self._stack:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if self._stack:
            self.text[self._stack[-1]] += data

    def with_class(self, cls: str) -> list[tuple[int, dict[str, str]]]:
        return [(i, a) for i, (_, a) in enumerate(self.tags)
                if cls in a.get("class", "").split()]


def parse_html(path: Path) -> Elements:
    p = Elements()
    p.feed(path.read_text(encoding="utf-8"))
    return p


@pytest.fixture(scope="module")
def page(run: SyntheticRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return render_spacetime(run.events, tmp_path_factory.mktemp("st") / "run.html",
                            faults=run.faults, operations=run.operations, result=run.result,
                            title="synthetic run")


def test_one_lane_per_node(page: Path) -> None:
    doc = parse_html(page)
    lanes = [a["data-node"] for _, a in doc.with_class("lane")]
    assert lanes == list(NODES)


def test_every_send_recv_pair_is_one_arrow(run: SyntheticRun, page: Path) -> None:
    doc = parse_html(page)
    msgs = [a for _, a in doc.with_class("msg")]
    delivered = [a for a in msgs if "lost" not in a["class"].split()]
    pairs = Counter((a["data-mid"], a["data-src"], a["data-dst"]) for a in delivered)
    expected = Counter((mid, run.sends[mid]["node"], r["node"])
                       for mid, rs in run.recvs.items() for r in rs)
    assert pairs == expected
    for a in delivered:
        assert a["data-type"] == run.sends[a["data-mid"]]["msg"]
        assert float(a["data-e"]) >= float(a["data-s"])
    lost = {a["data-mid"] for a in msgs if "lost" in a["class"].split()}
    assert lost == set(run.sends) - set(run.recvs)
    assert LOST_MID in lost
    dups = [a for a in msgs if "dup" in a["class"].split()]
    assert [a["data-mid"] for a in dups] == [DUPLICATED_MID]
    assert not doc.with_class("orphan")


def test_replies_are_dashed_in_their_requests_colour(page: Path) -> None:
    doc = parse_html(page)
    colour: dict[str, str] = {}
    for _, a in doc.with_class("msg"):
        classes = a["class"].split()
        colour.setdefault(a["data-type"], next(c for c in classes if re.fullmatch(r"c\d+", c)))
        assert ("reply" in classes) == a["data-type"].endswith("Reply")
    assert colour["AppendEntriesReply"] == colour["AppendEntries"]
    assert colour["RequestVoteReply"] == colour["RequestVote"]
    assert colour["AppendEntries"] != colour["RequestVote"]
    legend = {a["data-type"] for tag, a in doc.tags if a.get("class") == "key"
              and "data-type" in a}
    assert legend == {"AppendEntries", "AppendEntriesReply", "RequestVote", "RequestVoteReply"}


def test_bands_show_roles_and_epochs(run: SyntheticRun, page: Path) -> None:
    doc = parse_html(page)
    bands = [a for _, a in doc.with_class("band")]
    assert len(bands) == sum(1 for e in run.events if e["kind"] == "state")
    labels = [doc.text[i] for i, _ in doc.with_class("band-label")]
    assert "leader t2" in labels and "leader t3" in labels and "candidate t3" in labels
    n1 = [(a["data-role"], a["data-epoch"]) for a in bands if a["data-node"] == "n1"]
    assert n1 == [("follower", "1"), ("candidate", "2"), ("leader", "2"), ("follower", "3")]
    # a band ends where the next begins
    n1_spans = [(float(a["data-s"]), float(a["data-e"])) for a in bands
                if a["data-node"] == "n1"]
    assert all(a[1] == pytest.approx(b[0]) for a, b in itertools.pairwise(n1_spans))


def test_down_time_faults_and_operations(run: SyntheticRun, page: Path) -> None:
    doc = parse_html(page)
    downs = [a for _, a in doc.with_class("down")]
    assert [a["data-node"] for a in downs] == ["n5"]
    assert float(downs[0]["data-s"]) == pytest.approx(KILL[0] - T0)
    assert float(downs[0]["data-e"]) == pytest.approx(KILL[1] - T0)
    faults = doc.with_class("fault")
    assert [a["data-label"] for _, a in faults] == [label for _, _, label in run.faults]
    fault_labels = [doc.text[i] for i, _ in doc.with_class("fault-label")]
    assert fault_labels == [label for _, _, label in run.faults]
    ops = [a for _, a in doc.with_class("op")]
    assert Counter(a["data-key"] for a in ops) == Counter(op.key for op in run.operations)
    culprits = [a for a in ops if "culprit" in a["class"].split()]
    assert len(culprits) == 1 and culprits[0]["data-key"] == "y"
    assert all("unknown" in a["class"] for a in ops if a["data-status"] == "info")
    unknown = next(a for a in ops if a["data-status"] == "info")
    span = max(float(a["data-e"]) for a in ops)
    assert float(unknown["data-e"]) == pytest.approx(span)  # hatched to the right edge
    keys = [(a["data-key"], "bad" in a["class"]) for _, a in doc.with_class("key-label")]
    assert keys == [("x", False), ("y", True)]


def test_the_page_is_self_contained_and_carries_its_view(page: Path) -> None:
    text = page.read_text(encoding="utf-8")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)
    assert "@import" not in text and "url(http" not in text
    doc = parse_html(page)
    svg = next(a for tag, a in doc.tags if tag == "svg" and a.get("id") == "st")
    assert svg["data-zoom"] == "1"
    assert "document.body.dataset.ready" in text
    assert "synthetic run" in text
    assert "violation" in text  # the checker's summary


def test_a_receive_without_its_send_arrives_from_a_stub(tmp_path: Path) -> None:
    events = [{"t": 1.0, "node": "n2", "kind": "recv", "peer": "n9", "msg": "Ping",
               "mid": "n9:1"}, {"t": 2.0, "node": "n2", "kind": "stop"}]
    doc = parse_html(render_spacetime(events, tmp_path / "o.html"))
    assert [a["data-node"] for _, a in doc.with_class("lane")] == ["n2", "n9"]
    assert [a["data-mid"] for _, a in doc.with_class("orphan")] == ["n9:1"]


def test_a_restart_without_a_stop_greys_the_gap(tmp_path: Path) -> None:
    events = [{"t": 0.0, "node": "n1", "kind": "start"},
              {"t": 0.1, "node": "n1", "kind": "state", "role": "leader", "epoch": 4},
              {"t": 1.0, "node": "n1", "kind": "send", "peer": "n2", "msg": "X", "mid": 1},
              {"t": 3.0, "node": "n1", "kind": "start"}]
    doc = parse_html(render_spacetime(events, tmp_path / "r.html"))
    (_, down), = doc.with_class("down")
    assert "inferred" in down["class"] and (down["data-s"], down["data-e"]) == ("1", "3")
    (_, band), = doc.with_class("band")
    assert (band["data-s"], band["data-e"]) == ("0.1", "1")


def test_max_arrows_caps_the_drawing_with_a_note(run: SyntheticRun, tmp_path: Path) -> None:
    doc = parse_html(render_spacetime(run.events, tmp_path / "c.html", max_arrows=50))
    assert len(doc.with_class("msg")) == 50
    (i, _), = doc.with_class("note")
    assert "first 50 of" in doc.text[i]


def test_an_empty_log_still_renders(tmp_path: Path) -> None:
    doc = parse_html(render_spacetime([], tmp_path / "e.html"))
    assert not doc.with_class("lane") and not doc.with_class("msg")


def test_twenty_thousand_messages_are_all_drawn_compactly(tmp_path: Path) -> None:
    """(How fast it renders is measured by hand, not asserted: 0.2 s on the 2-core box.)"""
    events = []
    for i in range(20_000):
        src, dst = NODES[i % 5], NODES[(i + 1 + i // 5) % 5]
        if src == dst:
            dst = NODES[(i + 2) % 5]
        t = i * 0.001
        events.append({"t": t, "node": src, "kind": "send", "peer": dst,
                       "msg": ("Ping", "Ack", "Gossip")[i % 3], "mid": f"{src}:{i}"})
        events.append({"t": t + 0.0007, "node": dst, "kind": "recv", "peer": src,
                       "msg": ("Ping", "Ack", "Gossip")[i % 3], "mid": f"{src}:{i}"})
    path = render_spacetime(events, tmp_path / "big.html")
    size = path.stat().st_size
    assert size < 20_000 * 400, size  # a few hundred bytes a message
    assert path.read_text().count('class="msg ') == 20_000
