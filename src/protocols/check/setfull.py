"""Lost writes in a set: Jepsen's ``set-full`` checker, one set per key.

Jepsen's ``jepsen.checker/set-full`` (Kingsbury; its docstring in ``jepsen/checker.clj``
is the reference followed here). Clients ``add`` unique elements to a set and, meanwhile,
``read`` the whole set. For every element whose add was attempted the checker finds
when it was *known* to be in the set, the first read that showed it, the last read that
did not, and from those classifies it. Nothing but the order of invocations and
completions in real time is assumed, so it judges an eventually consistent store (a
Dynamo-style one, whose values of a key are a set of siblings) as well as a
linearizable one.

History shape (``protocols.check.history``), one set per key, checked independently
(Jepsen's ``independent`` wrapper; ``key`` may be None for a single set):

* an add: ``f == "add"``, ``key`` k, invoked with the element as ``value`` (unique per
  key, a number or a string); ``ok`` means acknowledged, ``fail`` that it surely did not
  happen, ``info`` (or no completion) that it may have, at any time after its call.
* a read: ``f == "read"``, ``key`` k, invoked with value None; at ``ok`` its value is the
  key's elements, a list (None for a key never written). A read that fails or times out
  tells nothing and is dropped. Events with another ``f`` (a nemesis's) are skipped.

For an element e of key k, with k's reads ordered by invocation:

* its *known* time is when e was certainly in the set: its add's ``ok``, or the
  completion of the first read that showed it, whichever came first (an ``info`` add
  becomes known when a read shows it; one that no read shows never does);
* a read *began after* e was known if it was invoked strictly later.

Each element has exactly one outcome:

* ``stable``      the last read of k shows e, and every read of k that began after e was
  known showed it: from then on it was always there (stable latency 0);
* ``stale``       the last read of k shows e, but some read that began after e was known
  did not: e was late to appear, or *flickered* (a read showed it, a read that began
  later did not, then it came back). Its stable latency is the time from known to the
  invocation of the last read that missed it. Jepsen counts these among its stable
  elements and reports them as ``:stale``; a stale element is a violation only with
  ``linearizable=True`` (Jepsen's ``:linearizable? true``);
* ``lost``        e was known, the last read of k began after that and does not show
  it, and no read after the last one that showed it does: acknowledged (or seen), then
  gone for good. Its lost latency is the time from known to the invocation of the first
  of those reads;
* ``never-read``  neither: no read of k began after e was known (the last read was
  concurrent with its add, or there was none), or e never became known (an ``info`` add
  that no read shows, a failed add) and the last read does not show it. An unknown add
  that never appears is not lost: it may never have happened.

A learner's reading of one lost element (``ElementResult.describe()``)::

    element 7 (key 'k2'): added at 1.1, acknowledged at 1.2, seen by reads from R3
    (completed at 1.31) to R7 invoked at 3.9; missing from read R9, invoked at 4.02
    after it was known at 1.2, and from every read after it (2 more, the last invoked
    at 6): lost

Violations (``SetFullResult.anomalies``, each an ``elle.Anomaly``):

* ``lost``            as above;
* ``duplicated``      a read lists an element more than once (a set holds it once);
* ``unexpected``      a read shows an element no add of that key attempted;
* ``read-before-add`` a read that completed before e's add was invoked shows e (no
  store, however weak, can return what nobody has written yet);
* ``failed-add-seen`` a read shows e whose add failed (``fail`` means it did not happen);
* ``stale``           with ``linearizable=True`` only: a read that began after e was
  known missed it (a linearizable set shows an element to every read after its add).

``check_set_full(history, linearizable=False)`` returns a ``SetFullResult``: per key and
overall, each element's outcome, the counts, and the stable and lost latencies as
quantiles (Jepsen's points 0, 0.5, 0.95, 0.99, 1), in the history's time unit.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

from protocols.check.elle import Anomaly, HistoryError
from protocols.check.history import Event, History, pairs

__all__ = ["OUTCOMES", "ElementResult", "SetAdd", "SetFullResult", "SetKeyResult",
           "SetRead", "check_set_full", "quantiles"]

Outcome = Literal["stable", "stale", "lost", "never-read"]
OUTCOMES: tuple[Outcome, ...] = ("stable", "stale", "lost", "never-read")
POINTS = (0.0, 0.5, 0.95, 0.99, 1.0)


@dataclass(frozen=True, slots=True)
class SetAdd:
    index: int  # its invocation's position in the history
    process: int
    key: Any
    element: Any
    status: str  # ok, fail or info
    call: float
    ret: float  # math.inf unless ok


@dataclass(frozen=True, slots=True)
class SetRead:
    index: int  # its invocation's position in the history ("R<index>" in reports)
    process: int
    key: Any
    call: float
    ret: float
    values: frozenset[Any]


@dataclass(frozen=True, slots=True)
class ElementResult:
    """One element's outcome and the reads that decided it (see the module doc)."""

    key: Any
    element: Any
    outcome: Outcome
    add: SetAdd
    known: float | None  # when it was certainly in the set; None if never
    first_seen: SetRead | None  # the read showing it that completed first
    last_seen: SetRead | None  # the last read (by invocation) showing it
    last_missing: SetRead | None  # the last read (by invocation) not showing it
    lost_from: SetRead | None = None  # lost: the first read of the final run missing it
    missing_reads: int = 0  # lost: how many reads, from lost_from on, miss it
    last_read: SetRead | None = None  # the key's last read
    stable_latency: float | None = None  # stable 0, stale > 0, else None
    lost_latency: float | None = None  # lost only

    @property
    def flickered(self) -> bool:
        """Stale after having been seen: a read showed it, a later one did not."""
        return (self.outcome == "stale" and self.first_seen is not None
                and self.last_missing is not None
                and self.first_seen.ret < self.last_missing.call)

    def describe(self) -> str:
        """The element's story in one sentence, ending with its outcome."""
        head = f"element {self.element!r} (key {self.key!r}): {self._added()}"
        seen = self._seen()
        if self.outcome == "stable":
            after = ("every read showed it" if self.last_missing is None else
                     f"no read that began after {_t(self.known)} missed it (the last that "
                     f"did, R{self.last_missing.index}, was invoked at "
                     f"{_t(self.last_missing.call)})")
            return f"{head}, {seen}; {after}: stable"
        if self.outcome == "stale":
            miss = self.last_missing
            assert miss is not None
            how = ("then missing from" if self.flickered else "but missing from")
            return (f"{head}, {seen}; {how} read R{miss.index} invoked at {_t(miss.call)}, "
                    f"after it was known at {_t(self.known)}, and present in every read "
                    f"since: stale by {_t(self.stable_latency)}"
                    + (" (flickered)" if self.flickered else ""))
        if self.outcome == "lost":
            gone = self.lost_from
            assert gone is not None
            more = self.missing_reads - 1
            rest = (f", and from every read after it ({more} more, the last invoked at "
                    f"{_t(self.last_read.call)})" if more and self.last_read else "")
            return (f"{head}, {seen}; missing from read R{gone.index}, invoked at "
                    f"{_t(gone.call)} after it was known at {_t(self.known)}{rest}: lost")
        if self.known is None:
            why = {"fail": "its add failed", "info": "its add's outcome is unknown"}
            return (f"{head}, {seen}; {why.get(self.add.status, 'it was never known')} "
                    "and the last read does not show it: never-read (not lost: it may "
                    "never have happened)")
        last = self.last_read
        when = (f"the last read R{last.index} was invoked at {_t(last.call)}, not after"
                if last is not None else "there were no reads of this key")
        return (f"{head}, {seen}; it was known at {_t(self.known)}, but {when}: "
                "never-read")

    def _added(self) -> str:
        a = self.add
        if a.status == "ok":
            return f"added at {_t(a.call)}, acknowledged at {_t(a.ret)}"
        return f"added at {_t(a.call)} ({'failed' if a.status == 'fail' else 'unknown'})"

    def _seen(self) -> str:
        if self.first_seen is None:
            return "never seen by a read"
        first, last = self.first_seen, self.last_seen
        span = ("" if last is None or last is first else
                f" to R{last.index} invoked at {_t(last.call)}")
        return (f"seen by reads from R{first.index} (completed at {_t(first.ret)})"
                f"{span}")


