"""Elle's list-append checker, core: is a history of transactions strictly serializable?

Kingsbury & Alvaro, "Elle: Inferring Isolation Anomalies from Experimental Observations"
(VLDB 2020), on Adya's dependency graphs (Adya, PhD thesis, MIT 1999). Transactions
append unique values to lists and read whole lists. Since a list keeps every append in
order, one read of a key tells the *version order* of that key up to the read: every
read of a key must be a prefix of the longest one (else the order is ``incompatible``).
From the version orders come Adya's dependencies between committed transactions:

* ``ww`` T1 -> T2: T2 appended the next value of a key after T1's (write-write);
* ``wr`` T1 -> T2: T2 read a list ending with T1's append (write-read);
* ``rw`` T1 -> T2: T1 read a list that T2's append came next after (anti-dependency);
* ``rt`` T1 -> T2: T1 completed before T2 was invoked (real time: strict serializability).

A serializable history has an acyclic graph. Each strongly connected component holds
cycles; the shortest one of the weakest kind is reported, by Adya's names: ``G0``
(ww only: dirty write), ``G1c`` (ww and wr: circular information flow), ``G-single``
(exactly one rw: read skew), ``G2`` (two or more rw: write skew), each with
``-realtime`` when it needs real-time edges. Besides the cycles: ``G1a`` (a committed
read saw an append of a failed txn), ``G1b`` (a read ended at an append its txn later
followed with another to the same key), ``lost-append`` (an acknowledged append missing
from a read invoked after it completed), ``incompatible-order``, ``duplicate-elements``,
``garbage-read`` (a value nobody appended), ``internal`` (a txn that did not see its own
appends). The full Elle (issue #34) adds rw-registers and more; this is its core.

History shape (``protocols.check.history``): ``f == "txn"``, ``value`` the micro-ops
``[["r", k, None], ["append", k, v]]`` at invocation, the same with each read's list
(None for an absent key) at ``ok``; ``fail`` means it surely did not happen, ``info``
that it may have (its appends count as committed if anyone read them).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import networkx as nx

from protocols.check.history import History

__all__ = ["Anomaly", "ElleResult", "Txn", "check_list_append"]

CYCLE_NAMES = ("G0", "G1c", "G-single", "G2")
_ORDER = {"ww": 0, "wr": 1, "rt": 2, "rw": 3}  # the weakest kind explains an edge first


@dataclass(frozen=True, slots=True)
class Txn:
    """One transaction of the history; ``id`` is its invocation's position."""

    id: int
    process: int
    status: Literal["ok", "info", "fail"]
    ops: tuple[tuple[str, Any, Any], ...]
    call: float
    ret: float  # math.inf unless ok

    def describe(self) -> str:
        ops = "; ".join(f"{f} {k} {_show(v)}" for f, k, v in self.ops)
        return f"T{self.id} (process {self.process}, {self.status}): {ops}"


@dataclass(frozen=True, slots=True)
class Anomaly:
    name: str
    explanation: str
    txns: tuple[int, ...] = ()
    cycle: tuple[str, ...] = ()  # for a cycle: its steps, one line each

    def render(self) -> str:
        lines = [f"{self.name}: {self.explanation}"]
        lines += [f"    {step}" for step in self.cycle]
        return "\n".join(lines)


@dataclass(slots=True)
class ElleResult:
    anomalies: list[Anomaly] = field(default_factory=list)
    txns: dict[int, Txn] = field(default_factory=dict)
    edges: int = 0

    @property
    def valid(self) -> bool:
        return not self.anomalies

    @property
    def verdict(self) -> Literal["ok", "violation"]:
        return "ok" if self.valid else "violation"

    def names(self) -> list[str]:
        return sorted({a.name for a in self.anomalies})

    def summary(self, per_kind: int = 2) -> str:
        """Counts, then the first ``per_kind`` anomalies of each kind, cycles first."""
        counts = {s: sum(t.status == s for t in self.txns.values())
                  for s in ("ok", "info", "fail")}
        head = (f"list-append: {len(self.txns)} txns ({counts['ok']} ok, {counts['info']} "
                f"info, {counts['fail']} fail), {self.edges} dependency edges: ")
        if self.valid:
            return head + "strictly serializable (no anomaly found)"
        by_name: dict[str, list[Anomaly]] = {}
        for a in self.anomalies:
            by_name.setdefault(a.name, []).append(a)
        names = sorted(by_name, key=lambda n: (not by_name[n][0].cycle, n))
        lines = [head + "anomalies " + ", ".join(f"{n} ({len(by_name[n])})" for n in names)]
        for n in names:
            lines += [a.render() for a in by_name[n][:per_kind]]
            if len(by_name[n]) > per_kind:
                lines.append(f"... and {len(by_name[n]) - per_kind} more {n}")
        return "\n".join(lines)


