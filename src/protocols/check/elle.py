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
appends).

``check_transactions`` (issue #34) judges a history at an isolation level (``LEVELS``:
read-committed, snapshot-isolation, serializable, strong-session-serializable,
strict-serializable) and adds Elle's second model, *rw-registers* (``["w", k, v]`` with
values unique per key, ``["r", k, v]``), in the same txns as list-append keys. A register
read tells only who wrote the value (``wr``); its version order is known only in part:
nil comes first, and a txn that read ``a`` then wrote ``b`` puts ``a`` before ``b``
(``ww`` from a's writer to b's, ``rw`` from every reader of ``a`` to b's writer). It also
reports ``lost-update`` (two committed txns read one version of a key and both wrote it),
``process`` edges (each client's session order) and names every cycle shape found in
a component, each with its shortest cycle: ``G0``, ``G1c``, ``G-single``, ``G2-item``,
with ``-process`` or ``-realtime`` when only those edges close it.

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

from protocols.check.history import History, pairs

__all__ = ["Anomaly", "ElleResult", "HistoryError", "Txn", "check_list_append"]

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
    edges: tuple[tuple[int, int, str, str], ...] = ()  # a cycle's (from, to, kind, why)

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
def _txns(history: History | Iterable[Any], model: str = "list-append") -> list[Txn]:
    """Pair each txn's invocation with its completion (fails included: G1a needs them)."""
    out: list[Txn] = []
    try:
        paired = list(pairs(history))
    except ValueError as malformed:
        raise HistoryError(str(malformed)) from None
    for idx, inv, e in paired:
        if inv.f != "txn":
            continue
        if e is None:  # never completed: it may have happened
            out.append(Txn(idx, inv.process, "info", _ops(idx, inv.value, model), inv.time,
                           math.inf))
        else:
            ops = e.value if e.type == "ok" else inv.value
            status: Literal["ok", "info", "fail"] = ("ok" if e.type == "ok" else "fail"
                                                     if e.type == "fail" else "info")
            out.append(Txn(idx, inv.process, status, _ops(idx, ops, model), inv.time,
                           e.time if e.type == "ok" else math.inf))
    return sorted(out, key=lambda t: t.id)


MODEL_OPS = {"list-append": ("r", "append"), "rw-register": ("r", "w"),
             "mixed": ("r", "append", "w")}
_OP_HINT = {"list-append": '["r", k, list] or ["append", k, v]',
            "rw-register": '["r", k, v] or ["w", k, v]',
            "mixed": '["r", k, v], ["append", k, v] or ["w", k, v]'}


def _ops(idx: int, ops: Any, model: str = "list-append") -> tuple[tuple[str, Any, Any], ...]:
    """The micro-ops of T``idx``, reads of lists as tuples; HistoryError if malformed."""
    if not isinstance(ops, list | tuple):
        raise HistoryError(f"T{idx}: a txn's value is a list of micro-ops, not {ops!r:.60}",
                           (idx,))
    out = []
    for op in ops:
        if not isinstance(op, list | tuple) or len(op) != 3 or op[0] not in MODEL_OPS[model]:
            raise HistoryError(f"T{idx}: {op!r:.60} is not a {model} micro-op "
                               f"({_OP_HINT[model]})", (idx,))
        f, k, v = op
        if f == "r" and v is not None and model == "list-append" and \
                not isinstance(v, list | tuple):
            raise HistoryError(f"T{idx}: read of {k!r} returned {v!r:.60}, not a list", (idx,))
        if not _hashable(k) or (f != "r" and not _hashable(v)):
            raise HistoryError(f"T{idx}: {op!r:.60}: keys and written values must be "
                               "numbers or strings", (idx,))
        if f == "w" and v is None:
            raise HistoryError(f"T{idx}: {op!r:.60} writes nil, the initial version: "
                               "written values must be unique and not null", (idx,))
        out.append((f, k, tuple(v) if f == "r" and isinstance(v, list | tuple) else v))
    return tuple(out)


def _hashable(v: Any) -> bool:
    try:
        hash(v)
    except TypeError:
        return False
    return True


class HistoryError(ValueError):
    """A history the checker cannot judge; ``txns`` are the ids it is about."""

    def __init__(self, message: str, txns: Sequence[int] = ()) -> None:
        super().__init__(message)
        self.txns = tuple(txns)


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
        self.registers: set[Any] = set()  # keys of the rw-register model (check_transactions)

    def report(self, name: str, explanation: str, txns: Sequence[int],
               cycle: Sequence[str] = (),
               edges: Sequence[tuple[int, int, str, str]] = ()) -> None:
        self.result.anomalies.append(Anomaly(name, explanation, tuple(txns), tuple(cycle),
                                             tuple(edges)))

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
                    raise HistoryError(f"T{other} and T{t.id} both appended {v!r} to {k!r}: "
                                       "list-append needs every appended value unique per "
                                       "key", (other, t.id))
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
                if k in self.registers:
                    continue
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


# ====================================================================== isolation levels
CYCLE_SHAPES = ("G0", "G1c", "G-single", "G2-item")
ALWAYS = frozenset({"internal", "garbage-read", "duplicate-elements", "incompatible-order"})


@dataclass(frozen=True, slots=True)
class Level:
    """An isolation level: the anomalies it forbids and the edges its cycles may use
    beyond ww/wr/rw (``process``: one client's session order; ``rt``: real time)."""

    name: str
    forbids: frozenset[str]
    extras: tuple[str, ...] = ()


def _levels() -> dict[str, Level]:
    """Adya 1999 ch. 3-4 (PL-2, PL-SI, PL-3) as Elle checks them (Kingsbury & Alvaro 2020,
    sec. 4-5): read-committed forbids G0, G1a, G1b, G1c; snapshot isolation adds G-single
    and lost update and allows G2-item (write skew); serializable forbids every cycle of
    ww/wr/rw; strong-session-serializable adds each client's order (``-process``);
    strict-serializable adds real time (``-realtime``, and acknowledged appends lost).
    Every level forbids what no execution explains: ``ALWAYS``."""
    rc = ALWAYS | {"G0", "G1a", "G1b", "G1c"}
    si = rc | {"G-single", "lost-update"}
    ser = si | {"G2-item"}
    session = ser | {f"{n}-process" for n in CYCLE_SHAPES}
    strict = session | {f"{n}-realtime" for n in CYCLE_SHAPES} | {"lost-append"}
    return {"read-committed": Level("read-committed", rc),
            "snapshot-isolation": Level("snapshot-isolation", si),
            "serializable": Level("serializable", ser),
            "strong-session-serializable": Level("strong-session-serializable", session,
                                                 ("process",)),
            "strict-serializable": Level("strict-serializable", strict, ("process", "rt"))}


LEVELS = _levels()
_SHOW_KIND = {"ww": "ww", "wr": "wr", "rw": "rw", "process": "process", "rt": "realtime"}
_PREFER = ("ww", "wr", "process", "rt", "rw")  # how a cycle's edge is named: rw last
_ROUNDS = (("", ()), ("-process", ("process",)), ("-realtime", ("process", "rt")))
_SHAPES: tuple[tuple[str, str | None, tuple[str, ...]], ...] = (
    ("G0", None, ("ww",)),  # name, the edge the cycle goes through, the path back
    ("G1c", "wr", ("ww", "wr")),
    ("G-single", "rw", ("ww", "wr")),
    ("G2-item", "rw", ("ww", "wr", "rw")))
_WHAT = {"G0": "write cycle (ww edges only): each txn overwrote the next one's write",
         "G1c": "circular information flow (ww and wr edges): each txn saw or overwrote "
                "the effects of one that in turn depends on it",
         "G-single": "read skew (a cycle with exactly one rw edge): one txn missed a write "
                     "that the txns it depends on had seen",
         "G2-item": "write skew (a cycle with two or more rw edges): txns each missed a "
                    "write of another in the cycle"}


@dataclass(slots=True)
class TxnResult(ElleResult):
    """Anomalies found, judged at ``level``: ``violations()`` are those it forbids,
    ``allowed()`` those it permits (write skew under snapshot isolation, say)."""

    level: str = "serializable"
    model: str = "mixed"
    forbidden: frozenset[str] = frozenset()

    @property
    def valid(self) -> bool:
        return not self.violations()

    def violations(self) -> list[Anomaly]:
        return [a for a in self.anomalies if a.name in self.forbidden]

    def allowed(self) -> list[Anomaly]:
        return [a for a in self.anomalies if a.name not in self.forbidden]

    def summary(self, per_kind: int = 2) -> str:
        counts = {s: sum(t.status == s for t in self.txns.values())
                  for s in ("ok", "info", "fail")}
        lines = [f"{self.model}: {len(self.txns)} txns ({counts['ok']} ok, {counts['info']} "
                 f"info, {counts['fail']} fail), {self.edges} dependency edges, checked "
                 f"for {self.level}: " + ("valid" if self.valid else "NOT valid")]
        for title, group in (("forbidden at this level", self.violations()),
                             ("allowed at this level", self.allowed())):
            by_name: dict[str, list[Anomaly]] = {}
            for a in group:
                by_name.setdefault(a.name, []).append(a)
            if not by_name:
                continue
            names = sorted(by_name, key=lambda n: (not by_name[n][0].cycle, n))
            lines.append(f"{title}: " + ", ".join(f"{n} ({len(by_name[n])})" for n in names))
            for n in names:
                lines += [a.render() for a in by_name[n][:per_kind]]
                if len(by_name[n]) > per_kind:
                    lines.append(f"... and {len(by_name[n]) - per_kind} more {n}")
        return "\n".join(lines)


def check_transactions(history: History | Iterable[Any], *, model: str = "mixed",
                       level: str = "serializable", max_cycle_starts: int = 100
                       ) -> TxnResult:
    """Check a history of transactions at an isolation ``level`` (``LEVELS``).

    What each level forbids (Adya 1999: PL-2, PL-SI, PL-3, and Elle, Kingsbury & Alvaro
    2020, for the session and strict variants; every level also forbids ``ALWAYS``):

    ==========================  ==========================================================
    read-committed              G0, G1a, G1b, G1c
    snapshot-isolation          those, G-single and lost-update (G2-item allowed)
    serializable                those and G2-item: no cycle of ww/wr/rw at all
    strong-session-serializable those, with each process's order (``-process`` cycles)
    strict-serializable         those, with real time (``-realtime`` cycles, lost-append)
    ==========================  ==========================================================

    ``model``: ``list-append`` (micro-ops ``r`` and ``append``), ``rw-register`` (``r``
    and ``w``: each key a register, each written value unique per key, nil the initial
    version) or ``mixed`` (both, each key in the model of the ops on it). Raises
    HistoryError (a ValueError) on a history it cannot judge.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}; levels: {', '.join(LEVELS)}")
    if model not in MODEL_OPS:
        raise ValueError(f"unknown model {model!r}; models: {', '.join(MODEL_OPS)}")
    lv = LEVELS[level]
    txns = _txns(history, model)
    result = TxnResult(txns={t.id: t for t in txns}, level=level, model=model,
                       forbidden=lv.forbids)
    graph = _TxnGraph(result, _register_keys(txns))
    graph.infer_all(lv)
    result.edges = graph.g.number_of_edges()
    graph.find_anomalies(lv, max_cycle_starts)
    return result


def _register_keys(txns: Sequence[Txn]) -> set[Any]:
    """The keys written with ``w`` or read as a single value: registers. A key both
    appended to and written, or read both ways, cannot be judged."""
    appended: dict[Any, int] = {}
    written: dict[Any, int] = {}
    listed: dict[Any, int] = {}
    scalar: dict[Any, int] = {}
    for t in txns:
        for f, k, v in t.ops:
            seen = {"append": appended, "w": written}.get(f)
            if seen is None and v is not None:
                seen = listed if isinstance(v, tuple) else scalar
            if seen is not None:
                seen.setdefault(k, t.id)
    for lists, regs in itertools.product((appended, listed), (written, scalar)):
        for k in lists.keys() & regs.keys():
            a, b = lists[k], regs[k]
            raise HistoryError(f"key {k!r} is a list in T{a} and a register (a single "
                               f"value) in T{b}: each key must keep one model", (a, b))
    return set(written) | set(scalar)


class _TxnGraph(_Graph):
    """The list-append graph plus registers, lost updates and session order."""

    def __init__(self, result: ElleResult, registers: set[Any]) -> None:
        super().__init__(result)
        self.registers = registers
        self.successors: dict[Any, dict[Any, set[Any]]] = {}  # key -> version -> later

    def infer_all(self, level: Level) -> None:
        self._index_appends()
        self._index_writes()
        reads = self._reads()
        rreads = self._register_reads()
        self._version_orders(reads)
        self._committed(reads)
        self._register_anomalies(rreads)
        self._aborted_and_intermediate_reads(reads)
        for key, order in self.orders.items():
            self._ww(key, order)
        self._wr_rw(reads)
        self._register_edges(rreads)
        self._lost_updates(reads, rreads)
        if "rt" in level.extras:
            self._lost_appends(reads)
            self._realtime()
        if "process" in level.extras:
            self._process_order()

    # ---------------------------------------------------------------- registers
    def _index_writes(self) -> None:
        for t in self.txns.values():
            for f, k, v in t.ops:
                if f != "w":
                    continue
                other = self.writer.setdefault((k, v), t.id)
                if other != t.id or v in self.appends.get((t.id, k), ()):
                    raise HistoryError(f"T{other} and T{t.id} both wrote {v!r} to {k!r}: "
                                       "rw-register needs every written value unique per "
                                       "key", (other, t.id))
                self.appends.setdefault((t.id, k), []).append(v)

    def _register_reads(self) -> list[tuple[Txn, Any, Any]]:
        """(txn, key, value) for each external read of a register (the first op of an ok
        txn on that key is a read); checks the internal reads. A txn that read ``a`` and
        then wrote ``b`` shows that ``a`` came before ``b`` (Elle's inference)."""
        out = []
        for t in self.txns.values():
            if t.status != "ok":
                continue
            now: dict[Any, Any] = {}
            for f, k, v in t.ops:
                if k not in self.registers:
                    continue
                if f == "r" and k not in now:
                    out.append((t, k, v))
                    mine = self.appends.get((t.id, k))
                    if mine:
                        self.successors.setdefault(k, {}).setdefault(v, set()).add(mine[-1])
                elif f == "r" and v != now[k]:
                    self.report("internal", f"T{t.id} read {k}={_show(v)} but its own "
                                f"earlier ops imply {_show(now[k])}", [t.id])
                now[k] = v
        return out

    def _register_anomalies(self, rreads: list[tuple[Txn, Any, Any]]) -> None:
        """Garbage, aborted (G1a) and intermediate (G1b) reads; info writers that were
        read join the committed txns."""
        reported: set[tuple[str, Any, Any]] = set()
        for t, k, v in rreads:
            w = self.writer.get((k, v))
            if v is None:
                continue
            if w is None or w == t.id:
                if ("garbage", k, v) not in reported:
                    reported.add(("garbage", k, v))
                    by = "before writing it itself" if w == t.id else "which no txn wrote"
                    self.report("garbage-read", f"T{t.id} read {k}={v}, {by}", [t.id])
                continue
            if self.txns[w].status == "info":
                self.committed.add(w)
            if self.txns[w].status == "fail" and ("G1a", k, v) not in reported:
                reported.add(("G1a", k, v))
                self.report("G1a", f"aborted read: T{t.id} read {k}={v}, written by T{w}, "
                            "which failed", [w, t.id])
            theirs = self.appends[(w, k)]
            if v != theirs[-1]:
                nxt = theirs[theirs.index(v) + 1]
                self.report("G1b", f"intermediate read: T{t.id} read {k}={v}, which T{w} "
                            f"overwrote with {nxt} in the same txn", [w, t.id])

    def _register_edges(self, rreads: list[tuple[Txn, Any, Any]]) -> None:
        """wr from each read's writer; ww and rw only where the version order is known:
        nil precedes every version, and a read of ``a`` then a write of ``b`` in one txn
        puts ``a`` before ``b``."""
        for k, succ in self.successors.items():
            for a, later in succ.items():
                for b in later:
                    x, y = self.writer.get((k, a)), self.writer[(k, b)]
                    if a is not None and x is not None:
                        self._edge(x, y, "ww", f"T{y} read {k}={a} (T{x}'s write) and "
                                   f"overwrote it with {b}")
        firsts = self._first_versions()
        for t, k, v in rreads:
            w = self.writer.get((k, v))
            if v is not None and w is not None:
                self._edge(w, t.id, "wr", f"T{t.id} read {k}={v}, written by T{w}")
            later = firsts.get(k, set()) if v is None else \
                self.successors.get(k, {}).get(v, set())
            for b in sorted(later, key=str):
                y = self.writer[(k, b)]
                was = "nil (the initial version)" if v is None else str(v)
                self._edge(t.id, y, "rw", f"T{t.id} read {k}={was}, before T{y} wrote {b}")

    def _first_versions(self) -> dict[Any, set[Any]]:
        """Per register, the installed versions no known version precedes but nil."""
        after_some = {(k, b) for k, succ in self.successors.items()
                      for a, later in succ.items() if a is not None for b in later}
        out: dict[Any, set[Any]] = {}
        for (_, k), writes in self.appends.items():
            if k in self.registers and (k, writes[-1]) not in after_some:
                out.setdefault(k, set()).add(writes[-1])
        return out

    # ---------------------------------------------------------------- lost updates
    def _lost_updates(self, reads: list[tuple[Txn, Any, tuple[Any, ...], bool]],
                      rreads: list[tuple[Txn, Any, Any]]) -> None:
        """Two committed txns read the same version of a key and both wrote it: the
        second write was made without seeing the first (Berenson et al. 1995, P4)."""
        readers: dict[tuple[Any, Any], set[int]] = {}
        for t, k, items, external in reads:
            if external and (t.id, k) in self.appends:
                readers.setdefault((k, items), set()).add(t.id)
        for t, k, v in rreads:
            if (t.id, k) in self.appends:
                readers.setdefault((k, v), set()).add(t.id)
        for (k, version), ids in readers.items():
            if len(ids) < 2:
                continue
            ts = sorted(ids)
            verb = "wrote" if k in self.registers else "appended to"
            wrote = ", ".join(f"T{i} {' '.join(map(str, self.appends[(i, k)]))}" for i in ts)
            who = " and ".join(f"T{i}" for i in ts) if len(ts) == 2 else \
                ", ".join(f"T{i}" for i in ts)
            self.report("lost-update", f"{who} {'both' if len(ts) == 2 else 'all'} read "
                        f"{k}={_show(version)} and then {verb} {k} ({wrote}): "
                        f"{'neither' if len(ts) == 2 else 'none'} saw the other's write, so "
                        "an update is lost", ts)

    def _process_order(self) -> None:
        """Session order: a process's committed txn follows its previous ok one."""
        last: dict[Any, Txn] = {}
        for t in self.txns.values():  # in invocation order
            if t.id not in self.committed:
                continue
            p = last.get(t.process)
            if p is not None and p.ret != math.inf:
                self._edge(p.id, t.id, "process", f"process {t.process} ran T{p.id}, "
                           f"then T{t.id}")
            last[t.process] = t

    # ---------------------------------------------------------------- cycles
    def find_anomalies(self, level: Level, max_starts: int) -> None:
        g = self.g  # holds only the edges the level uses: ww, wr, rw and its extras
        for scc in sorted(nx.strongly_connected_components(g), key=min):
            if len(scc) > 1:
                self._classify_all(g.subgraph(scc), level, max_starts)

    def _classify_all(self, g: Any, level: Level, max_starts: int) -> None:
        """Each shape's shortest cycle in this component, by Adya's names; with
        process or real-time edges only if the data edges alone close none."""
        found: set[str] = set()
        for suffix, extra in _ROUNDS:
            if not set(extra) <= set(level.extras):
                break
            for name, through, path in _SHAPES:
                if name in found:
                    continue
                kinds = (*path, *extra)
                if through is None:
                    cycle = _shortest_cycle(_only(g, kinds), max_starts)
                else:
                    cycle = _cycle_through(g, through, kinds, max_starts)
                if cycle is None:
                    continue
                labels = _labels(g, cycle, kinds, through)
                if name == "G2-item" and labels.count("rw") < 2:
                    continue  # its shortest is a G-single: reported as that
                found.add(name)
                self._report_shape(name, suffix, g, cycle, labels)

    def _report_shape(self, name: str, suffix: str, g: Any, cycle: list[int],
                      labels: list[str]) -> None:
        steps = [self.txns[cycle[0]].describe()]
        edges = []
        for (a, b), kind in zip(_pairs(cycle), labels, strict=True):
            why = g.edges[a, b]["why"][kind]
            steps.append(f"  -{_SHOW_KIND[kind]}-> {self.txns[b].describe()}    [{why}]")
            edges.append((a, b, _SHOW_KIND[kind], why))
        what = _WHAT[name] + {"": "", "-process": ", closed by a process's own order",
                              "-realtime": ", closed by real-time order"}[suffix]
        path = " -> ".join(f"T{t}" for t in [*cycle, cycle[0]])
        story = "; ".join(why for *_, why in edges)
        self.report(name + suffix, f"{what}: {path}. {story}", cycle, steps, edges)


def _cycle_through(g: Any, through: str, kinds: Sequence[str], max_starts: int
                   ) -> list[int] | None:
    """The shortest cycle made of one ``through`` edge a -> b and a path b -> a along
    ``kinds``; the cycle starts at a. Of the first ``max_starts`` such edges, the ones
    running furthest back in invocation order first (b invoked long before a): a cycle
    must run back somewhere, and an anomaly's edge usually runs back far."""
    rest = _only(g, kinds)
    best: list[int] | None = None
    firsts = sorted(((a, b) for a, b, d in g.edges(data=True) if through in d["why"]),
                    key=lambda e: (e[1] - e[0], e))
    for a, b in firsts[:max_starts]:
        try:
            path = nx.shortest_path(rest, b, a)
        except nx.NetworkXNoPath:
            continue
        if best is None or len(path) < len(best):
            best = [a, *path[:-1]]
    return best


def _labels(g: Any, cycle: list[int], kinds: Sequence[str], through: str | None
            ) -> list[str]:
    """Name each edge of a cycle: the first by ``through``, the others by the first of
    ``_PREFER`` they carry (so a cycle counts as few rw edges as it can)."""
    out = []
    for i, (a, b) in enumerate(_pairs(cycle)):
        have = g.edges[a, b]["why"]
        if i == 0 and through is not None:
            out.append(through)
        else:
            out.append(next(k for k in _PREFER if k in have and k in kinds))
    return out
