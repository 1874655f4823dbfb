"""Parallel commits and status resolution, checked exhaustively on a small model.

A plain breadth-first enumeration of every interleaving (not ``protocols.explore``: that
explorer drives protocol cores over a network; here the actors are the pure functions
of ``protocols.txnkv.record`` acting on shared state, as in CockroachDB's TLA+ model
docs/tla-plus/ParallelCommits/ParallelCommits.tla, which this follows step by step):

* a *committer* (the model's ``committer`` process): its transaction writes keys a and b
  and stages its record naming both as in-flight, in any order; a write refused (a
  recovery prevented it) makes it refresh (timestamp + 1), restart (epoch + 1, rewrite
  everything) or give up and abort, for at most ``MAX_ATTEMPTS`` attempts; once every
  write is acknowledged and the record staged, it acknowledges the client (``AckClient``)
  and then makes the commit explicit (``AsyncExplicitCommit``). It may die at any step.
* ``PREVENTERS`` recoveries (the model's ``preventer`` processes), running at any time,
  concurrently with the committer (a heartbeat timeout cannot tell dead from slow):
  ``PushRecord`` (abort a PENDING record, recover a STAGING one), ``PreventWrites`` (one
  ``WriteSlot.query_and_prevent`` per step, in any order), ``RecoverRecord``
  (``Recovery.finish``; a record re-staged meanwhile is recovered again).

Every step on a key is atomic on that key (``WriteSlot``), so a late write and a
recovery's prevent race in both orders. Checked:

* P1 ``ImplicitCommitLeadsToExplicitCommit``: once implicitly committed, the record is
  never ABORTED, and ends COMMITTED;
* P2 ``AckLeadsToExplicitCommit``: once the client is acknowledged, never ABORTED, ends
  COMMITTED (and the ack is given only when implicitly or explicitly committed);
* P3 ``TemporalTxnRecordProperties``: a finalized record never changes; epoch and
  timestamp only grow; every path ends with the record finalized;
* P4 a write a recovery prevented never lands at that attempt, and the record never
  commits at the attempt (epoch, timestamp) where a write was prevented;
* A (the TLA+ model's ``assert ImplicitCommit`` before each ``record.status :=
  "committed"``, as an invariant): a COMMITTED record has every in-flight write present
  at its epoch and timestamp — the commit is atomic. Any illegal transition the record
  refuses (the model's ``assert FALSE`` branches) is a violation too.

Then two planted broken recoveries must each be caught, with the shortest interleaving
printed: one that commits a STAGING record without checking its writes (issue #36),
one whose queries do not prevent.
"""

from __future__ import annotations

import re
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from functools import partial

import pytest

from protocols.clocks.hlc import HLCTimestamp
from protocols.txnkv.record import (
    IllegalTransition,
    Intent,
    QueryOutcome,
    Recovery,
    TxnRecord,
    TxnStatus,
    Write,
    WriteOutcome,
    WriteSlot,
    abort,
    ack_allowed,
    commit,
    stage,
)

KEYS = ("a", "b")
SEQ = {"a": 1, "b": 2}
IN_FLIGHT = tuple(Write(k, SEQ[k]) for k in KEYS)
MAX_ATTEMPTS = 2


def ts(n: int) -> HLCTimestamp:
    return HLCTimestamp(n)


# ====================================================================== state

@dataclass(frozen=True, slots=True)
class Committer:
    pc: str = "write"  # write | ack | commit | done | dead
    epoch: int = 0
    ts: int = 1
    attempt: int = 1
    to_write: frozenset[str] = frozenset(KEYS)
    staged: bool = False  # this attempt's record is written
    acked: frozenset[Intent] = frozenset()  # this attempt's acknowledged writes
    mine: TxnRecord | None = None  # the record as this committer last wrote it


@dataclass(frozen=True, slots=True)
class Preventer:
    pc: str = "push"  # push | query | finish | done
    queried: TxnRecord | None = None  # the STAGING record being recovered
    found: frozenset[Write] = frozenset()
    prevented: frozenset[Write] = frozenset()


@dataclass(frozen=True, slots=True)
class State:
    record: TxnRecord
    slots: tuple[tuple[Intent | None, HLCTimestamp | None], ...]
    committer: Committer
    preventers: tuple[Preventer, ...]
    # ghost variables: what the properties remember of the path
    implicit_seen: bool = False
    acked: bool = False
    prevented: frozenset[tuple[str, int, HLCTimestamp]] = frozenset()

    def intents(self) -> list[Intent]:
        return [i for i, _ in self.slots if i is not None]


