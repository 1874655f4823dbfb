"""Isolation levels of transaction histories (protocols.check.elle.check_transactions).

The anomaly histories are Adya's (PhD thesis, MIT 1999, ch. 3-4: H_wcycle, aborted and
intermediate reads, circular information flow, read skew, write skew, lost update) and
Elle's list-append forms of them (Kingsbury & Alvaro, VLDB 2020); each is found with
its shortest cycle, and each level accepts exactly those it allows.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from protocols.check.elle import LEVELS, HistoryError, TxnResult, check_transactions
from tests.check.test_elle import Hist

RC, SI, SER, SESSION, STRICT = LEVELS  # in the order of the dict: weakest first


def check(h: Hist, level: str = "serializable", model: str = "mixed") -> TxnResult:
    result = check_transactions(h.history(), level=level, model=model)
    print(result.summary())
    return result


def ids(result: TxnResult) -> dict[int, int]:
    """process -> txn id (these histories run one txn per process)."""
    return {t.process: t.id for t in result.txns.values()}


def g0() -> Hist:
    """Adya's H_wcycle as list-append: x says T0 wrote first, y says T1 did."""
    return (Hist()
            .ok(0, [["append", "x", 1], ["append", "y", 1]], 0, 5)
            .ok(1, [["append", "x", 2], ["append", "y", 2]], 0, 5)
            .ok(2, [["r", "x", [1, 2]], ["r", "y", [2, 1]]], 6, 7))


def g1a() -> Hist:
    """T0 wrote x=1 and aborted; T1 read x=1."""
    return (Hist()
            .fail(0, [["w", "x", 1]], 0, 1)
            .ok(1, [["r", "x", 1]], 2, 3))


def g1b() -> Hist:
    """T0 wrote x=1 then x=2; T1 read the intermediate 1."""
    return (Hist()
            .ok(0, [["w", "x", 1], ["w", "x", 2]], 0, 5)
            .ok(1, [["r", "x", 1]], 0, 5))


def g1c() -> Hist:
    """Each read the other's write: wr both ways."""
    return (Hist()
            .ok(0, [["w", "x", 1], ["r", "y", 1]], 0, 5)
            .ok(1, [["w", "y", 1], ["r", "x", 1]], 0, 5))


def g_single() -> Hist:
    """Read skew: T1 read x before T0's write and y after it."""
    return (Hist()
            .ok(0, [["w", "x", 1], ["w", "y", 1]], 0, 5)
            .ok(1, [["r", "x", None], ["r", "y", 1]], 0, 5))


def g2_item() -> Hist:
    """Write skew (Adya's H_2): both read x and y, each writes one of them."""
    return (Hist()
            .ok(0, [["r", "x", None], ["r", "y", None], ["w", "y", 1]], 0, 5)
            .ok(1, [["r", "x", None], ["r", "y", None], ["w", "x", 1]], 0, 5))


def lost_update() -> Hist:
    """Adya's H_lost: T1 and T2 both read x=10 and both wrote x."""
    return (Hist()
            .ok(0, [["w", "x", 10]], 0, 1)
            .ok(1, [["r", "x", 10], ["w", "x", 14]], 2, 5)
            .ok(2, [["r", "x", 10], ["w", "x", 15]], 2, 5))


def stale_read() -> Hist:
    """T1 began after T0's write was acknowledged, yet read nil: fine unless real time
    counts."""
    return (Hist()
            .ok(0, [["w", "x", 1]], 0, 1)
            .ok(1, [["r", "x", None]], 2, 3))


def own_write_unseen() -> Hist:
    """Process 0 wrote x=1, then read nil in its next txn: breaks its own session."""
    return (Hist()
            .ok(0, [["w", "x", 1]], 0, 1)
            .ok(0, [["r", "x", None]], 2, 3))