def check_list_append(history: History | Iterable[Any], *, realtime: bool = True,
                      max_cycle_starts: int = 100) -> ElleResult:
    """Check a list-append history (``History`` or its events); ``realtime=False`` checks
    serializability only. Raises ValueError on a malformed history (an append of the
    same value to the same key twice: the inference needs unique values)."""
    txns = _txns(history)
    result = ElleResult(txns={t.id: t for t in txns})
    graph = _Graph(result)
    graph.infer(realtime)
    result.edges = graph.g.number_of_edges()
    graph.find_cycles(max_cycle_starts)
    return result


# ====================================================================== the history
def _txns(history: History | Iterable[Any]) -> list[Txn]:
    """Pair each txn's invocation with its completion (fails included: G1a needs them)."""
    open_: dict[int, tuple[int, Any]] = {}
    out: list[Txn] = []
    for i, e in enumerate(history):
        if e.type == "invoke":
            if e.process in open_:
                raise ValueError(f"event {i}: process {e.process} invoked twice")
            open_[e.process] = (i, e)
            continue
        if e.process not in open_:
            raise ValueError(f"event {i}: {e.type} for process {e.process} with no invoke")
        idx, inv = open_.pop(e.process)
        if inv.f == "txn":
            ops = e.value if e.type == "ok" else inv.value
            out.append(Txn(idx, inv.process, e.type, _ops(idx, ops), inv.time,
                           e.time if e.type == "ok" else math.inf))
    for idx, inv in open_.values():
        if inv.f == "txn":
            out.append(Txn(idx, inv.process, "info", _ops(idx, inv.value), inv.time, math.inf))
    return sorted(out, key=lambda t: t.id)


def _ops(idx: int, ops: Any) -> tuple[tuple[str, Any, Any], ...]:
    if not isinstance(ops, list | tuple):
        raise ValueError(f"T{idx}: a txn's value is a list of micro-ops, not {ops!r:.60}")
    out = []
    for op in ops:
        if not isinstance(op, list | tuple) or len(op) != 3 or op[0] not in ("r", "append"):
            raise ValueError(f"T{idx}: {op!r:.60} is not a list-append micro-op "
                             "([\"r\", k, list] or [\"append\", k, v])")
        f, k, v = op
        if f == "r" and v is not None and not isinstance(v, list | tuple):
            raise ValueError(f"T{idx}: read of {k!r} returned {v!r:.60}, not a list")
        out.append((f, k, tuple(v) if f == "r" and v is not None else v))
    return tuple(out)


def _show(v: Any) -> str:
    """A list as Elle prints it, long ones cut in the middle (the tail tells most)."""
    if isinstance(v, tuple):
        items = [str(x) for x in v]
        if len(items) > 8:
            items = [*items[:2], f"...({len(items) - 5} more)...", *items[-3:]]
        return "[" + " ".join(items) + "]"
    return "nil" if v is None else str(v)