@dataclass(frozen=True)
class Config:
    """The model and what may be planted in it."""

    recoveries: tuple[type[Recovery], ...] = (Recovery,)  # one per preventer
    slot: type[WriteSlot] = WriteSlot
    max_attempts: int = MAX_ATTEMPTS  # the committer's attempts (refreshes + 1)


def initial(config: Config) -> State:
    return State(TxnRecord.begin("t", ts(1), ts(0)), tuple((None, None) for _ in KEYS),
                 Committer(), tuple(Preventer() for _ in config.recoveries))


# ====================================================================== moves

class Violation(Exception):
    """A move reached a branch the TLA+ model asserts unreachable."""


def _slot(config: Config, s: State, k: str) -> WriteSlot:
    intent, marker = s.slots[KEYS.index(k)]
    return config.slot(k, intent, marker)


def _with_slot(s: State, slot: WriteSlot) -> State:
    slots = list(s.slots)
    slots[KEYS.index(slot.key)] = (slot.intent, slot.prevented_to)
    return replace(s, slots=tuple(slots))


def _recovery(config: Config, n: int, p: Preventer) -> Recovery:
    assert p.queried is not None
    r = config.recoveries[n](p.queried)
    r.found, r.prevented = set(p.found), set(p.prevented)
    return r


def committer_moves(config: Config, s: State) -> Iterator[tuple[str, Callable[[], State]]]:
    c = s.committer
    if c.pc in ("done", "dead"):
        return
    yield "committer dies", lambda: replace(s, committer=replace(c, pc="dead"))
    if c.pc == "write":
        for k in sorted(c.to_write):
            yield f"committer writes {k}@(e{c.epoch},t{c.ts})", _write(config, s, k)
        if not c.staged:
            yield f"committer stages (e{c.epoch},t{c.ts})", lambda: _stage(s)
        if not c.to_write and c.staged:
            yield "committer acks the client", lambda: _ack(s)
    elif c.pc == "commit":
        yield "committer commits explicitly", lambda: _explicit_commit(s)


def _write(config: Config, s: State, k: str) -> Callable[[], State]:
    def move() -> State:
        c = s.committer
        slot = _slot(config, s, k)
        if slot.write(SEQ[k], c.epoch, ts(c.ts)) is WriteOutcome.OK:
            acked = c.acked | {Intent(k, SEQ[k], c.epoch, ts(c.ts))}
            return replace(_with_slot(s, slot),
                           committer=replace(c, to_write=c.to_write - {k}, acked=acked))
        raise _Refused(s)
    return move


class _Refused(Exception):
    """The write was refused: the committer's next move is a choice (see ``expand``)."""

    def __init__(self, state: State) -> None:
        self.state = state


def _after_refusal(config: Config, s: State) -> list[tuple[str, State | str]]:
    """``tscache[key] >= txn_ts``: refresh (same epoch, ts + 1, keep what landed),
    restart (epoch + 1, ts + 1, rewrite all), or give up and abort the record."""
    c = s.committer
    out: list[tuple[str, State | str]] = []
    if c.attempt < config.max_attempts:
        nxt = replace(c, attempt=c.attempt + 1, ts=c.ts + 1, staged=False)
        out.append(("refused -> refresh", replace(s, committer=nxt)))
        out.append(("refused -> restart", replace(s, committer=replace(
            nxt, epoch=c.epoch + 1, to_write=frozenset(KEYS), acked=frozenset()))))
    # a refused write cannot land at this attempt: it is not, and never will be,
    # implicitly committed, so the committer may roll back (unless already aborted)
    try:
        rolled = s.record if s.record.status is TxnStatus.ABORTED else abort(s.record)
        out.append(("refused -> give up, abort", replace(
            s, record=rolled, committer=replace(c, pc="done"))))
    except IllegalTransition as e:
        out.append(("refused -> give up, abort", f"P3: illegal transition refused: {e}"))
    return out


def _stage(s: State) -> State:
    c = s.committer
    if s.record.status is TxnStatus.ABORTED:  # aborted before staging: stop
        return replace(s, committer=replace(c, pc="done"))
    if s.record.status is TxnStatus.COMMITTED:
        raise Violation("assert: the committer found its record COMMITTED before staging")
    rec = stage(s.record, IN_FLIGHT, epoch=c.epoch, write_ts=ts(c.ts))
    return replace(s, record=rec, committer=replace(c, staged=True, mine=rec))


