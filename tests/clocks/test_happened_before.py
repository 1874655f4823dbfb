"""Every clock against the happened-before relation itself, on generated executions.

Hypothesis draws an execution: 2-5 processes and a sequence of local events, sends and
receives, where a receive takes any message still in flight (so messages are reordered
and may never arrive). Each process runs every clock side by side. Happened-before is
computed by brute force, as Lamport defines it: the transitive closure of program order
and send -> receive. Then, for every pair of events, each clock must say what its paper
promises: vector clocks and DVVs exactly ``->``, Lamport and HLC ``->`` implies ``<``.

Every local event is also a *write* to one replicated key: the process is a replica,
the write's context is the state it read at one of its earlier events (possibly stale),
and messages carry the replica's siblings, merged with ``sync`` on receipt. A DVVSet must
then hold exactly the writes that no known write replaced, and VV siblings at least those.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from itertools import pairwise, product

from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.clocks import (
    Dot,
    DottedVersionVector,
    DVVSet,
    HLCTimestamp,
    HybridLogicalClock,
    LamportClock,
    Ordering,
    VectorClock,
    VVSiblings,
)

EPS = 4            # physical clocks read true time plus an offset in [0, EPS]
B, A, E, C = Ordering.BEFORE, Ordering.AFTER, Ordering.EQUAL, Ordering.CONCURRENT
EXAMPLES = settings(max_examples=150, deadline=None)


@dataclass
class Event:
    id: int
    proc: int
    kind: str                      # "local" (a write), "send" or "receive"
    preds: list[int]               # program-order predecessor, and the send of a receive
    vc: VectorClock
    lamport: LamportClock
    hlc: HLCTimestamp
    pt: int
    dvv: DottedVersionVector
    store: DVVSet[int]
    vv_store: VVSiblings[int]
    read: int = 0                  # a write: bitset of the events its context had seen


@dataclass
class Message:
    send: Event
    to: int


@dataclass
class Process:
    index: int
    node: str
    hlc: HybridLogicalClock
    vc: VectorClock = field(default_factory=VectorClock)
    lamport: LamportClock = field(default_factory=LamportClock)
    pt: int = 0
    events: list[Event] = field(default_factory=list)
    store: DVVSet[int] = field(default_factory=DVVSet)
    vv_store: VVSiblings[int] = field(default_factory=VVSiblings)


@dataclass
class Execution:
    events: list[Event]
    in_flight: list[Message]
    past: list[int]                # per event e, a bitset: e and every event -> e

    def hb(self, a: Event, b: Event) -> bool:
        """``a -> b``: brute force over the closure."""
        return a.id != b.id and bool(self.past[b.id] >> a.id & 1)


Step = tuple[str, int, int, int, int, int]
STEP = st.tuples(st.sampled_from(("local", "send", "receive")), st.integers(0, 4),
                 st.integers(0, 3), st.integers(0, 30), st.integers(0, 3), st.integers(0, EPS))
# draw the length first: a plain st.lists stays short, and short runs have no concurrency
STEPS = st.integers(1, 40).flatmap(lambda k: st.lists(STEP, min_size=k, max_size=k))


def run(n: int, steps: list[Step]) -> Execution:
    """Interpret the drawn steps as an execution, every clock in every process."""
    procs = [Process(i, f"p{i}", HybridLogicalClock(max_offset=EPS)) for i in range(n)]
    events: list[Event] = []
    in_flight: list[Message] = []
    past: list[int] = []
    true_time = 0
    for kind, who, target, pick, dt, offset in steps:
        true_time += dt
        msg = in_flight.pop(pick % len(in_flight)) if kind == "receive" and in_flight else None
        proc = procs[msg.to if msg else who % n]
        proc.pt = max(proc.pt, true_time + offset)       # monotone, within EPS of truth
        preds = [proc.events[-1].id] if proc.events else []
        if msg is not None:
            event = _receive(proc, len(events), [*preds, msg.send.id], msg.send)
        elif kind == "send":
            event = _tick(proc, len(events), "send", preds)
            in_flight.append(Message(event, (proc.index + 1 + target % (n - 1)) % n))
        else:
            event = _write(proc, len(events), preds, pick, past)
        bits = 1 << event.id                 # the transitive closure, by brute force
        for p in event.preds:
            bits |= past[p]
        events.append(event)
        past.append(bits)
        proc.events.append(event)
    return Execution(events, in_flight, past)


def _tick(proc: Process, eid: int, kind: str, preds: list[int]) -> Event:
    """A local or send event: every clock ticks."""
    dvv = DottedVersionVector.event(proc.node, proc.vc)
    proc.vc, proc.lamport = proc.vc.tick(proc.node), proc.lamport.tick()
    stamp = proc.hlc.now(proc.pt)
    return Event(eid, proc.index, kind, preds, proc.vc, proc.lamport, stamp, proc.pt, dvv,
                 proc.store, proc.vv_store)


def _receive(proc: Process, eid: int, preds: list[int], send: Event) -> Event:
    merged = proc.vc.merge(send.vc)
    dvv = DottedVersionVector.event(proc.node, merged)
    proc.vc, proc.lamport = merged.tick(proc.node), proc.lamport.merge(send.lamport)
    stamp = proc.hlc.update(send.hlc, proc.pt)
    proc.store, proc.vv_store = proc.store.sync(send.store), proc.vv_store.sync(send.vv_store)
    return Event(eid, proc.index, "receive", preds, proc.vc, proc.lamport, stamp, proc.pt,
                 dvv, proc.store, proc.vv_store)


def _write(proc: Process, eid: int, preds: list[int], pick: int, past: list[int]) -> Event:
    """A client write through this replica, with the context of an earlier read here:
    the latest state (most often), an older one, or nothing at all."""
    choices = len(proc.events) + 1
    back = pick % choices if pick < 2 * choices else 0
    if back < len(proc.events):
        seen = proc.events[-1 - back]
        ctx, vv_ctx, read = seen.store.context(), seen.vv_store.context(), past[seen.id]
    else:
        ctx, vv_ctx, read = VectorClock(), VectorClock(), 0
    proc.store = proc.store.update(ctx, proc.node, eid)
    proc.vv_store = proc.vv_store.update(vv_ctx, proc.node, eid)
    event = _tick(proc, eid, "local", preds)
    event.read = read
    return event


@st.composite
def executions(draw: st.DrawFn) -> Execution:
    return run(draw(st.integers(2, 5)), draw(STEPS))


def _sample(events: list[Event], k: int, seed: int) -> list[Event]:
    return events if len(events) <= k else random.Random(seed).sample(events, k)


# -- the clocks against happened-before -------------------------------------------------


@EXAMPLES
@given(executions())
def test_vector_clocks_are_exactly_happened_before(ex: Execution) -> None:
    for a, b in product(ex.events, repeat=2):
        expected = E if a is b else B if ex.hb(a, b) else A if ex.hb(b, a) else C
        assert a.vc.compare(b.vc) is expected, (a.id, b.id, a.vc, b.vc)
        assert (a.vc < b.vc) == ex.hb(a, b)


@EXAMPLES
@given(executions())
def test_lamport_respects_the_clock_condition(ex: Execution) -> None:
    for a, b in product(ex.events, repeat=2):
        if ex.hb(a, b):
            assert a.lamport.time < b.lamport.time
            assert a.lamport.compare(b.lamport) is B


@EXAMPLES
@given(executions())
def test_hlc_respects_causality_and_stays_near_physical_time(ex: Execution) -> None:
    for a, b in product(ex.events, repeat=2):
        if ex.hb(a, b):
            assert a.hlc < b.hlc, (a.id, b.id, a.hlc, b.hlc)
    for e in ex.events:
        assert e.pt <= e.hlc.wall <= e.pt + EPS
    for p in {e.proc for e in ex.events}:
        stamps = [e.hlc for e in ex.events if e.proc == p]
        assert all(x < y for x, y in pairwise(stamps))


@EXAMPLES
@given(executions())
def test_dvv_dots_and_descends_are_happened_before(ex: Execution) -> None:
    counts: dict[int, int] = {}
    for e in ex.events:
        counts[e.proc] = counts.get(e.proc, 0) + 1
        assert e.dvv.dot == Dot(f"p{e.proc}", counts[e.proc])
        assert e.dvv.as_vector() == e.vc
    for a, b in product(ex.events, repeat=2):
        assert a.dvv.descends(b.dvv) == (a is b or ex.hb(b, a))
        assert a.dvv.compare(b.dvv) is a.vc.compare(b.vc)


@EXAMPLES
@given(executions())
def test_dvvset_holds_exactly_the_writes_no_known_write_replaced(ex: Execution) -> None:
    writes = [w for w in ex.events if w.kind == "local"]
    for e in ex.events:
        known = [w for w in writes if ex.past[e.id] >> w.id & 1]
        live = sorted(w.id for w in known if not any(x.read >> w.id & 1 for x in known))
        assert sorted(e.store.values()) == live, (e.id, e.store)
        assert set(e.vv_store.values()) >= set(live)         # coarse, but loses nothing
        assert e.store.size() <= e.vv_store.size()


KvOp = tuple[str, int, int, int]     # (operation, client, replica, other replica)
KV_OP = st.tuples(st.sampled_from(("write", "read", "sync")), st.integers(0, 3),
                  st.integers(0, 2), st.integers(0, 2))
KV_OPS = st.integers(1, 40).flatmap(lambda k: st.lists(KV_OP, min_size=k, max_size=k))


@EXAMPLES
@given(KV_OPS)
def test_dvvset_with_clients_reading_and_writing_anywhere(ops: list[KvOp]) -> None:
    """Clients read from one replica and write through another with that (stale)
    context; replicas sync both ways. Each replica must hold exactly the writes it
    knows of whose dot no known write's context covers."""
    nodes = ["r0", "r1", "r2"]
    dvv: dict[str, DVVSet[int]] = {n: DVVSet() for n in nodes}
    vv: dict[str, VVSiblings[int]] = {n: VVSiblings() for n in nodes}
    known: dict[str, frozenset[int]] = {n: frozenset() for n in nodes}
    contexts = [(VectorClock(), VectorClock())] * 4
    dots: dict[int, Dot] = {}
    read_by: dict[int, VectorClock] = {}
    for i, (op, client, x, y) in enumerate(ops):
        n, m = nodes[x], nodes[y]
        if op == "write":
            ctx, vv_ctx = contexts[client]
            dvv[n], vv[n] = dvv[n].update(ctx, n, i), vv[n].update(vv_ctx, n, i)
            dots[i], read_by[i] = Dot(n, dvv[n].join()[n]), ctx
            known[n] = known[n] | {i}
        elif op == "read":
            contexts[client] = (dvv[n].context(), vv[n].context())
        elif n != m:
            dvv[n] = dvv[m] = dvv[n].sync(dvv[m])
            vv[n] = vv[m] = vv[n].sync(vv[m])
            known[n] = known[m] = known[n] | known[m]
    for n in nodes:
        live = {w for w in known[n]
                if not any(dots[w].counter <= read_by[x][dots[w].node] for x in known[n])}
        assert set(dvv[n].values()) == live and dvv[n].size() == len(live)
        assert set(vv[n].values()) >= live


