"""The bank checker (protocols.check.bank): each violation planted in a small history of
transfers between accounts a, b, c and reads of all of them, and found."""

from __future__ import annotations

import math
from typing import Any

import pytest

from protocols.check.bank import check_bank
from protocols.check.elle import HistoryError
from protocols.check.history import History

INITIAL = {"a": 100, "b": 100, "c": 0}


class Bank:
    """``transfer(p, id, src, dst, amount, call, ret, status)`` and ``read(p, {account:
    (balance, [ids])}, call, ret)``; ``history()`` orders the events by time."""

    def __init__(self) -> None:
        self.events: list[tuple[float, int, int, str, Any, str]] = []

    def transfer(self, p: int, tid: int, src: str, dst: str, amount: int, call: float,
                 ret: float, status: str = "ok") -> Bank:
        value = {"id": tid, "from": src, "to": dst, "amount": amount}
        self.events += [(call, 0, p, "transfer", value, ""), (ret, 1, p, "transfer", value,
                                                              status)]
        return self

    def read(self, p: int, accounts: dict[str, Any], call: float, ret: float) -> Bank:
        value = {k: v if isinstance(v, int) else {"balance": v[0], "applied": v[1]}
                 for k, v in accounts.items()}
        self.events += [(call, 0, p, "read", None, ""), (ret, 1, p, "read", value, "ok")]
        return self

    def history(self) -> History:
        h, invs = History(), {}
        for time, kind, p, f, value, status in sorted(self.events, key=lambda e: (e[0],
                                                                              -e[1])):
            if kind == 0:
                invs[p] = h.invoke(p, f, None, value, time)
            elif time != math.inf:
                h.complete(invs.pop(p), status, value, time)  # type: ignore[arg-type]
        return h


def names(bank: Bank) -> list[str]:
    result = check_bank(bank.history(), INITIAL)
    print(result.summary())
    return result.names()


def base() -> Bank:
    """Transfer 1 (a->b 10) acknowledged, then a read that shows it."""
    return (Bank()
            .transfer(0, 1, "a", "b", 10, 0, 1)
            .read(1, {"a": (90, [1]), "b": (110, [1]), "c": (0, [])}, 2, 3))


def test_a_valid_history_passes() -> None:
    bank = (base()
            .transfer(0, 2, "b", "c", 5, 4, math.inf, "info")  # unknown; it happened
            .transfer(2, 3, "a", "c", 50, 4, 5, "fail")
            .read(1, {"a": (90, [1]), "b": (110, [1]), "c": (0, [])}, 4, 5)  # concurrent
            .read(3, {"a": (90, [1]), "b": (105, [1, 2]), "c": (5, [2])}, 6, 7))
    result = check_bank(bank.history(), INITIAL)
    assert result.valid, result.summary()
    assert result.transfers == 3 and result.reads == 3
    assert "valid" in result.summary()


@pytest.mark.parametrize(("read", "expected"), [
    # money made: c has 1 nobody sent it
    ({"a": (90, [1]), "b": (110, [1]), "c": (1, [])}, {"wrong-total", "wrong-balance"}),
    # half a transfer: a debited, b not credited
    ({"a": (90, [1]), "b": (100, []), "c": (0, [])}, {"torn-transfer", "wrong-total"}),
    # the ledger says 1 was applied at b, the balance says otherwise (total still right)
    ({"a": (90, [1]), "b": (100, [1]), "c": (10, [])}, {"wrong-balance"}),
    # an id nobody transferred
    ({"a": (90, [1, 99]), "b": (110, [1]), "c": (0, [])}, {"unknown-transfer"}),
    # a transfer listed by an account it does not touch, or listed twice
    ({"a": (90, [1]), "b": (110, [1]), "c": (0, [1])}, {"unknown-transfer"}),
    ({"a": (90, [1, 1]), "b": (110, [1]), "c": (0, [])}, {"unknown-transfer"}),
])
def test_planted_violations_in_a_read(read: dict[str, Any], expected: set[str]) -> None:
    bank = base().read(2, read, 4, 5)
    assert set(names(bank)) == expected


def test_negative_balance() -> None:
    bank = (Bank()
            .transfer(0, 1, "a", "c", 150, 0, 1)
            .read(1, {"a": (-50, [1]), "b": (100, []), "c": (150, [1])}, 2, 3))
    assert names(bank) == ["negative-balance"]


def test_aborted_transfer_applied() -> None:
    bank = (Bank()
            .transfer(0, 1, "a", "b", 10, 0, 1, "fail")
            .read(1, {"a": (90, [1]), "b": (110, [1]), "c": (0, [])}, 2, 3))
    assert names(bank) == ["aborted-transfer"]


def test_an_acknowledged_transfer_lost() -> None:
    bank = (Bank()
            .transfer(0, 1, "a", "b", 10, 0, 1)
            .read(1, {"a": (100, []), "b": (100, []), "c": (0, [])}, 2, 3))
    result = check_bank(bank.history(), INITIAL)
    assert result.names() == ["lost-transfer"]
    assert "acknowledged at 1" in result.anomalies[0].explanation
    concurrent = (Bank()
                  .transfer(0, 1, "a", "b", 10, 0, 5)
                  .read(1, {"a": (100, []), "b": (100, []), "c": (0, [])}, 2, 3))
    assert names(concurrent) == []  # it may not have happened yet


def test_a_transfer_seen_then_lost() -> None:
    """An info transfer one read showed is missing from a read invoked after that one
    completed."""
    bank = (Bank()
            .transfer(0, 1, "a", "b", 10, 0, math.inf, "info")
            .read(1, {"a": (90, [1]), "b": (110, [1]), "c": (0, [])}, 2, 3)
            .read(2, {"a": (100, []), "b": (100, []), "c": (0, [])}, 4, 5))
    result = check_bank(bank.history(), INITIAL)
    assert result.names() == ["lost-transfer"]
    assert "showed transfer 1 and completed at 3" in result.anomalies[0].explanation


def test_balances_only_reads_check_totals_and_signs() -> None:
    ok = base().read(2, {"a": 90, "b": 110, "c": 0}, 4, 5)
    assert names(ok) == []
    bad = base().read(2, {"a": 95, "b": 110, "c": -1}, 4, 5)
    assert names(bad) == ["negative-balance", "wrong-total"]


@pytest.mark.parametrize(("bank", "match"), [
    (Bank().read(0, {"a": 100, "b": 100}, 0, 1), "a read returns every account"),
    (Bank().transfer(0, 1, "a", "z", 5, 0, 1), "'z', which is not an account"),
    (Bank().transfer(0, 1, "a", "b", 0, 0, 1), "not a positive integer"),
    (Bank().transfer(0, 1, "a", "b", 5, 0, 1).transfer(0, 1, "b", "a", 5, 2, 3),
     "used twice"),
    (Bank().read(0, {"a": "lots", "b": 100, "c": 0}, 0, 1), "neither a balance"),
])
def test_histories_of_another_shape_are_refused(bank: Bank, match: str) -> None:
    with pytest.raises(HistoryError, match=match):
        check_bank(bank.history(), INITIAL)