def _ack(s: State) -> State:
    c = s.committer
    assert c.mine is not None
    if not ack_allowed(c.mine, c.acked):
        raise Violation("assert: the committer's own acks do not allow an ack")
    if not (_implicit(s) or s.record.status is TxnStatus.COMMITTED):
        raise Violation("P2: the client acknowledged while the transaction is neither "
                        f"implicitly nor explicitly committed (record {s.record.status.name})")
    return replace(s, acked=True, committer=replace(c, pc="commit"))


def _explicit_commit(s: State) -> State:
    done = replace(s.committer, pc="done")
    if s.record.status is TxnStatus.COMMITTED:  # a recovery did it
        return replace(s, committer=done)
    if s.record.status is not TxnStatus.STAGING:
        raise Violation(f"P2: acked, but the record is {s.record.status.name}")
    return replace(s, record=commit(s.record), committer=done)


def preventer_moves(config: Config, s: State) -> Iterator[tuple[str, Callable[[], State]]]:
    for n, p in enumerate(s.preventers):
        who = f"recovery{n + 1}" if len(s.preventers) > 1 else "recovery"
        put = partial(_put, n)
        if p.pc == "push":
            yield f"{who} pushes the record", partial(_push, s, p, put)
        elif p.pc == "query":
            r = _recovery(config, n, p)
            for w in r.pending():
                yield (f"{who} queries {w.key}@(e{r.record.epoch},t{r.record.write_ts.wall})",
                       partial(_query, s, config, p, w, put))
            if (decided := r.decision()) is not None:
                yield f"{who} decides {decided.name}", partial(_finish, config, s, n, p, put)


def _put(n: int, p: Preventer, s: State) -> State:
    """``s`` with preventer ``n`` now ``p``."""
    ps = list(s.preventers)
    ps[n] = p
    return replace(s, preventers=tuple(ps))


def _push(s: State, p: Preventer, put: Callable[[Preventer, State], State]) -> State:
    """``PushRecord``."""
    if s.record.status is TxnStatus.PENDING:  # not staged: abort it
        return put(replace(p, pc="done"), replace(s, record=abort(s.record)))
    if s.record.status.finalized:
        return put(replace(p, pc="done"), s)
    return put(Preventer("query", s.record), s)


def _query(s: State, config: Config, p: Preventer, w: Write,
           put: Callable[[Preventer, State], State]) -> State:
    """One ``QueryIntent`` of ``PreventWrites``, atomic on its key."""
    assert p.queried is not None
    slot = _slot(config, s, w.key)
    outcome = slot.query_and_prevent(w.seq, p.queried.epoch, p.queried.write_ts)
    s2 = _with_slot(s, slot)
    if outcome is QueryOutcome.FOUND:
        return put(replace(p, found=p.found | {w}), s2)
    seen = s2.prevented | {(w.key, p.queried.epoch, p.queried.write_ts)}
    return put(replace(p, prevented=p.prevented | {w}), replace(s2, prevented=seen))


def _finish(config: Config, s: State, n: int, p: Preventer,
            put: Callable[[Preventer, State], State]) -> State:
    """``RecoverRecord``: finalize, or recover the re-staged record anew."""
    new = _recovery(config, n, p).finish(s.record)
    if new.status is TxnStatus.STAGING:
        return put(Preventer("push"), s)
    return put(replace(p, pc="done"), replace(s, record=new))


# ====================================================================== properties

# The properties' own definitions, spelled out from the TLA+ model and not taken from
# the library under test (a wrong ``counts`` must not also bend the check).

def _landed(s: State, key: str, epoch: int, at: HLCTimestamp) -> bool:
    """``intent_writes[k].epoch = record.epoch /\\ intent_writes[k].ts <= record.ts``."""
    intent = s.slots[KEYS.index(key)][0]
    return intent is not None and intent.epoch == epoch and intent.ts <= at


def _all_landed(s: State) -> bool:
    return all(_landed(s, k, s.record.epoch, s.record.write_ts) for k in KEYS)


def _implicit(s: State) -> bool:
    """``ImplicitCommit``: STAGING and every key's intent at its epoch, at or below its
    timestamp."""
    return s.record.status is TxnStatus.STAGING and _all_landed(s)