# name, history, the anomaly, the processes of its cycle (None: not a cycle), levels
# (weakest first) that reject it
CASES: list[tuple[str, Callable[[], Hist], str, set[int] | None, set[str]]] = [
    ("G0", g0, "G0", {0, 1}, {RC, SI, SER, SESSION, STRICT}),
    ("G1a", g1a, "G1a", None, {RC, SI, SER, SESSION, STRICT}),
    ("G1b", g1b, "G1b", None, {RC, SI, SER, SESSION, STRICT}),
    ("G1c", g1c, "G1c", {0, 1}, {RC, SI, SER, SESSION, STRICT}),
    ("G-single", g_single, "G-single", {0, 1}, {SI, SER, SESSION, STRICT}),
    ("G2-item", g2_item, "G2-item", {0, 1}, {SER, SESSION, STRICT}),
    ("lost-update", lost_update, "lost-update", None, {SI, SER, SESSION, STRICT}),
    ("stale-read", stale_read, "G-single-realtime", {0, 1}, {STRICT}),
]


@pytest.mark.parametrize(("case", "build", "name", "procs", "rejected"), CASES,
                         ids=[c[0] for c in CASES])
def test_each_anomaly_is_found_with_its_cycle(case: str, build: Callable[[], Hist],
                                              name: str, procs: set[int] | None,
                                              rejected: set[str]) -> None:
    result = check(build(), level=STRICT)
    found = [a for a in result.anomalies if a.name == name]
    assert found, result.summary()
    if procs is not None:
        cycle = found[0]
        assert set(cycle.txns) == {ids(result)[p] for p in procs}
        assert len(cycle.edges) == len(cycle.txns) == len(procs)  # the shortest cycle
        assert [b for _, b, *_ in cycle.edges] == [*cycle.txns[1:], cycle.txns[0]]


@pytest.mark.parametrize(("case", "build", "name", "procs", "rejected"), CASES,
                         ids=[c[0] for c in CASES])
def test_each_level_rejects_exactly_what_it_forbids(case: str, build: Callable[[], Hist],
                                                    name: str, procs: set[int] | None,
                                                    rejected: set[str]) -> None:
    verdicts = {lv: check(build(), level=lv).valid for lv in LEVELS}
    assert verdicts == {lv: lv not in rejected for lv in LEVELS}


def test_write_skew_passes_snapshot_isolation_and_is_shown_as_allowed() -> None:
    result = check(g2_item(), level=SI)
    assert result.valid and result.names() == ["G2-item"]
    assert result.allowed() and not result.violations()
    assert "allowed at this level: G2-item" in result.summary()
    rws = [kind for *_, kind, _ in result.anomalies[0].edges]
    assert rws == ["rw", "rw"]


def test_cycles_tell_why_each_edge_holds() -> None:
    g = check(g_single()).anomalies[0]
    assert [kind for _, _, kind, _ in g.edges].count("rw") == 1
    assert "T1 read x=nil (the initial version), before T0 wrote 1" in g.explanation
    assert "T1 read y=1, written by T0" in g.explanation
    lost = check(lost_update(), level=SI)
    text = next(a for a in lost.anomalies if a.name == "lost-update").explanation
    assert "T2 and T3 both read x=10 and then wrote x (T2 14, T3 15): neither saw" in text


def test_list_append_forms_of_the_anomalies() -> None:
    """Elle's list-append versions: read skew, write skew, lost update. A list's order
    is known from its reads only, so each has a later read of the whole list."""
    single = (Hist()
              .ok(0, [["append", "x", 1], ["append", "y", 1]], 0, 5)
              .ok(1, [["r", "x", None], ["r", "y", [1]]], 0, 5)
              .ok(2, [["r", "x", [1]]], 6, 7))
    assert check(single, level=SI).names() == ["G-single"]
    skew = (Hist()
            .ok(0, [["r", "x", None], ["append", "y", 1]], 0, 5)
            .ok(1, [["r", "y", None], ["append", "x", 1]], 0, 5)
            .ok(2, [["r", "x", [1]], ["r", "y", [1]]], 6, 7))
    assert check(skew, level=SI).valid and not check(skew).valid
    lost = (Hist()
            .ok(0, [["r", "x", None], ["append", "x", 1]], 0, 5)
            .ok(1, [["r", "x", None], ["append", "x", 2]], 0, 5)
            .ok(2, [["r", "x", [1, 2]]], 6, 7))
    assert {"lost-update", "G-single"} <= set(check(lost, level=SI).names())
    assert check(lost, level=RC).valid


