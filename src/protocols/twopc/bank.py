"""The bank as transactions: Jepsen's bank test in 2PC's micro-ops, one shape for the
simulator's workload and the demo's clients on processes.

Each account is a counter (``add`` may not take it below zero: that shard votes NO) and
a ledger on the account's own shard (a list of the ids of the transfers applied to it).
A transfer is one transaction ``add from -amount; append from.ledger id; add to +amount;
append to.ledger id``; a read reads every balance and ledger, and ``balances`` turns its
answer into the value ``protocols.check.bank.check_bank`` takes.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from protocols.twopc.coordinator import shard_of
from protocols.twopc.messages import MicroOp, Read

__all__ = ["Bank", "key_on", "keys_on_shards"]


def key_on(name: str, shard: str, shards: Sequence[str]) -> str:
    """``name``, or ``name-j`` for the first ``j`` that lands on ``shard``."""
    for j in itertools.count():
        key = name if j == 0 else f"{name}-{j}"
        if shard_of(key, shards) == shard:
            return key
    raise AssertionError("unreachable")


def keys_on_shards(names: Sequence[str], shards: Sequence[str]) -> list[str]:
    """A key for each of ``names``, the i-th on shard ``sorted(shards)[i % len(shards)]``."""
    return [key_on(name, sorted(shards)[i % len(shards)], shards)
            for i, name in enumerate(names)]


@dataclass(slots=True)
class Bank:
    """``accounts`` accounts of ``balance`` each, spread over ``shards``."""

    shards: Sequence[str]
    accounts_n: int = 6
    balance: int = 100
    # names -> keys, for a store not sharded by ``shard_of`` (txnkv's ranges); a ledger
    # is then its account's key plus ".ledger"
    place: Callable[[Sequence[str]], list[str]] | None = None
    accounts: list[str] = field(init=False)
    ledgers: dict[str, str] = field(init=False)  # account -> its ledger, on its shard

    def __post_init__(self) -> None:
        names = [f"a{i}" for i in range(max(2, self.accounts_n))]
        if self.place is not None:
            self.accounts = self.place(names)
            self.ledgers = {a: f"{a}.ledger" for a in self.accounts}
            return
        self.accounts = keys_on_shards(names, self.shards)
        self.ledgers = {a: key_on(f"{a}.ledger", shard_of(a, self.shards), self.shards)
                        for a in self.accounts}

    @property
    def initial(self) -> dict[str, int]:
        return {a: self.balance for a in self.accounts}

    @property
    def total(self) -> int:
        return self.balance * len(self.accounts)

    def seed_ops(self) -> tuple[MicroOp, ...]:
        """Every account's opening balance (idempotent: safe to run again)."""
        return tuple(MicroOp("w", a, self.balance) for a in self.accounts)

    def transfer_ops(self, tid: int, source: str, target: str, amount: int
                     ) -> tuple[MicroOp, ...]:
        return (MicroOp("add", source, -amount), MicroOp("append", self.ledgers[source], tid),
                MicroOp("add", target, amount), MicroOp("append", self.ledgers[target], tid))

    def read_ops(self) -> tuple[MicroOp, ...]:
        return tuple(op for a in self.accounts
                     for op in (MicroOp("r", a), MicroOp("r", self.ledgers[a])))

    def balances(self, reads: Sequence[Read]) -> dict[str, Any]:
        """A read's answer as the bank checker's value: ``{account: {"balance",
        "applied"}}``."""
        out: dict[str, Any] = {}
        for i, a in enumerate(self.accounts):
            balance, ledger = reads[2 * i], reads[2 * i + 1]
            out[a] = {"balance": balance.values[0] if balance.present else 0,
                      "applied": list(ledger.values)}
        return out

    def balances_of(self, seen: dict[str, Any]) -> dict[str, Any]:
        """The same from a client's ``transact(reads=...)`` answer, ``{key: value}``."""
        return {a: {"balance": seen.get(a) or 0, "applied": list(seen.get(self.ledgers[a])
                                                                or [])}
                for a in self.accounts}
