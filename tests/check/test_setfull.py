"""Jepsen's set-full checker (protocols.check.setfull): each outcome planted in a small
history of adds to and reads of per-key sets, and found; a lost element planted in a
random history of a correct set, and only it found; random correct histories accepted."""

from __future__ import annotations

import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.check.elle import HistoryError
from protocols.check.history import Event, History
from protocols.check.setfull import check_set_full, quantiles


class Sets:
    """``add(p, key, element, call, ret, status)`` and ``read(p, key, elements, call,
    ret)``; ``history()`` orders the events by time (``ret=None``: never completed)."""

    def __init__(self) -> None:
        self.events: list[tuple[float, int, int, str, Any, Any, str]] = []

    def add(self, p: int, key: Any, v: Any, call: float, ret: float | None,
            status: str = "ok") -> Sets:
        self.events.append((call, 0, p, "add", key, v, "invoke"))
        if ret is not None:
            self.events.append((ret, 1, p, "add", key, v, status))
        return self

    def read(self, p: int, key: Any, values: list[Any] | None, call: float, ret: float,
             status: str = "ok") -> Sets:
        self.events += [(call, 0, p, "read", key, None, "invoke"),
                        (ret, 1, p, "read", key, values, status)]
        return self

    def history(self) -> History:
        h, invs = History(), {}
        for time, _, p, f, key, value, status in sorted(self.events, key=lambda e: (e[0],
                                                                                   e[1])):
            if status == "invoke":
                invs[p] = h.invoke(p, f, key, value, time)
            else:
                h.complete(invs.pop(p), status, value, time)  # type: ignore[arg-type]
        return h


def outcome(history: History, key: Any, element: Any, **kw: Any) -> str:
    return check_set_full(history, **kw).keys[key].elements[element].outcome


# ====================================================================== each outcome
def test_stable_every_read_after_the_add_shows_it() -> None:
    h = (Sets().add(0, "k", 1, 0, 1).read(1, "k", [], 0.2, 0.5)  # before: fine
         .read(1, "k", [1], 2, 3).read(2, "k", [1], 4, 5).history())
    r = check_set_full(h)
    assert r.valid and r.verdict == "ok"
    el = r.keys["k"].elements[1]
    assert (el.outcome, el.known, el.stable_latency) == ("stable", 1, 0.0)
    assert el.describe().endswith(": stable")
    assert r.counts() == {"attempted": 1, "stable": 1, "stale": 0, "lost": 0,
                          "never-read": 0}


def test_lost_an_acknowledged_element_missing_from_every_later_read() -> None:
    h = (Sets().add(0, "k2", 7, 1.1, 1.2)
         .read(1, "k2", [7], 1.25, 1.31).read(1, "k2", [7], 3.9, 3.95)
         .read(2, "k2", [], 4.02, 4.1).read(1, "k2", [], 5, 5.2).history())
    r = check_set_full(h)
    assert not r.valid and r.names() == ["lost"] and r.lost == [("k2", 7)]
    el = r.keys["k2"].elements[7]
    assert el.outcome == "lost" and el.known == 1.2
    assert el.lost_from is not None and el.lost_from.call == 4.02
    assert el.missing_reads == 2 and el.lost_latency == pytest.approx(4.02 - 1.2)
    text = el.describe()
    assert "acknowledged at 1.2" in text and "invoked at 4.02" in text
    assert text.endswith(": lost")
    assert text in r.summary()


def test_a_read_concurrent_with_the_add_may_miss_it() -> None:
    """The last read began before the add was acknowledged: it may have taken effect
    first. Not lost: never-read (no read began after the element was known)."""
    h = Sets().add(0, "k", 1, 1, 3).read(1, "k", [], 2, 4).history()
    r = check_set_full(h)
    assert outcome(h, "k", 1) == "never-read" and r.valid and r.verdict == "unknown"
    assert "never-read" in r.keys["k"].elements[1].describe()
    h = Sets().add(0, "k", 1, 1, 3).read(1, "k", [], 2, 4).read(1, "k", [], 5, 6).history()
    assert outcome(h, "k", 1) == "lost"


def test_an_element_seen_by_a_read_is_known_from_that_reads_completion() -> None:
    """An unacknowledged add (info) seen by a read is in the set from that read's end:
    missing from a read that began later is lost; from one concurrent with it, not."""
    s = Sets().add(0, "k", 1, 0, None).read(1, "k", [1], 1, 3)
    assert outcome(s.history(), "k", 1) == "stable"
    s.read(2, "k", [], 2, 5)  # began before the read that saw it completed
    assert outcome(s.history(), "k", 1) == "never-read"
    s.read(2, "k", [], 6, 7)
    r = check_set_full(s.history())
    assert r.lost == [("k", 1)]
    assert "seen by reads from R" in r.keys["k"].elements[1].describe()