# ====================================================================== the graph
class _Graph:
    def __init__(self, result: ElleResult) -> None:
        self.result = result
        self.txns = result.txns
        self.g: Any = nx.DiGraph()
        self.writer: dict[tuple[Any, Any], int] = {}  # (key, value) -> appending txn
        self.appends: dict[tuple[int, Any], list[Any]] = {}  # (txn, key) -> its appends
        self.orders: dict[Any, tuple[Any, ...]] = {}  # key -> version order (valid keys)
        self.committed: set[int] = set()

    def report(self, name: str, explanation: str, txns: Sequence[int],
               cycle: Sequence[str] = ()) -> None:
        self.result.anomalies.append(Anomaly(name, explanation, tuple(txns), tuple(cycle)))

    # ---------------------------------------------------------------- inference
    def infer(self, realtime: bool) -> None:
        self._index_appends()
        reads = self._reads()
        self._version_orders(reads)
        self._committed(reads)
        self._aborted_and_intermediate_reads(reads)
        for key, order in self.orders.items():
            self._ww(key, order)
        self._wr_rw(reads)
        if realtime:  # both need the real-time order of strict serializability
            self._lost_appends(reads)
            self._realtime()

    def _index_appends(self) -> None:
        for t in self.txns.values():
            for f, k, v in t.ops:
                if f != "append":
                    continue
                other = self.writer.setdefault((k, v), t.id)
                if other != t.id:
                    raise ValueError(f"T{other} and T{t.id} both appended {v!r} to {k!r}: "
                                     "list-append needs every appended value unique per key")
                self.appends.setdefault((t.id, k), []).append(v)

    def _reads(self) -> list[tuple[Txn, Any, tuple[Any, ...], bool]]:
        """(txn, key, list, external) for every read of an ok txn; a read is external
        if the txn had not yet appended to that key. Checks the internal reads."""
        out = []
        for t in self.txns.values():
            if t.status != "ok":
                continue
            seen: dict[Any, tuple[Any, ...] | None] = {}  # key -> what it must read now
            mine: dict[Any, list[Any]] = {}
            for f, k, v in t.ops:
                if f == "append":
                    mine.setdefault(k, []).append(v)
                    if seen.get(k) is not None:
                        seen[k] = (*seen[k], v)  # type: ignore[misc]
                    continue
                items = v or ()
                self._check_internal(t, k, items, seen.get(k), mine.get(k, []))
                out.append((t, k, items, k not in mine))
                seen[k] = items
        return out

    def _check_internal(self, t: Txn, k: Any, items: tuple[Any, ...],
                        expected: tuple[Any, ...] | None, mine: list[Any]) -> None:
        if expected is not None and items != expected:
            self.report("internal", f"T{t.id} read {k}={_show(items)} but its own earlier "
                        f"ops imply {_show(expected)}", [t.id])
        elif expected is None and mine and tuple(items[-len(mine):]) != tuple(mine):
            self.report("internal", f"T{t.id} read {k}={_show(items)} after appending "
                        f"{_show(tuple(mine))} to it: its own appends are not the tail",
                        [t.id])

    def _version_orders(self, reads: list[tuple[Txn, Any, tuple[Any, ...], bool]]) -> None:
        """The longest read of each key; every other read must be a prefix of it."""
        longest: dict[Any, tuple[Txn, tuple[Any, ...]]] = {}
        for t, k, items, _ in reads:
            if len(set(items)) != len(items):
                dups = sorted({str(x) for x in items if items.count(x) > 1})
                self.report("duplicate-elements", f"T{t.id} read {k}={_show(items)}: "
                            f"{', '.join(dups)} appear more than once", [t.id])
            if k not in longest or len(items) > len(longest[k][1]):
                longest[k] = (t, items)
        broken = set()
        for t, k, items, _ in reads:
            lt, full = longest[k]
            if full[:len(items)] != items and k not in broken:
                broken.add(k)
                self.report("incompatible-order", f"key {k}: T{t.id} read {_show(items)} "
                            f"and T{lt.id} read {_show(full)}: neither is a prefix of the "
                            "other, so no single order of appends explains both",
                            [t.id, lt.id])
        self.orders = {k: items for k, (_, items) in longest.items() if k not in broken}

    def _committed(self, reads: list[tuple[Txn, Any, tuple[Any, ...], bool]]) -> None:
        """ok txns, and info txns whose appends someone read: they took effect."""
        self.committed = {t.id for t in self.txns.values() if t.status == "ok"}
        for _, k, items, _ in reads:
            for v in items:
                w = self.writer.get((k, v))
                if w is not None and self.txns[w].status == "info":
                    self.committed.add(w)

    def _aborted_and_intermediate_reads(
            self, reads: list[tuple[Txn, Any, tuple[Any, ...], bool]]) -> None:
        reported: set[tuple[str, Any, Any]] = set()
        for t, k, items, external in reads:
            for v in items:
                w = self.writer.get((k, v))
                if w is None and ("garbage", k, v) not in reported:
                    reported.add(("garbage", k, v))
                    self.report("garbage-read", f"T{t.id} read {v} in {k}, which no txn "
                                "appended", [t.id])
                elif w is not None and self.txns[w].status == "fail" and \
                        ("G1a", k, v) not in reported:
                    reported.add(("G1a", k, v))
                    self.report("G1a", f"aborted read: T{t.id} read {v} in {k}, appended "
                                f"by T{w}, which failed", [w, t.id])
            if not external or not items:
                continue
            w = self.writer.get((k, items[-1]))
            if w is None or w == t.id:
                continue
            theirs = self.appends[(w, k)]
            if items[-1] != theirs[-1]:
                nxt = theirs[theirs.index(items[-1]) + 1]
                self.report("G1b", f"intermediate read: T{t.id} read {k}={_show(items)}, "
                            f"ending at {items[-1]}, which T{w} followed with {nxt} in the "
                            "same txn", [w, t.id])

    def _lost_appends(self, reads: list[tuple[Txn, Any, tuple[Any, ...], bool]]) -> None:
        """An append acknowledged before a read was invoked must be in that read."""
        acked: dict[Any, list[tuple[float, Any, int]]] = {}
        for (k, v), w in self.writer.items():
            if self.txns[w].status == "ok":
                acked.setdefault(k, []).append((self.txns[w].ret, v, w))
        need: dict[Any, tuple[list[float], list[float]]] = {}
        for k, lst in acked.items():
            lst.sort(key=lambda x: x[0])
            pos = {v: i for i, v in enumerate(self.orders.get(k, ()))}
            running, needs = 0.0, []
            for _, v, _ in lst:  # how long a read after this append must be
                running = max(running, pos[v] + 1 if v in pos else math.inf)
                needs.append(running)
            need[k] = ([r for r, _, _ in lst], needs)
        lost: set[tuple[Any, Any]] = set()
        for t, k, items, _ in reads:
            if k not in need:
                continue
            rets, needs = need[k]
            n = bisect.bisect_left(rets, t.call)  # appends completed before t began
            if n == 0 or (k in self.orders and len(items) >= needs[n - 1]):
                continue
            present = set(items)
            for _, v, w in acked[k][:n]:
                if v not in present and w != t.id and (k, v) not in lost:
                    lost.add((k, v))
                    self.report("lost-append", f"T{w} appended {v} to {k} and was "
                                f"acknowledged at {self.txns[w].ret:g}; T{t.id}, invoked "
                                f"later at {t.call:g}, read {k}={_show(items)} without it",
                                [w, t.id])

    def _edge(self, a: int, b: int, kind: str, why: str) -> None:
        if a == b or a not in self.committed or b not in self.committed:
            return
        if not self.g.has_edge(a, b):
            self.g.add_edge(a, b, why={})
        self.g.edges[a, b]["why"].setdefault(kind, why)

    def _ww(self, k: Any, order: tuple[Any, ...]) -> None:
        for prev, nxt in itertools.pairwise(order):
            a, b = self.writer.get((k, prev)), self.writer.get((k, nxt))
            if a is not None and b is not None:
                self._edge(a, b, "ww", f"T{b} appended {nxt} to {k} right after T{a}'s {prev}")

    def _wr_rw(self, reads: list[tuple[Txn, Any, tuple[Any, ...], bool]]) -> None:
        for t, k, items, external in reads:
            if not external:
                continue
            if items:
                w = self.writer.get((k, items[-1]))
                if w is not None:
                    self._edge(w, t.id, "wr", f"T{t.id} read {k}={_show(items)}, ending at "
                               f"T{w}'s append of {items[-1]}")
            order = self.orders.get(k)
            if order is not None and len(items) < len(order):
                nxt = order[len(items)]
                w = self.writer.get((k, nxt))
                if w is not None:
                    self._edge(t.id, w, "rw", f"T{t.id} read {k}={_show(items)}, before "
                               f"T{w} appended {nxt}")

    def _realtime(self) -> None:
        """T1 -> T2 when T1 completed before T2 was invoked, kept small as Elle does: a
        frontier of completed txns that precede no other completed one (the rest follow
        by transitivity)."""
        events = []
        for t in self.txns.values():
            if t.id in self.committed:
                events.append((t.call, 0, t.id))
                if t.ret != math.inf:
                    events.append((t.ret, 1, t.id))
        events.sort(key=lambda e: (e[0], e[1], e[2]))  # at equal times: invoked first
        frontier: set[int] = set()
        preds: dict[int, frozenset[int]] = {}
        for time, kind, tid in events:
            if kind == 0:
                preds[tid] = frozenset(frontier)
                for p in sorted(frontier):
                    self._edge(p, tid, "rt", f"T{p} completed at {self.txns[p].ret:g}, "
                               f"before T{tid} was invoked at {time:g}")
            else:
                frontier -= preds[tid]
                frontier.add(tid)

    # ---------------------------------------------------------------- cycles
    def find_cycles(self, max_starts: int) -> None:
        for scc in sorted(nx.strongly_connected_components(self.g), key=min):
            if len(scc) > 1:
                self._classify(self.g.subgraph(scc), max_starts)

    def _classify(self, g: Any, max_starts: int) -> None:
        """Report the weakest anomaly this component holds, with its shortest cycle."""
        for suffix, extra in (("", ()), ("-realtime", ("rt",))):
            for name, kinds in (("G0", ("ww",)), ("G1c", ("ww", "wr"))):
                cycle = _shortest_cycle(_only(g, (*kinds, *extra)), max_starts)
                if cycle is not None:  # no ww cycle, so a ww+wr one has a wr edge
                    self._report_cycle(name + suffix, g, cycle, (*kinds, *extra))
                    return
            allowed = ("ww", "wr", "rw", *extra)
            cycle = _single_rw_cycle(g, ("ww", "wr", *extra), max_starts)
            if cycle is None:
                cycle = _shortest_cycle(_only(g, allowed), max_starts)
            if cycle is not None:
                rws = sum(_kind(g, a, b, allowed) == "rw" for a, b in _pairs(cycle))
                self._report_cycle(("G-single" if rws == 1 else "G2") + suffix, g, cycle,
                                   allowed)
                return

    def _report_cycle(self, name: str, g: Any, cycle: list[int],
                      allowed: Sequence[str]) -> None:
        steps = [self.txns[cycle[0]].describe()]
        for a, b in _pairs(cycle):
            kind = _kind(g, a, b, allowed)
            steps.append(f"  -{kind}-> {self.txns[b].describe()}"
                         f"    [{g.edges[a, b]['why'][kind]}]")
        what = {"G0": "write cycle (ww edges only)",
                "G1c": "circular information flow (ww and wr edges)",
                "G-single": "read skew (a cycle with exactly one rw edge)",
                "G2": "anti-dependency cycle (two or more rw edges)"}[name.split("-real")[0]]
        if name.endswith("-realtime"):
            what += ", closed by real-time order"
        self.report(name, f"{what}: " + " -> ".join(f"T{t}" for t in [*cycle, cycle[0]]),
                    cycle, steps)


