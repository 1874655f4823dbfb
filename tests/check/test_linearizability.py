"""The linearizability checker on histories whose verdict is known."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.check import (
    Event,
    History,
    KvRegister,
    Operation,
    check_history,
    check_operations,
    render_timeline,
)


def op(process: int, f: str, key: str, inp: object, out: object, call: float, ret: float,
       status: str = "ok") -> Operation:
    return Operation(process, f, key, inp, out, call, ret, status)  # type: ignore[arg-type]


def verdict(*ops: Operation) -> str:
    return check_operations(list(ops)).verdict


def test_sequential_history_is_linearizable() -> None:
    assert verdict(op(0, "put", "x", "1", None, 0, 1), op(0, "get", "x", None, "1", 2, 3),
                   op(1, "cas", "x", ["1", "2"], True, 4, 5),
                   op(1, "get", "x", None, "2", 6, 7), op(0, "delete", "x", None, True, 8, 9),
                   op(0, "get", "x", None, None, 10, 11)) == "ok"


def test_stale_read_is_caught() -> None:
    assert verdict(op(0, "put", "x", "1", None, 0, 1), op(0, "put", "x", "2", None, 2, 3),
                   op(1, "get", "x", None, "1", 4, 5)) == "violation"


def test_lost_write_is_caught() -> None:
    assert verdict(op(0, "put", "x", "1", None, 0, 1),
                   op(1, "get", "x", None, None, 2, 3)) == "violation"


def test_cas_anomaly_is_caught() -> None:
    # both CASes from "0" succeed, one after the other: impossible
    assert verdict(op(0, "put", "x", "0", None, 0, 1),
                   op(1, "cas", "x", ["0", "a"], True, 2, 3),
                   op(2, "cas", "x", ["0", "b"], True, 4, 5)) == "violation"
    # overlapping: only one may win
    assert verdict(op(0, "put", "x", "0", None, 0, 1),
                   op(1, "cas", "x", ["0", "a"], True, 2, 5),
                   op(2, "cas", "x", ["0", "b"], True, 3, 6)) == "violation"
    assert verdict(op(0, "put", "x", "0", None, 0, 1),
                   op(1, "cas", "x", ["0", "a"], True, 2, 5),
                   op(2, "cas", "x", ["0", "b"], False, 3, 6)) == "ok"


def test_concurrent_overlapping_ops_may_take_effect_in_either_order() -> None:
    # a read overlapping a write may see the old or the new value
    for seen in ("old", "new"):
        assert verdict(op(0, "put", "x", "old", None, 0, 1),
                       op(1, "put", "x", "new", None, 2, 6),
                       op(2, "get", "x", None, seen, 3, 4)) == "ok"
    # ... but once a read saw the new value, a later read cannot see the old one
    assert verdict(op(0, "put", "x", "old", None, 0, 1), op(1, "put", "x", "new", None, 2, 9),
                   op(2, "get", "x", None, "new", 3, 4),
                   op(3, "get", "x", None, "old", 5, 6)) == "violation"


def test_indeterminate_writes_may_or_may_not_have_happened() -> None:
    inf = math.inf
    seen = (op(0, "put", "x", "1", None, 0, inf, "info"), op(1, "get", "x", None, "1", 5, 6))
    assert verdict(*seen) == "ok"
    never = (op(0, "put", "x", "1", None, 0, inf, "info"), op(1, "get", "x", None, None, 5, 6))
    assert verdict(*never) == "ok"
    # an unknown write cannot take effect before it was invoked
    early = (op(1, "get", "x", None, "1", 0, 1), op(0, "put", "x", "1", None, 2, inf, "info"))
    assert verdict(*early) == "violation"
    ghost = (op(0, "put", "x", "1", None, 0, inf, "info"), op(1, "get", "x", None, "2", 5, 6))
    assert verdict(*ghost) == "violation"
    # an unknown cas or delete was never answered: its output is not known (None), only
    # its effect; a later read shows the effect happened
    cas = (op(0, "put", "x", "0", None, 0, 1), op(1, "cas", "x", ["0", "1"], None, 2, inf,
                                                  "info"), op(2, "get", "x", None, "1", 5, 6))
    assert verdict(*cas) == "ok"
    gone = (op(0, "put", "x", "0", None, 0, 1), op(1, "delete", "x", None, None, 2, inf,
                                                   "info"), op(2, "get", "x", None, None, 5, 6))
    assert verdict(*gone) == "ok"


def test_history_pairs_events_and_drops_fails() -> None:
    h = History()
    a = h.invoke(0, "put", "x", "1", 0.0)
    b = h.invoke(1, "put", "x", "2", 0.1)
    h.complete(b, "fail", None, 0.2, error="not leader")
    h.complete(a, "ok", None, 0.3)
    c = h.invoke(1, "get", "x", None, 0.4)
    h.complete(c, "ok", "2", 0.5)  # "2" failed: it never happened
    assert check_history(h).verdict == "violation"
    assert History.from_jsonl(h.to_jsonl()).events == h.events


def test_a_delete_or_cas_that_saw_the_wrong_state_is_caught() -> None:
    """The model checks every output, not only reads': a delete that says the key
    existed when it cannot have, a cas that says it failed when it must have held."""
    assert verdict(op(0, "put", "x", "1", None, 0, 1), op(0, "delete", "x", None, True, 2, 3),
                   op(1, "delete", "x", None, True, 4, 5)) == "violation"
    assert verdict(op(0, "delete", "x", None, True, 0, 1)) == "violation"
    assert verdict(op(0, "put", "x", "1", None, 0, 1),
                   op(1, "cas", "x", ["1", "2"], False, 2, 3)) == "violation"
    assert verdict(op(0, "put", "x", "1", None, 0, 1), op(0, "delete", "x", None, True, 2, 3),
                   op(1, "delete", "x", None, False, 4, 5)) == "ok"


def test_an_unknown_outcome_may_take_effect_after_later_operations() -> None:
    """An ``info`` (timed out) write may be applied long after its client gave up, after
    writes that started later: the history must pair it with ret = inf, not the time the
    client stopped waiting."""
    h = History()
    lost = h.invoke(0, "put", "x", "1", 0.0)
    h.complete(lost, "info", None, 1.0, error="timeout")
    w = h.invoke(1, "put", "x", "2", 2.0)
    h.complete(w, "ok", None, 3.0)
    r = h.invoke(1, "get", "x", None, 4.0)
    h.complete(r, "ok", "1", 5.0)  # the timed-out write landed after "2"
    assert [o.ret for o in h.operations()] == [math.inf, 3.0, 5.0]
    assert check_history(h).verdict == "ok"
    never = History()  # an invocation that never completed is just as unknown
    never.invoke(0, "put", "x", "1", 0.0)
    r = never.invoke(1, "get", "x", None, 4.0)
    never.complete(r, "ok", "1", 5.0)
    assert [(o.status, o.ret) for o in never.operations()] == [("info", math.inf),
                                                                ("ok", 5.0)]
    assert check_history(never).verdict == "ok"


def test_a_malformed_history_is_refused() -> None:
    twice = History()
    twice.invoke(0, "put", "x", "1", 0.0)
    twice.invoke(0, "put", "x", "2", 1.0)
    with pytest.raises(ValueError, match="event 1: process 0 invoked twice"):
        twice.operations()
    orphan = History([Event("ok", 3, "get", "x", "1", 1.0)])
    with pytest.raises(ValueError, match="event 0: ok for process 3 with no invoke"):
        orphan.operations()
    with pytest.raises(ValueError, match="takes ok, fail or info"):
        History().complete(Event("invoke", 0, "get", "x"), "invoke", None, 1.0)


def test_keys_are_checked_independently() -> None:
    result = check_operations([op(0, "put", "x", "1", None, 0, 1),
                               op(0, "put", "y", "1", None, 0, 1),
                               op(1, "get", "y", None, "1", 2, 3),
                               op(1, "get", "x", None, "9", 2, 3)])
    assert result.verdict == "violation"
    assert result.violation is not None and result.violation.key == "x"
    assert result.keys["y"].verdict == "ok"
    assert "get('x') -> '9'" in result.violation.explanation


def test_unknown_when_the_budget_runs_out() -> None:
    # many concurrent writes and a read of a value nobody wrote: a large search space
    ops = [op(p, "put", "x", str(p), None, 0, 100) for p in range(40)]
    ops.append(op(99, "get", "x", None, "nobody", 50, 60))
    result = check_operations(ops, timeout_s=0.05)
    assert result.verdict in ("unknown", "violation")
    if result.verdict == "unknown":
        assert "time budget" in result.keys["x"].explanation


def test_timeline_is_written_and_self_contained(tmp_path: Path) -> None:
    ops = [op(0, "put", "x", "1", None, 0, 1), op(1, "get", "x", None, "0", 2, 3),
           op(2, "put", "y", "5", None, 0.5, math.inf, "info")]
    result = check_operations(ops)
    path = render_timeline(ops, result, tmp_path / "t.html", nemesis=[(0.2, 1.5, "partition")])
    text = path.read_text()
    assert "<svg" in text and "http://" not in text.replace("http://www.w3.org/2000/svg", "")
    assert "culprit" in text and "get(&#x27;x&#x27;" in text and "partition" in text


# ------------------------------------------------------------------ Hypothesis
@st.composite
def linearizable_histories(draw: st.DrawFn) -> list[Operation]:
    """Run a real register: every op takes effect at a point inside its interval."""
    seed = draw(st.integers(0, 2**32))
    rng = random.Random(seed)
    n = draw(st.integers(1, 30))
    events = []
    for i in range(n):
        call = rng.uniform(0, 100)
        lin = call + rng.uniform(0, 10)
        ret = lin + rng.uniform(0, 10)
        f = rng.choice(["get", "put", "put", "cas", "delete"])
        events.append((lin, i, call, ret, f, rng.randrange(3), rng.random()))
    state: dict[str, str | None] = {}
    model = KvRegister()
    ops = []
    for _lin, i, call, ret, f, k, roll in sorted(events):
        key = f"k{k}"
        inp: object = None
        if f == "put":
            inp = f"v{i}"
        elif f == "cas":
            inp = [state.get(key) if roll < 0.5 else f"v{rng.randrange(n)}", f"c{i}"]
        unknown = f != "get" and roll > 0.85
        probe = Operation(i, f, key, inp, None, call, ret, "info")
        _, new = model.step(state.get(key), probe)
        output = _output(f, state.get(key), inp)
        if unknown and roll > 0.93:
            ops.append(Operation(i, f, key, inp, None, call, math.inf, "info"))
            continue  # this one never took effect
        state[key] = new
        ops.append(Operation(i, f, key, inp, output, call, math.inf if unknown else ret,
                             "info" if unknown else "ok"))
    return ops


def _output(f: str, state: str | None, inp: object) -> object:
    if f == "get":
        return state
    if f == "cas":
        expected = inp[0]  # type: ignore[index]
        return state is None if expected is None else state == expected
    if f == "delete":
        return state is not None
    return None


@settings(max_examples=150, deadline=None)
@given(linearizable_histories())
def test_histories_from_a_sequential_register_are_linearizable(ops: list[Operation]) -> None:
    result = check_operations(ops, timeout_s=20)
    assert result.verdict == "ok", result.summary()


@settings(max_examples=100, deadline=None)
@given(linearizable_histories(), st.data())
def test_an_injected_impossible_read_is_caught(ops: list[Operation], data: st.DataObject) -> None:
    reads = [i for i, o in enumerate(ops) if o.f == "get" and o.status == "ok"]
    if not reads:
        ops.append(Operation(999, "get", "k0", None, None, 200, 201, "ok"))
        reads = [len(ops) - 1]
    victim = ops[data.draw(st.sampled_from(reads))]
    broken = Operation(victim.process, "get", victim.key, None, "never-written",
                       victim.call, victim.ret, "ok")
    mutated = [broken if o is victim else o for o in ops]
    result = check_operations(mutated, timeout_s=20)
    assert result.verdict == "violation", result.summary()
    assert result.violation is not None and result.violation.key == victim.key


@pytest.mark.parametrize("bad", ["lost", "stale"])
def test_injected_sequential_faults_are_caught(bad: str) -> None:
    seed = 7
    print(f"seed={seed}")
    rng = random.Random(seed)
    t = 0.0
    ops = []
    values = []
    for i in range(50):  # strictly sequential: no concurrency can excuse a fault
        v = f"v{i}"
        ops.append(op(0, "put", "x", v, None, t, t + 1))
        values.append(v)
        t += 2
        if rng.random() < 0.5:
            ops.append(op(1, "get", "x", None, v, t, t + 1))
            t += 2
    stale = values[-2] if bad == "stale" else None
    ops.append(op(1, "get", "x", None, stale, t, t + 1))
    assert check_operations(ops).verdict == "violation"
