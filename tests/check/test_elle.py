"""The list-append checker (protocols.check.elle): every anomaly it names is planted in a
hand-written history and found, with its shortest cycle; valid histories pass."""

from __future__ import annotations

import math
from typing import Any

import pytest

from protocols.check.elle import check_list_append
from protocols.check.history import History


class Hist:
    """Write histories as txns: ``ok(p, ops, call, ret)`` with the reads filled in."""

    def __init__(self) -> None:
        self.open: list[tuple[Any, ...]] = []

    def ok(self, p: int, ops: list[list[Any]], call: float, ret: float) -> Hist:
        return self._txn(p, ops, call, ret, "ok")

    def fail(self, p: int, ops: list[list[Any]], call: float, ret: float) -> Hist:
        return self._txn(p, ops, call, ret, "fail")

    def info(self, p: int, ops: list[list[Any]], call: float, ret: float) -> Hist:
        return self._txn(p, ops, call, ret, "info")

    def _txn(self, p: int, ops: list[list[Any]], call: float, ret: float, status: str
             ) -> Hist:
        invoked = [[f, k, None if f == "r" else v] for f, k, v in ops]
        self.open.append((call, 0, p, invoked, None))
        self.open.append((ret, 1, p, ops if status == "ok" else None, status))
        return self

    def history(self) -> History:
        """Events in time order (a completion before an invocation at the same time)."""
        h, invs = History(), dict[int, Any]()
        for time, kind, p, value, status in sorted(self.open, key=lambda e: (e[0], -e[1])):
            if kind == 0:
                invs[p] = h.invoke(p, "txn", None, value, time)
            else:
                h.complete(invs.pop(p), status, value, time)
        return h


def names(h: Hist, **kw: Any) -> list[str]:
    result = check_list_append(h.history(), **kw)
    print(result.summary())
    return result.names()


def test_a_valid_history_passes() -> None:
    h = (Hist()
         .ok(0, [["append", "x", 1], ["append", "y", 1]], 0, 1)
         .ok(1, [["r", "x", [1]], ["append", "x", 2]], 2, 3)
         .ok(2, [["r", "x", [1, 2]], ["r", "y", [1]]], 4, 5)
         .ok(0, [["r", "z", None], ["append", "z", 7], ["r", "z", [7]]], 6, 7)
         .fail(1, [["append", "y", 9]], 6, 8)
         .info(2, [["append", "x", 3]], 8, math.inf)
         .ok(0, [["r", "x", [1, 2, 3]], ["r", "y", [1]]], 9, 10))
    result = check_list_append(h.history())
    assert result.valid, result.summary()
    assert result.verdict == "ok" and result.edges > 0
    assert "strictly serializable" in result.summary()


def test_concurrent_txns_in_either_order_pass() -> None:
    h = (Hist()
         .ok(0, [["append", "x", 1]], 0, 10)
         .ok(1, [["append", "x", 2]], 0, 10)
         .ok(2, [["r", "x", [2, 1]]], 11, 12))
    assert names(h) == []


def test_g0_write_cycle() -> None:
    """T1 and T2 both append to x and y, in opposite orders: x says T1 first, y T2."""
    h = (Hist()
         .ok(0, [["append", "x", 1], ["append", "y", 1]], 0, 5)
         .ok(1, [["append", "x", 2], ["append", "y", 2]], 0, 5)
         .ok(2, [["r", "x", [1, 2]], ["r", "y", [2, 1]]], 6, 7))
    result = check_list_append(h.history())
    assert result.names() == ["G0"]
    g0 = result.anomalies[0]
    assert set(g0.txns) == {0, 1} and len(g0.cycle) == 3
    assert "-ww->" in g0.cycle[1] and "-ww->" in g0.cycle[2]
    assert "T0 -> T1 -> T0" in g0.explanation or "T1 -> T0 -> T1" in g0.explanation


def test_g1a_aborted_read() -> None:
    h = (Hist()
         .fail(0, [["append", "x", 1]], 0, 1)
         .ok(1, [["r", "x", [1]]], 2, 3))
    result = check_list_append(h.history())
    assert result.names() == ["G1a"]
    assert "failed" in result.anomalies[0].explanation


def test_g1b_intermediate_read() -> None:
    h = (Hist()
         .ok(0, [["append", "x", 1], ["append", "x", 2]], 0, 5)
         .ok(1, [["r", "x", [1]]], 0, 5))
    result = check_list_append(h.history())
    assert "G1b" in result.names()
    assert "followed with 2" in next(a for a in result.anomalies if a.name == "G1b").explanation


def test_g1c_circular_information_flow() -> None:
    """T1 reads T2's append and T2 reads T1's: each saw the other."""
    h = (Hist()
         .ok(0, [["append", "x", 1], ["r", "y", [1]]], 0, 5)
         .ok(1, [["append", "y", 1], ["r", "x", [1]]], 0, 5))
    result = check_list_append(h.history())
    assert result.names() == ["G1c"]
    assert all("-wr->" in step for step in result.anomalies[0].cycle[1:])