@dataclass(slots=True)
class SetKeyResult:
    """One key's set: its elements' outcomes and its anomalies."""

    key: Any
    elements: dict[Any, ElementResult] = field(default_factory=dict)
    reads: int = 0
    anomalies: list[Anomaly] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return not self.anomalies

    def outcome(self, name: Outcome) -> list[Any]:
        """The elements with that outcome, sorted."""
        return _sorted(e.element for e in self.elements.values() if e.outcome == name)

    def counts(self) -> dict[str, int]:
        c = Counter(e.outcome for e in self.elements.values())
        return {"attempted": len(self.elements)} | {o: c[o] for o in OUTCOMES}

    def latencies(self, kind: Literal["stable", "lost"] = "stable") -> dict[float, float]:
        return quantiles(_latencies(self.elements.values(), kind))


@dataclass(slots=True)
class SetFullResult:
    keys: dict[Any, SetKeyResult] = field(default_factory=dict)
    anomalies: list[Anomaly] = field(default_factory=list)
    linearizable: bool = False

    @property
    def valid(self) -> bool:
        return not self.anomalies

    @property
    def verdict(self) -> Literal["ok", "violation", "unknown"]:
        """``unknown`` (as Jepsen's ``:valid? :unknown``) when nothing is wrong but no
        element ever became stable: nothing was confirmed, nothing was tested."""
        if self.anomalies:
            return "violation"
        return "ok" if any(e.outcome in ("stable", "stale") for e in self.elements()) \
            else "unknown"

    def names(self) -> list[str]:
        return sorted({a.name for a in self.anomalies})

    def elements(self, outcome: Outcome | None = None) -> list[ElementResult]:
        """Every element's result (of one outcome), key by key, in add order."""
        return [e for k in self.keys.values() for e in k.elements.values()
                if outcome is None or e.outcome == outcome]

    def outcome(self, name: Outcome) -> list[tuple[Any, Any]]:
        """(key, element) of every element with that outcome."""
        return [(e.key, e.element) for e in self.elements(name)]

    @property
    def lost(self) -> list[tuple[Any, Any]]:
        return self.outcome("lost")

    def counts(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for k in self.keys.values():
            total.update(k.counts())
        return {n: total[n] for n in ("attempted", *OUTCOMES)}

    def latencies(self, kind: Literal["stable", "lost"] = "stable") -> dict[float, float]:
        return quantiles(_latencies(self.elements(), kind))

    def summary(self, per_kind: int = 3) -> str:
        c = self.counts()
        reads = sum(k.reads for k in self.keys.values())
        mode = "linearizable set" if self.linearizable else "set"
        n = len(self.keys)
        head = (f"set-full ({mode}): {n} key{'s' * (n != 1)}, {c['attempted']} adds, "
                f"{reads} reads: " + ", ".join(f"{c[o]} {o}" for o in OUTCOMES))
        lat = self.latencies()
        if lat:
            head += "; stable latency " + _show_quantiles(lat)
        if self.valid:
            return head + f"\nverdict: {self.verdict} (nothing lost, duplicated or invented)"
        lines = [head, "anomalies " + ", ".join(self.names())]
        for name in self.names():
            found = [a for a in self.anomalies if a.name == name]
            lines += [a.render() for a in found[:per_kind]]
            if len(found) > per_kind:
                lines.append(f"... and {len(found) - per_kind} more {name}")
        return "\n".join(lines)


def quantiles(values: Iterable[float], points: Iterable[float] = POINTS
              ) -> dict[float, float]:
    """Jepsen's frequency distribution: for each point p the ⌊n·p⌋-th smallest value
    (the last for p = 1); empty for no values."""
    xs = sorted(values)
    if not xs:
        return {}
    n = len(xs)
    return {p: xs[min(n - 1, math.floor(n * p))] for p in points}


def check_set_full(history: History | Iterable[Event], *, linearizable: bool = False
                   ) -> SetFullResult:
    """Check adds and reads of sets, one per key (see the module doc).

    Raises HistoryError (a ValueError) on a history of another shape: an element added
    twice to one key, a read that returns no list, an element that is not hashable."""
    adds, reads, dups = _parse(history)
    result = SetFullResult(linearizable=linearizable)
    for key in _sorted(adds.keys() | reads.keys()):
        kr = _check_key(key, adds.get(key, {}), reads.get(key, []), dups.get(key, []),
                        linearizable)
        result.keys[key] = kr
        result.anomalies += kr.anomalies
    return result


# ====================================================================== the history
_Dup = tuple[SetRead, dict[Any, int]]


def _parse(history: History | Iterable[Event]
           ) -> tuple[dict[Any, dict[Any, SetAdd]], dict[Any, list[SetRead]],
                      dict[Any, list[_Dup]]]:
    adds: dict[Any, dict[Any, SetAdd]] = {}
    reads: dict[Any, list[SetRead]] = {}
    dups: dict[Any, list[_Dup]] = {}
    try:
        for idx, inv, e in pairs(history):
            if inv.f == "add":
                element = _element(idx, inv.value)
                status = "info" if e is None else e.type
                ret = e.time if e is not None and e.type == "ok" else math.inf
                mine = adds.setdefault(inv.key, {})
                if element in mine:
                    raise HistoryError(f"event {idx}: element {element!r} added to key "
                                       f"{inv.key!r} twice (elements must be unique per key; "
                                       f"the first add is event {mine[element].index})", (idx,))
                mine[element] = SetAdd(idx, inv.process, inv.key, element, status, inv.time, ret)
            elif inv.f == "read" and e is not None and e.type == "ok":
                raw, values = _elements(idx, e.value)
                r = SetRead(idx, inv.process, inv.key, inv.time, e.time, values)
                reads.setdefault(inv.key, []).append(r)
                if len(values) != len(raw):
                    twice = {v: n for v, n in Counter(raw).items() if n > 1}
                    dups.setdefault(inv.key, []).append((r, twice))
    except HistoryError:
        raise
    except ValueError as malformed:  # from pairs: a malformed history
        raise HistoryError(str(malformed)) from None
    return adds, reads, dups


def _element(idx: int, v: Any) -> Any:
    """An element as read back from JSON: lists (unhashable) become tuples."""
    v = tuple(v) if isinstance(v, list) else v
    try:
        hash(v)
    except TypeError:
        raise HistoryError(f"event {idx}: element {v!r:.60} is not a number or a string",
                           (idx,)) from None
    return v


def _elements(idx: int, value: Any) -> tuple[Any, frozenset[Any]]:
    """A read's elements as listed (duplicates kept) and as a set."""
    if value is None:
        return (), frozenset()
    if not isinstance(value, list | tuple | set | frozenset):
        raise HistoryError(f"event {idx}: a read returns the key's elements as a list, "
                           f"not {value!r:.60}", (idx,))
    try:
        return value, frozenset(value)
    except TypeError:
        items = [_element(idx, v) for v in value]
        return items, frozenset(items)


# ====================================================================== one key
def _check_key(key: Any, adds: dict[Any, SetAdd], reads: list[SetRead],
               dups: list[_Dup], linearizable: bool) -> SetKeyResult:
    """Classify each element of ``key`` (Jepsen's set-full on one set), in time linear in
    the reads' total size: three sweeps of set differences over the reads."""
    result = SetKeyResult(key, reads=len(reads))
    reads = sorted(reads, key=lambda r: (r.call, r.index))
    calls = [r.call for r in reads]
    m = len(reads)
    first_seen: dict[Any, SetRead] = {}  # by completion
    found: set[Any] = set()
    for r in sorted(reads, key=lambda r: (r.ret, r.index)):
        new = r.values - found
        found |= new
        first_seen.update(dict.fromkeys(new, r))
    last_seen: dict[Any, int] = {}  # position in ``reads`` (by invocation)
    found = set()
    for j in range(m - 1, -1, -1):
        new = reads[j].values - found
        found |= new
        last_seen.update(dict.fromkeys(new, j))
    last_missing: dict[Any, int] = {}
    unresolved = set(adds)  # in every read after j
    for j in range(m - 1, -1, -1):
        if not unresolved:
            break
        values = reads[j].values
        last_missing.update(dict.fromkeys(unresolved - values, j))
        unresolved &= values

    lost: list[ElementResult] = []
    stale: list[ElementResult] = []
    for v, add in sorted(adds.items(), key=lambda kv: kv[1].index):
        seen = first_seen.get(v)
        known_at = min(add.ret, seen.ret if seen is not None else math.inf)
        known = None if known_at == math.inf else known_at
        ls, lm = last_seen.get(v), last_missing.get(v)
        out: Outcome = "never-read"
        stable_latency = lost_latency = None
        lost_from, missing = None, 0
        if m and ls == m - 1:  # the last read shows it (so a read saw it: it is known)
            late = lm is not None and reads[lm].call > known_at
            out = "stale" if late else "stable"
            stable_latency = reads[lm].call - known_at if late and lm is not None else 0.0
        elif known is not None and m and reads[-1].call > known:
            q = max(0 if ls is None else ls + 1, bisect.bisect_right(calls, known))
            out, lost_from, missing = "lost", reads[q], m - q
            lost_latency = reads[q].call - known
        el = ElementResult(key, v, out, add, known, seen,
                           None if ls is None else reads[ls],
                           None if lm is None else reads[lm], lost_from, missing,
                           reads[-1] if reads else None, stable_latency, lost_latency)
        if out == "lost":
            lost.append(el)
        elif out == "stale":
            stale.append(el)
        result.elements[v] = el
        if seen is not None and seen.ret < add.call:
            _report(result, "read-before-add", f"read R{seen.index} of key {key!r} "
                    f"completed at {_t(seen.ret)} showing element {v!r}, but its add "
                    f"(event {add.index}) was invoked only at {_t(add.call)}",
                    (seen.index, add.index))
        if seen is not None and add.status == "fail":
            _report(result, "failed-add-seen", f"read R{seen.index} of key {key!r} shows "
                    f"element {v!r}, whose add (event {add.index}) failed",
                    (seen.index, add.index))
    for v in _sorted(first_seen.keys() - adds.keys()):
        r = first_seen[v]
        _report(result, "unexpected", f"read R{r.index} of key {key!r} shows element "
                f"{v!r}, which no add of this key attempted", (r.index,))
    reported: set[Any] = set()
    for r, twice in dups:
        for v in _sorted(twice.keys() - reported):
            reported.add(v)
            _report(result, "duplicated", f"read R{r.index} of key {key!r} lists element "
                    f"{v!r} {twice[v]} times", (r.index,))
    for el in lost:
        _report(result, "lost", el.describe(), _indices(el))
    if linearizable:
        for el in stale:
            _report(result, "stale", el.describe() + " (a linearizable set shows an "
                    "element to every read that begins after it is known)", _indices(el))
    return result


def _indices(el: ElementResult) -> tuple[int, ...]:
    reads = (el.first_seen, el.last_missing if el.outcome == "stale" else el.lost_from)
    return (el.add.index, *(r.index for r in reads if r is not None))


def _report(result: SetKeyResult, name: str, text: str, events: tuple[int, ...]) -> None:
    result.anomalies.append(Anomaly(name, text, events))


def _latencies(elements: Iterable[ElementResult], kind: str) -> list[float]:
    if kind == "stable":
        return [e.stable_latency for e in elements if e.stable_latency is not None]
    return [e.lost_latency for e in elements if e.lost_latency is not None]


def _sorted(xs: Iterable[Any]) -> list[Any]:
    items = list(xs)
    try:
        return sorted(items)
    except TypeError:
        return sorted(items, key=repr)


def _t(x: float | None) -> str:
    return "never" if x is None else f"{x:g}"


def _show_quantiles(q: dict[float, float]) -> str:
    names = {0.0: "min", 0.5: "p50", 0.95: "p95", 0.99: "p99", 1.0: "max"}
    return ", ".join(f"{names.get(p, p)} {_t(v)}" for p, v in q.items())
