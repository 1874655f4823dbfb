"""The bank checker: money moves between accounts (on any shards) and is never made,
lost or seen half-moved.

Jepsen's bank test (Kingsbury, "Jepsen: ... bank", and Elle's paper, sec. 7) checks that
every read of all accounts sums to the same total and that no balance goes negative.
With a ledger in each read it also checks atomicity and durability of each transfer.

History shape (``protocols.check.history``), one operation per event pair:

* a transfer: ``f == "transfer"``, invoked with value
  ``{"id": 7, "from": "a", "to": "b", "amount": 5}`` (``id`` unique, chosen by the
  client; ``amount`` a positive integer); ``ok`` means it committed, ``fail`` that it
  surely did not, ``info`` unknown.
* a read of every account: ``f == "read"``, invoked with value None; at ``ok`` its value
  maps *every* account to ``{"balance": 95, "applied": [7, 9]}``: the balance and the ids
  of the transfers that account has applied (its shard's ledger). A plain
  ``{"a": 95, ...}`` (balances only, as Jepsen's bank reads) is accepted too; then only
  the total and negative balances can be checked.

``check_bank(history, initial)`` with the starting balances reports:

* ``wrong-total``       a read's balances do not sum to the initial total;
* ``negative-balance``  a read shows an account below zero;
* ``torn-transfer``     a read shows a transfer applied on one side only (not atomic);
* ``wrong-balance``     a balance is not the initial one plus the transfers its ledger
  lists (money moved that no listed transfer explains);
* ``aborted-transfer``  a transfer that failed is applied;
* ``unknown-transfer``  a ledger lists an id no transfer of that account has, or twice;
* ``lost-transfer``     a transfer acknowledged before a read began, or seen by a read
  that completed before it began, is missing from it (durability, in real time).
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from protocols.check.elle import Anomaly, HistoryError
from protocols.check.history import Event, History, pairs

__all__ = ["BankResult", "Read", "Transfer", "check_bank"]


@dataclass(frozen=True, slots=True)
class Transfer:
    id: Any
    source: str
    target: str
    amount: int
    status: str  # ok, fail or info
    call: float
    ret: float  # math.inf unless ok


@dataclass(frozen=True, slots=True)
class Read:
    index: int  # the event index of its invocation
    balances: dict[str, int]
    applied: dict[str, list[Any]] | None  # None: the read had balances only
    call: float
    ret: float


@dataclass(slots=True)
class BankResult:
    anomalies: list[Anomaly] = field(default_factory=list)
    transfers: int = 0
    reads: int = 0

    @property
    def valid(self) -> bool:
        return not self.anomalies

    def names(self) -> list[str]:
        return sorted({a.name for a in self.anomalies})

    def summary(self, per_kind: int = 3) -> str:
        head = f"bank: {self.transfers} transfers, {self.reads} reads: "
        if self.valid:
            return head + "valid (totals kept, nothing negative, torn or lost)"
        lines = [head + "anomalies " + ", ".join(self.names())]
        for name in self.names():
            found = [a for a in self.anomalies if a.name == name]
            lines += [a.render() for a in found[:per_kind]]
            if len(found) > per_kind:
                lines.append(f"... and {len(found) - per_kind} more {name}")
        return "\n".join(lines)


def check_bank(history: History | Iterable[Event], initial: Mapping[str, int]) -> BankResult:
    """Check transfers and reads against the ``initial`` balances (see the module doc).

    Raises HistoryError (a ValueError) on a history of another shape."""
    transfers, reads = _parse(history, initial)
    result = BankResult(transfers=len(transfers), reads=len(reads))
    total = sum(initial.values())
    for r in reads:
        _check_read(result, r, total, initial, transfers)
    _check_lost(result, reads, transfers)
    return result


# ====================================================================== the history
def _parse(history: History | Iterable[Event], initial: Mapping[str, int]
           ) -> tuple[dict[Any, Transfer], list[Read]]:
    transfers: dict[Any, Transfer] = {}
    reads: list[Read] = []
    try:
        paired = list(pairs(history))
    except ValueError as malformed:
        raise HistoryError(str(malformed)) from None
    for idx, inv, e in paired:
        if inv.f == "transfer":
            t = (_transfer(idx, inv, "info", math.inf, initial) if e is None else
                 _transfer(idx, inv, e.type, e.time, initial))
            if t.id in transfers:
                raise HistoryError(f"event {idx}: transfer id {t.id!r} used twice")
            transfers[t.id] = t
        elif inv.f == "read" and e is not None and e.type == "ok":
            reads.append(_read(idx, idx, inv.time, e, initial))
    return transfers, reads


def _transfer(idx: int, inv: Event, status: str, ret: float, initial: Mapping[str, int]
              ) -> Transfer:
    v = inv.value
    if not isinstance(v, dict) or not {"id", "from", "to", "amount"} <= v.keys():
        raise HistoryError(f"event {idx}: a transfer's value is "
                           f'{{"id", "from", "to", "amount"}}, not {v!r:.60}')
    amount = v["amount"]
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise HistoryError(f"event {idx}: transfer amount {amount!r} is not a positive "
                           "integer")
    for side in ("from", "to"):
        if v[side] not in initial:
            raise HistoryError(f"event {idx}: transfer {side} {v[side]!r}, which is not an "
                               f"account (accounts: {', '.join(map(str, initial))})")
    if v["from"] == v["to"]:
        raise HistoryError(f"event {idx}: a transfer from {v['from']!r} to itself")
    return Transfer(_key(v["id"]), v["from"], v["to"], amount, status, inv.time,
                    ret if status == "ok" else math.inf)


def _read(i: int, idx: int, call: float, e: Event, initial: Mapping[str, int]) -> Read:
    v = e.value
    if not isinstance(v, dict) or set(v) != set(initial):
        have = sorted(map(str, v)) if isinstance(v, dict) else v
        raise HistoryError(f"event {i}: a read returns every account "
                           f"({', '.join(map(str, initial))}), not {have!r:.80}")
    balances: dict[str, int] = {}
    applied: dict[str, list[Any]] | None = {}
    for account, x in v.items():
        if isinstance(x, dict) and "balance" in x and "applied" in x:
            balances[account], ids = x["balance"], x["applied"]
            if applied is not None and isinstance(ids, list):
                applied[account] = [_key(tid) for tid in ids]
                continue
        elif isinstance(x, int) and not isinstance(x, bool):
            balances[account] = x
            applied = None
            continue
        raise HistoryError(f"event {i}: account {account!r} read as {x!r:.60}, neither a "
                           'balance nor {"balance": n, "applied": [ids]}')
    return Read(idx, balances, applied, call, e.time)


# ====================================================================== the checks
def _report(result: BankResult, name: str, text: str, read: Read) -> None:
    result.anomalies.append(Anomaly(name, text, (read.index,)))


def _check_read(result: BankResult, r: Read, total: int, initial: Mapping[str, int],
                transfers: Mapping[Any, Transfer]) -> None:
    seen = sum(r.balances.values())
    if seen != total:
        _report(result, "wrong-total", f"read R{r.index} sums to {seen}, not {total}: "
                f"{_show(r.balances)}", r)
    for account, balance in sorted(r.balances.items()):
        if balance < 0:
            _report(result, "negative-balance", f"read R{r.index} shows {account} at "
                    f"{balance}", r)
    if r.applied is not None:
        _check_ledger(result, r, r.applied, initial, transfers)


def _check_ledger(result: BankResult, r: Read, applied: Mapping[str, list[Any]],
                  initial: Mapping[str, int], transfers: Mapping[Any, Transfer]) -> None:
    """Each listed id a transfer of that account, applied on both sides, not failed, and
    the balance what the listed transfers make it."""
    sides = {account: set(ids) for account, ids in applied.items()}
    torn: set[Any] = set()
    aborted: set[Any] = set()
    for account, ids in sorted(applied.items()):
        expected = initial[account]
        counted: set[Any] = set()
        for tid in ids:
            t = transfers.get(tid)
            if t is None or account not in (t.source, t.target) or tid in counted:
                why = "twice" if tid in counted else "which no transfer of this account has"
                _report(result, "unknown-transfer", f"read R{r.index}: {account}'s ledger "
                        f"lists transfer {tid!r}, {why}", r)
                continue
            counted.add(tid)
            expected += t.amount if account == t.target else -t.amount
            other = t.target if account == t.source else t.source
            if tid not in sides[other] and tid not in torn:
                torn.add(tid)
                _report(result, "torn-transfer", f"read R{r.index} shows transfer {tid!r} "
                        f"({t.amount} from {t.source} to {t.target}) applied at {account} "
                        f"but not at {other}: half a transfer", r)
            if t.status == "fail" and tid not in aborted:
                aborted.add(tid)
                _report(result, "aborted-transfer", f"read R{r.index} shows transfer "
                        f"{tid!r} ({t.amount} from {t.source} to {t.target}) applied, but "
                        "it failed", r)
        if r.balances[account] != expected:
            _report(result, "wrong-balance", f"read R{r.index} shows {account} at "
                    f"{r.balances[account]}, but its initial {initial[account]} and the "
                    f"transfers its ledger lists ({_show_ids(ids)}) make {expected}", r)


def _check_lost(result: BankResult, reads: list[Read],
                transfers: Mapping[Any, Transfer]) -> None:
    """A transfer acknowledged, or seen by a read that completed, before a read was
    invoked must be in that read (on its source's ledger: the torn check covers the
    other side)."""
    acked = sorted((t.ret, str(t.id), t) for t in transfers.values() if t.status == "ok")
    rets = [ret for ret, _, _ in acked]
    done = sorted((r for r in reads if r.applied is not None), key=lambda r: r.ret)
    seen: dict[Any, Read] = {}  # transfer id -> the first read done that showed it
    lost: set[Any] = set()
    j = 0
    for r in sorted((r for r in reads if r.applied is not None), key=lambda r: r.call):
        while j < len(done) and done[j].ret < r.call:
            for ids in (done[j].applied or {}).values():
                for tid in ids:
                    seen.setdefault(tid, done[j])
            j += 1
        have = {tid for ids in (r.applied or {}).values() for tid in ids}
        before = [t for _, _, t in acked[:bisect.bisect_left(rets, r.call)]]
        for t in before:
            if t.id not in have and t.id not in lost:
                lost.add(t.id)
                _report(result, "lost-transfer", f"transfer {t.id!r} ({t.amount} from "
                        f"{t.source} to {t.target}) was acknowledged at {t.ret:g}, but read "
                        f"R{r.index}, invoked later at {r.call:g}, does not show it", r)
        for tid, earlier in seen.items():
            if tid not in have and tid not in lost:
                lost.add(tid)
                _report(result, "lost-transfer", f"read R{earlier.index} showed transfer "
                        f"{tid!r} and completed at {earlier.ret:g}, but read R{r.index}, "
                        f"invoked later at {r.call:g}, does not show it", r)


def _key(tid: Any) -> Any:
    """Ids as read back from JSON: lists (unhashable) become tuples."""
    return tuple(tid) if isinstance(tid, list) else tid


def _show(balances: Mapping[str, int]) -> str:
    return ", ".join(f"{a}={b}" for a, b in sorted(balances.items()))


def _show_ids(ids: list[Any]) -> str:
    return " ".join(map(str, ids)) if ids else "none"