def test_session_order_only_matters_for_session_and_strict_levels() -> None:
    assert check(own_write_unseen(), level=SER).valid
    for level in (SESSION, STRICT):
        result = check(own_write_unseen(), level=level)
        assert result.names() == ["G-single-process"], level
        assert [k for *_, k, _ in result.anomalies[0].edges] == ["process", "rw"] or \
            sorted(k for *_, k, _ in result.anomalies[0].edges) == ["process", "rw"]


def test_an_acknowledged_append_lost_is_strict_only() -> None:
    h = (Hist()
         .ok(0, [["append", "x", 1]], 0, 1)
         .ok(1, [["append", "x", 2]], 2, 3)
         .ok(2, [["r", "x", [2]]], 4, 5))
    assert "lost-append" in check(h, level=STRICT).names()
    assert check(h, level=SER).valid


def test_version_order_known_only_from_a_read_then_a_write() -> None:
    """Blind writes give no order: two txns writing x are not a cycle; the reader of the
    first version that T2 overwrote after reading it gets an rw edge to T2."""
    blind = (Hist()
             .ok(0, [["w", "x", 1], ["w", "y", 2]], 0, 5)
             .ok(1, [["w", "x", 2], ["w", "y", 1]], 0, 5))
    assert check(blind).valid and check(blind).edges == 0
    chain = (Hist()
             .ok(0, [["w", "x", 1]], 0, 1)
             .ok(1, [["r", "x", 1], ["w", "x", 2]], 2, 3)
             .ok(2, [["r", "x", 1]], 2, 9)
             .ok(3, [["r", "x", None]], 0, 9))
    result = check(chain)
    # T0 ww+wr T1, T0 wr T2, T2 rw T1, and T3 rw T0 only: nil's next version is 1, and
    # 2 comes after 1 (an rw edge from T3 to T1 would follow from the path)
    assert result.valid and result.edges == 4


def test_g0_on_registers_needs_reads_before_the_writes() -> None:
    """Adya's H_wcycle on registers: each txn's write of one key came after the other's
    (it read it first), so the version orders say T0 < T1 on x and T1 < T0 on y."""
    h = (Hist()
         .ok(0, [["w", "x", 1], ["r", "y", 2], ["w", "y", 1]], 0, 5)
         .ok(1, [["r", "x", 1], ["w", "x", 2], ["w", "y", 2]], 0, 5))
    result = check(h, level=RC)
    assert "G0" in result.names() and not result.valid
    g0 = next(a for a in result.anomalies if a.name == "G0")
    assert [k for *_, k, _ in g0.edges] == ["ww", "ww"]


def test_mixed_models_in_one_txn() -> None:
    """The client API mixes micro-ops: read skew across a list and a register."""
    h = (Hist()
         .ok(0, [["r", "x", None], ["append", "x", 1], ["w", "y", 1]], 0, 5)
         .ok(1, [["r", "x", None], ["r", "y", 1]], 0, 5)
         .ok(2, [["r", "x", [1]]], 6, 7))
    assert check(h).names() == ["G-single"]
    with pytest.raises(HistoryError, match="rw-register micro-op"):
        check(h, model="rw-register")


def test_info_writes_someone_read_are_committed() -> None:
    h = (Hist()
         .info(0, [["w", "x", 1], ["w", "y", 1]], 0, math.inf)
         .ok(1, [["r", "x", None], ["r", "y", 1]], 1, 2))
    assert check(h).names() == ["G-single"]
    nobody = Hist().info(0, [["w", "x", 1]], 0, math.inf).ok(1, [["r", "x", None]], 1, 2)
    assert check(nobody, level=STRICT).valid