def test_an_unknown_add_never_seen_is_not_lost() -> None:
    """info (or no answer): it may never have happened, whatever the reads say; one that
    a read shows happened."""
    h = (Sets().add(0, "k", 1, 0, 1, status="info").add(1, "k", 2, 0, None)
         .add(3, "k", 3, 0, 1, status="info")
         .read(2, "k", [3], 2, 3).read(2, "k", [3], 4, 5).history())
    r = check_set_full(h)
    assert r.valid
    assert [outcome(h, "k", v) for v in (1, 2, 3)] == ["never-read", "never-read", "stable"]
    assert "not lost" in r.keys["k"].elements[1].describe()


def test_never_read_when_no_read_began_after_the_ack() -> None:
    h = (Sets().read(1, "k", [], 0, 1).add(0, "k", 1, 2, 3).add(0, "j", 2, 4, 5)
         .history())
    r = check_set_full(h)
    assert r.valid and r.verdict == "unknown"
    assert r.outcome("never-read") == [("j", 2), ("k", 1)]
    assert "no reads of this key" in r.keys["j"].elements[2].describe()


def test_stale_late_to_appear_and_flickering_are_reported_not_lost() -> None:
    h = (Sets().add(0, "k", 1, 0, 1)
         .read(1, "k", [], 3, 3.5)  # began after the ack: late
         .read(1, "k", [1], 4, 4.5)
         .add(0, "k", 2, 5, 6).read(1, "k", [1, 2], 7, 7.5)
         .read(2, "k", [1], 8, 8.5)  # 2 seen, then missing: flicker
         .read(2, "k", [1, 2], 9, 9.5).history())
    r = check_set_full(h)
    assert r.valid and r.outcome("stale") == [("k", 1), ("k", 2)]
    late, flicker = r.keys["k"].elements[1], r.keys["k"].elements[2]
    assert (late.stable_latency, late.flickered) == (2, False)
    assert (flicker.stable_latency, flicker.flickered) == (2, True)
    assert "flickered" in flicker.describe()
    lin = check_set_full(h, linearizable=True)
    assert lin.names() == ["stale"] and len(lin.anomalies) == 2
    assert lin.outcome("stale") == r.outcome("stale")


def test_duplicated_unexpected_read_before_add_and_failed_add_seen() -> None:
    h = (Sets().read(1, "k", [3], 0, 0.5)  # 3 is only added at 1
         .add(0, "k", 3, 1, 2).add(0, "k", 4, 3, 4, status="fail")
         .read(1, "k", [3, 3, 4, 99], 5, 6).history())
    r = check_set_full(h)
    assert r.names() == ["duplicated", "failed-add-seen", "read-before-add", "unexpected"]
    text = r.summary()
    for part in ("lists element 3 2 times", "whose add (event 4) failed",
                 "element 99, which no add", "invoked only at 1"):
        assert part in text


def test_keys_are_independent_sets() -> None:
    """Key a's element is lost from a's reads; key b's reads never held it and never
    should (Jepsen's independent checker)."""
    h = (Sets().add(0, "a", 1, 0, 1).add(4, "b", 1, 0.5, 0.8)
         .read(1, "a", [1], 2, 3).read(5, "b", [1], 2, 3)
         .read(2, "a", [], 4, 5).read(5, "b", [1], 4, 5).read(3, "b", [1], 6, 7).history())
    r = check_set_full(h)
    assert r.lost == [("a", 1)] and r.keys["b"].valid and not r.keys["a"].valid
    assert (r.keys["a"].reads, r.keys["b"].reads) == (2, 3)
    assert r.keys["b"].counts()["stable"] == 1


def test_latency_quantiles() -> None:
    s = Sets()
    for v in range(10):  # element v is missed by a read invoked v after its ack
        s.add(0, "k", v, 100 * v, 100 * v + 1)
        if v:
            s.read(1, "k", list(range(v)), 100 * v + 1 + v, 100 * v + 1 + v + 0.1)
    s.read(1, "k", list(range(10)), 2000, 2001)
    r = check_set_full(s.history())
    lat = r.latencies()
    assert lat == {0.0: 0.0, 0.5: 5, 0.95: 9, 0.99: 9, 1.0: 9}
    assert r.keys["k"].latencies() == lat and r.latencies("lost") == {}
    assert quantiles([]) == {} and quantiles([3.0]) == {p: 3.0 for p in lat}
    assert "stable latency min 0, p50 5" in r.summary()


def test_a_malformed_history_is_refused() -> None:
    with pytest.raises(HistoryError, match="added to key 'k' twice"):
        check_set_full(Sets().add(0, "k", 1, 0, 1).add(0, "k", 1, 2, 3).history())
    with pytest.raises(HistoryError, match="as a list"):
        check_set_full(Sets().read(0, "k", 5, 0, 1).history())  # type: ignore[arg-type]
    with pytest.raises(HistoryError, match="with no invoke"):
        check_set_full([Event("ok", 0, "add", "k", 1, 1.0)])


