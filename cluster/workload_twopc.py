"""Clients of 2PC's ``Transactions`` service on real processes, recording a Jepsen
history: the bank (``protocols.check.bank``) and Elle's list-append
(``protocols.check.elle``). The chaos tests and ``scripts/demo twopc`` drive them.

A committed transaction is ``ok``; ``Aborted`` (it did not happen) is ``fail``; anything
else (the coordinator unreachable, a deadline) is ``info``: an in-doubt transaction may
still commit later. A transaction is never resent (the coordinator could not tell a
retry from a new one); a client that met an error backs off a little, as a real one
does while its coordinator is away. ``final_reads`` reads everything once more, retried
until a read commits (one that meets an in-doubt transaction's locks aborts).
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cluster.workload import WorkloadStats
from protocols.check.history import Event, History
from protocols.check.record import Judgement
from protocols.common.errors import Aborted, ProtocolError
from protocols.runtime.tls import TlsMaterial
from protocols.twopc.bank import Bank
from protocols.twopc.client import TwoPcClient
from protocols.twopc.messages import MicroOp

__all__ = ["BankWorkload", "ListAppendWorkload", "TxnClients", "kept_total", "ops_of"]

ABORT_REASONS = ("wait-die", "below zero", "locks not granted", "did not come")


def ops_of(micro: tuple[MicroOp, ...]) -> list[list[Any]]:
    """Micro-ops as the client's lists."""
    return [[op.f, op.key, None if op.f == "r" else op.value] for op in micro]


@dataclass(slots=True)
class TxnClients:
    """``clients`` concurrent clients, each its own process in the history."""

    addresses: Mapping[str, str]
    clients: int = 4
    seed: int = 0
    op_timeout_s: float = 5.0
    backoff_s: float = 0.2
    tls: TlsMaterial | None = None
    coordinator: str | None = None  # send every transaction to this node (None: in turn)
    history: History = field(default_factory=History)
    stats: WorkloadStats = field(default_factory=WorkloadStats)
    why: dict[str, int] = field(default_factory=dict)  # why transactions aborted
    _t0: float = 0.0
    _runs: int = 0

    @property
    def t0(self) -> float:
        return self._t0

    def now(self) -> float:
        """Seconds on the history's clock (its 0: this workload's first operation)."""
        self._t0 = self._t0 or time.monotonic()
        return time.monotonic() - self._t0

    async def run(self, duration_s: float, stop: asyncio.Event | None = None) -> History:
        """Run until ``duration_s`` passed or ``stop`` is set."""
        self._t0 = self._t0 or time.monotonic()
        deadline = time.monotonic() + duration_s
        async with self.client() as tpc:
            await self.setup(tpc)
            self._runs += 1  # a second run draws other operations
            await asyncio.gather(*(self._worker(p, tpc, random.Random(
                f"{self.seed}.{self._runs}.{p}"), deadline, stop) for p in range(self.clients)))
        return self.history

    def client(self) -> TwoPcClient:
        return TwoPcClient(self.addresses, timeout_s=self.op_timeout_s, tls=self.tls)

    async def setup(self, tpc: TwoPcClient) -> None:
        """Before the clients start (the bank opens its accounts)."""

    async def _worker(self, process: int, tpc: TwoPcClient, rng: random.Random,
                      deadline: float, stop: asyncio.Event | None) -> None:
        while time.monotonic() < deadline and not (stop is not None and stop.is_set()):
            f, value, ops = self.next_op(rng)
            if await self.call(tpc, process, f, value, ops) == "info":
                await asyncio.sleep(self.backoff_s)

    async def call(self, tpc: TwoPcClient, process: int, f: str, value: Any,
                   ops: list[list[Any]]) -> str:
        """Run one transaction and record it; its status."""
        inv = self.history.invoke(process, f, None, value, self.now())
        try:
            done = await tpc.txn(ops, self.coordinator)
        except Aborted as e:
            self._done(inv, "fail", None, str(e))
            reason = next((r for r in ABORT_REASONS if r in str(e)), "other")
            self.why[reason] = self.why.get(reason, 0) + 1
            return "fail"
        except ProtocolError as e:
            self._done(inv, "info", None, str(e))
            return "info"
        self._done(inv, "ok", self.ok_value(f, value, done))
        return "ok"

    def _done(self, inv: Event, status: Any, value: Any, error: str | None = None) -> None:
        self.history.complete(inv, status, value, self.now(), error)
        setattr(self.stats, status, getattr(self.stats, status) + 1)
        self.stats.by_f[inv.f] = self.stats.by_f.get(inv.f, 0) + 1

    async def final_reads(self, duration_s: float = 2.0) -> None:
        """Read everything, retried until a read commits (at most ``15 + duration_s``)."""
        self._t0 = self._t0 or time.monotonic()
        deadline = time.monotonic() + max(duration_s, 15.0)
        async with self.client() as tpc:
            while time.monotonic() < deadline:
                f, value, ops = self.final_op()
                if await self.call(tpc, self.clients, f, value, ops) == "ok":
                    return
                await asyncio.sleep(self.backoff_s)
        raise TimeoutError("no final read committed: shards still in doubt?")

    # what a workload defines
    def next_op(self, rng: random.Random) -> tuple[str, Any, list[list[Any]]]:
        raise NotImplementedError

    def final_op(self) -> tuple[str, Any, list[list[Any]]]:
        raise NotImplementedError

    def ok_value(self, f: str, value: Any, done: list[list[Any]]) -> Any:
        raise NotImplementedError