def test_internal_and_garbage_register_reads() -> None:
    h = (Hist()
         .ok(0, [["w", "x", 1], ["r", "x", 2]], 0, 1)
         .ok(1, [["r", "y", 9]], 2, 3))
    assert set(check(h, level=RC).names()) == {"internal", "garbage-read"}


@pytest.mark.parametrize(("ops", "match"), [
    ([[["w", "x", 1]], [["w", "x", 1]]], "both wrote 1 to 'x'"),
    ([[["w", "x", 1]], [["append", "x", 2]]], "a list in T.* and a register"),
    ([[["w", "x", None]]], "writes nil"),
    ([[["w", "x", [1]]]], "numbers or strings"),
    ([[["cas", "x", 1]]], "not a mixed micro-op"),
])
def test_histories_it_cannot_judge(ops: list[list[list[Any]]], match: str) -> None:
    h = Hist()
    for p, txn in enumerate(ops):
        h.ok(p, txn, 2 * p, 2 * p + 1)
    with pytest.raises(HistoryError, match=match):
        check(h)


def test_unknown_level_or_model() -> None:
    with pytest.raises(ValueError, match="levels: read-committed"):
        check(g1c(), level="linearizable")
    with pytest.raises(ValueError, match="models: list-append"):
        check(g1c(), model="counter")


# ------------------------------------------------------------------ random serial histories
OPS = [("r", "x"), ("r", "y"), ("append", "x"), ("append", "y"),
       ("r", "a"), ("r", "b"), ("w", "a"), ("w", "b")]
TXN = st.tuples(st.lists(st.sampled_from(OPS), min_size=1, max_size=4),
                st.sampled_from(["ok", "ok", "ok", "ok", "fail", "info"]),
                st.integers(0, 25), st.integers(0, 25), st.booleans())


Record = tuple[int, list[list[Any]], str, float, float]  # process, ops, status, call, ret


def serial_run(txns: list[tuple[list[tuple[str, str]], str, int, int, bool]]) -> list[Record]:
    """Run the txns one after another (txn i at time 10 i + 5) on lists x, y and registers
    a, b; each txn's interval contains that point, so the history is strictly
    serializable. Concurrent txns run on different processes; failed txns do nothing,
    info ones happen or not."""
    state: dict[str, Any] = {}
    free: list[float] = []  # per process: when its last txn returned
    out: list[Record] = []
    value = 0
    for i, (spec, status, before, after, happens) in enumerate(txns):
        at = 10 * i + 5
        call, ret = at - before, at + after + 1
        ops: list[list[Any]] = []
        new = dict(state)
        for f, k in spec:
            value += 1
            if f == "r":
                cur = new.get(k)
                ops.append(["r", k, list(cur) if isinstance(cur, tuple) else cur])
            elif f == "append":
                new[k] = (*new.get(k, ()), value)
                ops.append(["append", k, value])
            else:
                new[k] = value
                ops.append(["w", k, value])
        if status == "ok" or (status == "info" and happens):
            state = new
        p = next((j for j, done in enumerate(free) if done <= call), len(free))
        if p == len(free):
            free.append(0.0)
        free[p] = math.inf if status == "info" else ret
        out.append((p, ops, status, call, math.inf if status == "info" else ret))
    return out


def as_hist(records: list[Record]) -> Hist:
    h = Hist()
    for p, ops, status, call, ret in records:
        getattr(h, status)(p, ops, call, ret)
    return h


def serial_history(txns: list[tuple[list[tuple[str, str]], str, int, int, bool]]) -> Hist:
    return as_hist(serial_run(txns))