def _pairs(cycle: list[int]) -> list[tuple[int, int]]:
    return list(zip(cycle, [*cycle[1:], cycle[0]], strict=True))


def _kind(g: Any, a: int, b: int, allowed: Sequence[str]) -> str:
    """The weakest allowed kind the edge a -> b carries."""
    kinds: list[str] = [k for k in g.edges[a, b]["why"] if k in allowed]
    return min(kinds, key=_ORDER.__getitem__)


def _only(g: Any, kinds: Sequence[str]) -> Any:
    return nx.subgraph_view(g, filter_edge=lambda a, b: any(
        k in kinds for k in g.edges[a, b]["why"]))


def _shortest_cycle(g: Any, max_starts: int) -> list[int] | None:
    """The shortest cycle through any of the first ``max_starts`` nodes of each
    component (all of them in any component that small): one BFS per start node."""
    best: list[int] | None = None
    for scc in nx.strongly_connected_components(g):
        if len(scc) < 2:
            continue
        for u in sorted(scc)[:max_starts]:
            dist = nx.single_source_shortest_path_length(g, u)
            back = [p for p in g.predecessors(u) if p in dist]
            if not back:
                continue
            p = min(back, key=lambda x: (dist[x], x))
            if best is None or dist[p] + 1 < len(best):
                best = nx.shortest_path(g, u, p)
    return best


def _single_rw_cycle(g: Any, others: Sequence[str], max_starts: int) -> list[int] | None:
    """The shortest cycle made of one rw edge a -> b and a path b -> a without rw."""
    rest = _only(g, others)
    best: list[int] | None = None
    rw = sorted((a, b) for a, b, d in g.edges(data=True) if "rw" in d["why"])
    for a, b in rw[:max_starts]:
        try:
            path = nx.shortest_path(rest, b, a)
        except nx.NetworkXNoPath:
            continue
        if best is None or len(path) < len(best):
            best = [a, *path[:-1]]
    return best