# -- algebra: compare is a partial order, merge and sync are semilattice joins ----------


@EXAMPLES
@given(executions())
def test_compare_is_a_partial_order(ex: Execution) -> None:
    sample = _sample(ex.events, 12, len(ex.events))
    for a in sample:
        assert a.vc.compare(a.vc) is E and a.dvv.compare(a.dvv) is E
    for a, b in product(sample, repeat=2):
        assert b.vc.compare(a.vc) is a.vc.compare(b.vc).flipped()
        assert not (a.vc <= b.vc and b.vc <= a.vc) or a.vc == b.vc
    for a, b, c in product(sample, repeat=3):
        if a.vc.compare(b.vc) is B and b.vc.compare(c.vc) is B:
            assert a.vc.compare(c.vc) is B


@EXAMPLES
@given(executions())
def test_vector_merge_and_dvvset_sync_are_joins(ex: Execution) -> None:
    sample = _sample(ex.events, 6, len(ex.events) + 1)
    for a, b in product(sample, repeat=2):
        assert a.vc.merge(b.vc) == b.vc.merge(a.vc)
        assert a.vc <= a.vc.merge(b.vc) and a.vc.merge(a.vc) == a.vc
        assert a.store.sync(b.store) == b.store.sync(a.store)
        assert a.store.sync(a.store) == a.store
    for a, b, c in product(sample[:4], repeat=3):
        assert a.vc.merge(b.vc).merge(c.vc) == a.vc.merge(b.vc.merge(c.vc))
        assert a.store.sync(b.store).sync(c.store) == a.store.sync(b.store.sync(c.store))
    final = [m.send.store for m in ex.in_flight] + [e.store for e in ex.events[-3:]]
    left = right = DVVSet[int]()
    for s in final:
        left = left.sync(s)
    for s in reversed(final):
        right = s.sync(right)
    assert left == right