def state_violations(s: State) -> list[str]:
    out = []
    rec = s.record
    if s.implicit_seen and rec.status is TxnStatus.ABORTED:
        out.append("P1: implicitly committed, then ABORTED")
    if s.acked and rec.status is TxnStatus.ABORTED:
        out.append("P2: acknowledged to the client, then ABORTED")
    for key, epoch, at in s.prevented:
        if _landed(s, key, epoch, at):
            out.append(f"P4: the write of {key} prevented at (e{epoch},t{at.wall}) "
                       "landed later")
        if rec.status is TxnStatus.COMMITTED and (rec.epoch, rec.write_ts) == (epoch, at):
            out.append(f"P4: COMMITTED at (e{epoch},t{at.wall}), where a write was "
                       "prevented")
    if rec.status is TxnStatus.COMMITTED and not _all_landed(s):
        out.append("A: COMMITTED with an in-flight write missing at its epoch/timestamp")
    return out


def move_violations(before: State, after: State) -> list[str]:
    a, b = before.record, after.record
    out = []
    if a.status.finalized and b != a:
        out.append(f"P3: finalized {a.status.name} record changed to {b.status.name}")
    if b.epoch < a.epoch or b.write_ts < a.write_ts:
        out.append("P3: epoch or timestamp went down")
    return out


def end_violations(s: State) -> list[str]:
    out = []
    if not s.record.status.finalized:
        out.append(f"P3: the path ends with the record {s.record.status.name}")
    if s.implicit_seen and s.record.status is not TxnStatus.COMMITTED:
        out.append("P1: implicitly committed, but never explicitly COMMITTED")
    if s.acked and s.record.status is not TxnStatus.COMMITTED:
        out.append("P2: acknowledged, but never COMMITTED")
    return out


# ====================================================================== search

@dataclass
class Result:
    states: int
    edges: int
    interleavings: int  # maximal paths from the initial state
    terminal: int
    counterexamples: dict[str, list[str]]  # property -> shortest path (its moves)
    seconds: float
    outcomes: set[TxnStatus]
    moves_seen: set[str]  # the kinds of move taken somewhere (reachability)

    def shortest(self) -> tuple[str, list[str]]:
        return min(self.counterexamples.items(), key=lambda kv: (len(kv[1]), kv[0]))


def successors(config: Config, s: State) -> list[tuple[str, State | str]]:
    """Every move from ``s``: (label, next state), or (label, violation text)."""
    out: list[tuple[str, State | str]] = []
    for label, move in [*committer_moves(config, s), *preventer_moves(config, s)]:
        try:
            out.append((label, move()))
        except _Refused as r:
            out.extend((f"{label}: {lab}", st) for lab, st in _after_refusal(config, r.state))
        except Violation as e:
            out.append((label, str(e)))
        except IllegalTransition as e:  # the record refused it: an invalid transition
            out.append((label, f"P3: illegal transition refused: {e}"))
    return out


def explore(config: Config) -> Result:
    start = time.perf_counter()
    init = initial(config)
    parent: dict[State, tuple[State, str] | None] = {init: None}
    children: dict[State, list[State]] = {}
    found: dict[str, list[str]] = {}
    queue = deque([init])

    def path(s: State) -> list[str]:
        moves = []
        while (p := parent[s]) is not None:
            s, label = p
            moves.append(label)
        return moves[::-1]

    def report(problems: list[str], moves: list[str]) -> None:
        for prob in problems:
            key = prob.split(":")[0]
            if key not in found or len(moves) < len(found[key]):
                found[key] = [*moves, f"!! {prob}"]

    report(state_violations(init), [])
    edges = 0
    seen: set[str] = set()
    while queue:
        s = queue.popleft()
        kids = children[s] = []
        nxt = successors(config, s)
        if not nxt:
            report(end_violations(s), path(s))
        for label, t in nxt:
            edges += 1
            seen.add(re.sub(r"recovery\d", "recovery", re.sub(r"@\(e\d+,t\d+\)", "", label)))
            if isinstance(t, str):
                report([t], [*path(s), label])
                continue
            t = replace(t, implicit_seen=t.implicit_seen
                        or _implicit(t))
            report(move_violations(s, t), [*path(s), label])
            kids.append(t)
            if t not in parent:
                parent[t] = (s, label)
                report(state_violations(t), [*path(t)])
                queue.append(t)

    paths = _count_paths(init, children)
    ends = [s for s in parent if not children[s]]
    return Result(len(parent), edges, paths, len(ends), found,
                  time.perf_counter() - start, {s.record.status for s in ends}, seen)