def plant_stale_read(records: list[Record]) -> bool:
    """Make the last ok txn's first read of a register, which saw a value acknowledged
    before that txn began, read nil instead; False if there is no such read."""
    acked = {(op[1], op[2]): ret for _, ops, status, _, ret in records if status == "ok"
             for op in ops if op[0] == "w"}
    for _, ops, status, call, _ in reversed(records):
        first = {}
        for j, (_, k, _) in enumerate(ops):
            first.setdefault(k, j)
        for k, j in first.items():
            f, _, v = ops[j]
            if status == "ok" and f == "r" and k in "ab" and acked.get((k, v), call) < call:
                ops[j] = ["r", k, None]
                return True
    return False


@settings(max_examples=150, deadline=None)
@given(st.lists(TXN, min_size=1, max_size=25))
def test_random_serial_histories_are_never_flagged(
        txns: list[tuple[list[tuple[str, str]], str, int, int, bool]]) -> None:
    result = check_transactions(serial_history(txns).history(), level=STRICT)
    assert result.anomalies == [], result.summary()


@settings(max_examples=150, deadline=None)
@given(st.lists(TXN, min_size=2, max_size=25))
def test_a_stale_read_planted_in_a_serial_history_is_always_caught(
        txns: list[tuple[list[tuple[str, str]], str, int, int, bool]]) -> None:
    """The reader of nil has an rw edge to the writer of a first version of the key,
    which reaches the acknowledged writer by ww edges (each later version was written
    by a txn that read the one before), which precedes the reader in real time."""
    records = serial_run(txns)
    assume(plant_stale_read(records))
    result = check_transactions(as_hist(records).history(), level=STRICT)
    assert not result.valid and any(a.edges for a in result.anomalies), result.summary()


# ------------------------------------------------------------------ Elle's own cases
def elle_ops(text: str) -> list[list[Any]]:
    """Elle's test notation: ``wx1ry_`` is [["w", "x", 1], ["r", "y", None]]."""
    return [[text[i], text[i + 1], None if text[i + 2] == "_" else int(text[i + 2])]
            for i in range(0, len(text), 3)]


def concurrent(*txns: str, fail: tuple[int, ...] = ()) -> Hist:
    """Each txn on its own process, all concurrent (so only data edges matter)."""
    h = Hist()
    for p, text in enumerate(txns):
        (h.fail if p in fail else h.ok)(p, elle_ops(text), 0, 5)
    return h


# from jepsen-io/elle, test/elle/rw_register_test.clj (its default inference: nil first,
# and a write follows the read before it in its txn), with the values nobody wrote in
# the original given a writer, since this checker also reports garbage reads
ELLE_CASES = [
    ("chain on one register", concurrent("rx0wx1", "rx1wx0"), ["G0", "G1c"]),
    ("chain across two registers", concurrent("rx0wy1", "ry1wx0"), ["G1c"]),
    ("G1a", concurrent("rx1", "wx1", fail=(1,)), ["G1a"]),
    ("G1b", concurrent("wx1wx2", "rx1"), ["G1b"]),
    ("G1c", concurrent("wx1ry1", "wy1rx1"), ["G1c"]),
    ("initial state", concurrent("rx_ry1", "wy1wx2"), ["G-single"]),
    ("wfr", concurrent("wy1", "ry1wx1wy2", "rx1ry1"), ["G-single"]),
    ("lost update", concurrent("wx0", "rx0wx1", "rx0wx2"), ["G2-item", "lost-update"]),
    ("blind writes: G0 cannot be seen", concurrent("wx1wy2", "wx2wy1"), []),
    ("write skew has no wr cycle", concurrent("rx_ry_wx1", "rx_ry_wy1"), ["G2-item"]),
]


@pytest.mark.parametrize(("case", "h", "expected"), ELLE_CASES,
                         ids=[c[0] for c in ELLE_CASES])
def test_elles_rw_register_cases(case: str, h: Hist, expected: list[str]) -> None:
    assert check(h, model="rw-register").names() == expected