# -- the fast paths of VectorClock against the plain-dict definitions ------------------

COUNTERS = st.dictionaries(st.sampled_from("abcdef"), st.integers(0, 4), max_size=6)


def _dict_compare(a: dict[str, int], b: dict[str, int]) -> Ordering:
    less = any(a.get(k, 0) < b.get(k, 0) for k in a.keys() | b.keys())
    more = any(a.get(k, 0) > b.get(k, 0) for k in a.keys() | b.keys())
    return C if less and more else B if less else A if more else E


@settings(max_examples=300, deadline=None)
@given(COUNTERS, COUNTERS, COUNTERS)
def test_vector_clock_matches_the_pointwise_definitions(
        a: dict[str, int], b: dict[str, int], c: dict[str, int]) -> None:
    x, y, z = VectorClock(a), VectorClock(b), VectorClock(c)
    merged = {k: max(a.get(k, 0), b.get(k, 0)) for k in a.keys() | b.keys()}
    assert x.merge(y) == VectorClock(merged) and x.merge(y).total == sum(merged.values())
    assert x.compare(y) is _dict_compare(a, b)
    assert x.merge(y).merge(z) == x.merge(y.merge(z)) and x.merge(x) == x
    assert (x <= y) == (x.compare(y) in (B, E)) and (x < y) == (x.compare(y) is B)
    assert (hash(x) == hash(y)) or x != y