def _count_paths(init: State, children: dict[State, list[State]]) -> int:
    """Maximal paths from ``init``: the graph has no cycle (every move advances a
    program counter, an attempt, or the record), so count them children first."""
    paths: dict[State, int] = {}
    stack = [init]
    while stack:
        s = stack[-1]
        todo = [k for k in children[s] if k not in paths]
        if todo:
            stack.extend(todo)
            continue
        stack.pop()
        paths[s] = sum(paths[k] for k in children[s]) if children[s] else 1
    return paths[init]


# ====================================================================== planted bugs

class BlindRecovery(Recovery):
    """Commits a STAGING record without checking its writes (issue #36's broken one)."""

    def pending(self) -> list[Write]:
        return []

    def decision(self) -> TxnStatus | None:
        return TxnStatus.COMMITTED


class QueryOnlySlot(WriteSlot):
    """Answers the query, but does not prevent: a missing write may still land."""

    def _prevent(self, ts: HLCTimestamp) -> None:
        pass


# ====================================================================== tests

def _show(name: str, result: Result, prop: str | None = None) -> None:
    print(f"\n{name}: {result.states} states, {result.edges} moves, "
          f"{result.interleavings} interleavings, {result.terminal} final states, "
          f"{result.seconds:.2f} s")
    for p, moves in sorted(result.counterexamples.items(),
                           key=lambda kv: (kv[0] != prop, len(kv[1]))):
        print(f"  {p}: shortest counterexample, {len(moves) - 1} moves:")
        for i, m in enumerate(moves, 1):
            print(f"    {i:2}. {m}")


def test_parallel_commit_and_recovery_hold_on_every_interleaving() -> None:
    result = explore(Config())
    _show("correct, 1 recovery, 2 attempts", result)
    assert result.counterexamples == {}
    assert result.outcomes == {TxnStatus.COMMITTED, TxnStatus.ABORTED}  # both reached
    assert result.interleavings > 10_000
    # not vacuous: every kind of move happens somewhere
    assert {"committer acks the client", "committer commits explicitly", "committer dies",
            "recovery decides COMMITTED", "recovery decides ABORTED",
            "committer writes b: refused -> refresh", "committer writes b: refused -> restart",
            "committer writes b: refused -> give up, abort"} <= result.moves_seen


def test_two_concurrent_recoveries() -> None:
    """Two recoveries racing each other and the committer (one attempt: no refresh)."""
    result = explore(Config(recoveries=(Recovery, Recovery), max_attempts=1))
    _show("correct, 2 recoveries, 1 attempt", result)
    assert result.counterexamples == {}
    assert result.outcomes == {TxnStatus.COMMITTED, TxnStatus.ABORTED}


@pytest.mark.slow
def test_two_concurrent_recoveries_with_refreshes() -> None:
    result = explore(Config(recoveries=(Recovery, Recovery)))
    _show("correct, 2 recoveries, 2 attempts", result)
    assert result.counterexamples == {}


def test_blind_recovery_is_caught() -> None:
    """Issue #36's planted bug: the atomicity invariant A (the TLA+ model's ``assert
    ImplicitCommit`` before a commit) catches it in three moves."""
    result = explore(Config(recoveries=(BlindRecovery,)))
    _show("planted: commit a STAGING record without checking its writes", result)
    assert "A" in result.counterexamples
    _, moves = result.shortest()
    assert any("decides COMMITTED" in m for m in moves)


def test_blind_recovery_beside_a_correct_one_breaks_p4() -> None:
    """Even without A, the TLA+ model's own properties catch a blind recovery once a
    correct one runs beside it: the blind one commits the very attempt where the
    correct one prevented a write."""
    result = explore(Config(recoveries=(Recovery, BlindRecovery), max_attempts=1))
    _show("planted: a blind recovery beside a correct one", result, "P4")
    assert {"A", "P4"} <= set(result.counterexamples)


def test_query_without_prevent_is_caught() -> None:
    result = explore(Config(slot=QueryOnlySlot))
    _show("planted: query without preventing", result)
    assert {"P1", "P2", "P4"} <= set(result.counterexamples)
    _, moves = result.shortest()
    assert any("queries" in m for m in moves)