def test_g_single_read_skew() -> None:
    """T2 read x before T1's append but y after T1's: one rw edge, one wr edge."""
    h = (Hist()
         .ok(0, [["append", "x", 1], ["append", "y", 1]], 0, 5)
         .ok(1, [["r", "x", None], ["r", "y", [1]]], 0, 5)
         .ok(2, [["r", "x", [1]]], 6, 7))
    result = check_list_append(h.history())
    assert result.names() == ["G-single"]
    steps = result.anomalies[0].cycle
    assert sum("-rw->" in s for s in steps) == 1 and sum("-wr->" in s for s in steps) == 1


def test_g2_write_skew() -> None:
    """Each reads the key the other appends to, before the append: two rw edges."""
    h = (Hist()
         .ok(0, [["r", "x", None], ["append", "y", 1]], 0, 5)
         .ok(1, [["r", "y", None], ["append", "x", 1]], 0, 5)
         .ok(2, [["r", "x", [1]], ["r", "y", [1]]], 6, 7))
    result = check_list_append(h.history())
    assert result.names() == ["G2"]
    assert sum("-rw->" in s for s in result.anomalies[0].cycle) == 2


def test_a_stale_read_is_a_realtime_anomaly_only() -> None:
    """T1's append completed before T2 began, yet T2 read x without it: serializable
    (T2 first), not strictly serializable (a G-single closed by real time)."""
    h = (Hist()
         .ok(0, [["append", "x", 1]], 0, 1)
         .ok(1, [["r", "x", None]], 2, 3)
         .ok(2, [["r", "x", [1]]], 4, 5))
    assert "G-single-realtime" in names(h)
    assert names(h, realtime=False) == []


def test_g0_realtime() -> None:
    """Sequential appends whose order the reads reverse: ww one way, real time the other."""
    h = (Hist()
         .ok(0, [["append", "x", 1]], 0, 1)
         .ok(1, [["append", "x", 2]], 2, 3)
         .ok(2, [["r", "x", [2, 1]]], 4, 5))
    assert "G0-realtime" in names(h)


def test_lost_append() -> None:
    """An acknowledged append that a later read does not see."""
    h = (Hist()
         .ok(0, [["append", "x", 1]], 0, 1)
         .ok(1, [["append", "x", 2]], 2, 3)
         .ok(2, [["r", "x", [2]]], 4, 5))
    result = check_list_append(h.history())
    assert "lost-append" in result.names()
    lost = next(a for a in result.anomalies if a.name == "lost-append")
    assert "appended 1 to x" in lost.explanation


def test_an_append_nobody_read_yet_is_not_lost() -> None:
    h = (Hist()
         .ok(0, [["append", "x", 1]], 0, 3)
         .ok(1, [["r", "x", None]], 1, 2))  # concurrent: may precede it
    assert names(h) == []


def test_incompatible_order() -> None:
    h = (Hist()
         .ok(0, [["append", "x", 1]], 0, 5)
         .ok(1, [["append", "x", 2]], 0, 5)
         .ok(2, [["r", "x", [1]]], 6, 7)
         .ok(3, [["r", "x", [2, 1]]], 6, 7))
    assert "incompatible-order" in names(h)


def test_duplicates_garbage_and_internal_reads() -> None:
    h = (Hist()
         .ok(0, [["append", "x", 1]], 0, 1)
         .ok(1, [["r", "x", [1, 1]]], 2, 3)
         .ok(2, [["r", "y", [9]]], 4, 5)
         .ok(3, [["append", "z", 4], ["r", "z", None]], 6, 7))
    assert {"duplicate-elements", "garbage-read", "internal"} <= set(names(h))


def test_info_txns_count_when_read() -> None:
    """An info append someone read took effect: it joins the graph (here a G1c)."""
    h = (Hist()
         .info(0, [["append", "x", 1], ["append", "y", 1]], 0, math.inf)
         .ok(1, [["r", "x", None], ["r", "y", [1]]], 1, 2)
         .ok(2, [["r", "x", [1]]], 3, 4))
    assert "G-single" in names(h)


def test_the_cycle_reported_is_the_shortest() -> None:
    """A long ww chain closing on itself and a 2-cycle inside: the 2-cycle is shown."""
    h = Hist()
    # x: T0 < T1 < T2 < T3; y: T3 < T0 (a 4-cycle); z: T2 < T1 (a 2-cycle)
    h.ok(0, [["append", "x", 0], ["append", "y", 0]], 0, 9)
    h.ok(1, [["append", "x", 1], ["append", "z", 1]], 0, 9)
    h.ok(2, [["append", "x", 2], ["append", "z", 2]], 0, 9)
    h.ok(3, [["append", "x", 3], ["append", "y", 3]], 0, 9)
    h.ok(4, [["r", "x", [0, 1, 2, 3]], ["r", "y", [3, 0]], ["r", "z", [2, 1]]], 10, 11)
    result = check_list_append(h.history())
    assert result.names() == ["G0"]
    assert len(result.anomalies[0].txns) == 2, result.summary()


def test_malformed_histories_are_refused() -> None:
    h = (Hist()
         .ok(0, [["append", "x", 1]], 0, 1)
         .ok(1, [["append", "x", 1]], 2, 3))
    with pytest.raises(ValueError, match="unique"):
        check_list_append(h.history())
    bad = History()
    bad.complete(bad.invoke(0, "txn", None, [["w", "x", "1"]], 0), "ok", [["w", "x", "1"]], 1)
    with pytest.raises(ValueError, match="list-append micro-op"):
        check_list_append(bad)