def test_json_lists_fail_reads_and_other_ops() -> None:
    """Elements read back from JSON as lists are tuples; failed reads and a nemesis's
    events tell nothing; a read of an absent key (None) is empty."""
    h = (Sets().add(0, "k", [1, 2], 0, 1).read(1, "k", None, 0, 0.5)
         .read(1, "k", [[1, 2]], 2, 3).read(2, "k", [], 4, 5, status="fail").history())
    h.complete(h.invoke(9, "partition", None, None, 6), "info", None, 7)
    r = check_set_full(History.from_jsonl(h.to_jsonl()))
    assert r.valid and r.outcome("stable") == [("k", (1, 2))]


# ====================================================================== random histories
def random_history(seed: int, steps: int = 600, keys: tuple[str, ...] = ("a", "b", "c"),
                   processes: int = 6) -> History:
    """Clients adding to and reading per-key sets held by a correct (linearizable)
    in-memory store: each operation takes effect at one instant between its invocation
    and its completion; some adds fail (no effect) or time out (effect or not); some
    reads fail; a few operations never complete (their client is replaced by a new
    process, as in Jepsen)."""
    rng = random.Random(seed)
    h, state = History(), {k: set[int]() for k in keys}
    pids = list(range(processes))  # each client slot's current process
    busy: dict[int, dict[str, Any]] = {}
    t, element = 0.0, 0
    for _ in range(steps):
        t += rng.random()
        slot = rng.randrange(processes)
        op = busy.get(slot)
        if op is None:
            key, fate = rng.choice(keys), rng.choices(["ok", "info", "fail", "open"],
                                                      [88, 5, 5, 2])[0]
            if rng.random() < 0.5:
                element += 1
                busy[slot] = {"inv": h.invoke(pids[slot], "add", key, element, t),
                              "fate": fate, "done": False, "key": key, "v": element,
                              "applies": fate == "ok" or (fate in ("info", "open")
                                                          and rng.random() < 0.5)}
            else:
                busy[slot] = {"inv": h.invoke(pids[slot], "read", key, None, t), "key": key,
                              "fate": "fail" if fate == "fail" else "ok", "done": False}
        elif not op["done"]:
            op["done"] = True
            if op["inv"].f == "add" and op["applies"]:
                state[op["key"]].add(op["v"])
            elif op["inv"].f == "read":
                op["v"] = sorted(state[op["key"]])
        else:
            del busy[slot]
            if op["fate"] == "open":  # never completes: a new process takes the slot
                pids[slot] = max(pids) + 1
                continue
            value = op["v"] if op["inv"].f == "read" else op["inv"].value
            h.complete(op["inv"], op["fate"], value, t)
    return h


def drop(history: History, key: str, element: int, after: float) -> History:
    """The history with ``element`` missing from every read of ``key`` invoked after
    ``after``."""
    out, calls = History(), {}
    for e in history:
        if e.type == "invoke":
            calls[e.process] = e.time
        elif e.f == "read" and e.key == key and e.type == "ok" and calls[e.process] > after:
            e = Event(e.type, e.process, e.f, e.key, [v for v in e.value if v != element],
                      e.time)
        out.events.append(e)
    return out


def test_a_planted_lost_element_in_a_random_history_is_exactly_what_is_lost() -> None:
    h = random_history(7, steps=3000)
    r = check_set_full(h, linearizable=True)
    assert r.valid and r.verdict == "ok" and r.counts()["stable"] > 100
    victim = next(e for e in r.elements("stable")
                  if e.add.status == "ok" and e.last_read is not None
                  and e.last_read.call > e.add.ret + 10)
    planted = check_set_full(drop(h, victim.key, victim.element, victim.add.ret + 5),
                             linearizable=True)
    assert planted.lost == [(victim.key, victim.element)]
    assert planted.names() == ["lost"] and len(planted.anomalies) == 1
    others = {(e.key, e.element): e.outcome for e in planted.elements()}
    del others[(victim.key, victim.element)]
    assert others == {(e.key, e.element): e.outcome for e in r.elements()
                      if (e.key, e.element) != (victim.key, victim.element)}


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_random_correct_histories_are_never_flagged(seed: int) -> None:
    h = random_history(seed)
    for linearizable in (False, True):
        r = check_set_full(h, linearizable=linearizable)
        assert r.valid, r.summary()
        assert r.outcome("lost") == r.outcome("stale") == []
    for el in r.elements():  # every acknowledged add a later read could see, it saw
        last = el.last_read
        if el.add.status == "ok" and last is not None and last.call > el.add.ret:
            assert el.outcome == "stable", el.describe()