@dataclass(slots=True)
class BankWorkload(TxnClients):
    """Jepsen's bank: transfers between accounts on different shards, whole-bank reads
    (``protocols.twopc.bank``); judged by ``check_bank(history, bank.initial)``."""

    accounts: int = 6
    balance: int = 100
    max_amount: int = 20
    read_ratio: float = 0.3
    # names -> keys, for a store not sharded by 2PC's hash (txnkv's ranges: Bank.place)
    place: Callable[[Sequence[str]], list[str]] | None = None
    bank: Bank | None = None
    _tid: int = 0

    async def setup(self, tpc: TwoPcClient) -> None:
        if self.bank is not None:
            return
        bank = Bank((await tpc.routing()).participants, self.accounts, self.balance,
                    place=self.place)
        while True:  # open the accounts (idempotent writes: a retry changes nothing)
            try:
                await tpc.txn(ops_of(bank.seed_ops()))
                break
            except ProtocolError:
                await asyncio.sleep(self.backoff_s)
        self.bank = bank

    def next_op(self, rng: random.Random) -> tuple[str, Any, list[list[Any]]]:
        assert self.bank is not None
        if rng.random() < self.read_ratio:
            return self.final_op()
        src, dst = rng.sample(self.bank.accounts, 2)
        return self.transfer(src, dst, rng.randint(1, self.max_amount))

    def transfer(self, src: str, dst: str, amount: int) -> tuple[str, Any, list[list[Any]]]:
        """A new transfer: (f, the history's value, the micro-ops)."""
        assert self.bank is not None
        self._tid += 1
        return ("transfer", {"id": self._tid, "from": src, "to": dst, "amount": amount},
                ops_of(self.bank.transfer_ops(self._tid, src, dst, amount)))

    def final_op(self) -> tuple[str, Any, list[list[Any]]]:
        assert self.bank is not None
        return "read", None, ops_of(self.bank.read_ops())

    def ok_value(self, f: str, value: Any, done: list[list[Any]]) -> Any:
        assert self.bank is not None
        if f == "transfer":
            return value
        return self.bank.balances_of({key: v for _, key, v in done})


@dataclass(slots=True)
class ListAppendWorkload(TxnClients):
    """Elle's list-append transactions over ``keys`` keys on every shard: 1-4 micro-ops,
    reads of whole lists and appends of values unique per key; ``f="txn"``."""

    keys: int = 6
    read_ratio: float = 0.5
    max_txn_len: int = 4
    # names -> keys, for a store whose keys must be placed (txnkv's ranges); default: k<i>
    place: Callable[[Sequence[str]], list[str]] | None = None
    _appended: dict[str, int] = field(default_factory=dict)
    _names: list[str] = field(default_factory=list)

    def key(self, k: int) -> str:
        if not self._names:
            names = [f"k{i}" for i in range(self.keys)]
            self._names = self.place(names) if self.place is not None else names
        return self._names[k]

    def next_op(self, rng: random.Random) -> tuple[str, Any, list[list[Any]]]:
        ops: list[list[Any]] = []
        for _ in range(rng.randint(1, self.max_txn_len)):
            key = self.key(rng.randrange(self.keys))
            if rng.random() < self.read_ratio:
                ops.append(["r", key, None])
            else:  # unique per key: the checker reads the order of appends off the lists
                self._appended[key] = n = self._appended.get(key, 0) + 1
                ops.append(["append", key, n])
        return "txn", ops, ops

    def final_op(self) -> tuple[str, Any, list[list[Any]]]:
        ops = [["r", self.key(k), None] for k in range(self.keys)]
        return "txn", ops, ops

    def ok_value(self, f: str, value: Any, done: list[list[Any]]) -> Any:
        return [[op, key, [] if op == "r" and v is None else v] for op, key, v in done]


def kept_total(total: int, initial: int) -> Judgement:
    """The bank demos' last check: the final balances, read after the clients stopped,
    sum to what the bank started with."""
    return Judgement.holds("final total", total == initial,
                           f"the final balances sum to {total}; the bank started at {initial}")
