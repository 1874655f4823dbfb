"""2PC in the simulator: atomicity checked after every event, and two workloads judged
by the transaction checkers.

``Atomicity`` (BHG §7.1, AC1-AC2): no two nodes reach different outcomes for one
transaction; a participant's COMMIT follows a coordinator's durable commit decision.

The workloads (``TwoPcAdapter.workloads()``; ``scripts/sim --protocol twopc --workload
bank|list-append``; docs/twopc.md) are clients that send ``Transact`` commands to the
coordinators and record what they saw as a Jepsen history: an answer with reads is
``ok``, a ``TransactionAborted`` (refused: it did not happen) is ``fail``, and anything
else — ``Unavailable``, no answer within ``op_timeout_ms``, the coordinator crashed under
the request — is ``info`` (it may have happened, at any time after its invocation: an
in-doubt transaction may commit long after its client gave up). A transaction is never
retried: without a client id the coordinator cannot tell a retry from a new one. After
``stop_at_ms`` (the runner has healed every fault and restarted every node by then) the
workload waits until the run has *settled* — every node up, no participant in doubt
(``settled``) — and then reads everything once more, retried
until a read commits (a read that meets locks held by an in-doubt transaction is
aborted, and that is fine: it is read again).

* ``bank`` (``BankWorkload``): accounts spread over the shards, each a counter and a
  ledger (a list of the transfer ids applied to it, on the account's own shard); a
  transfer is one transaction ``add from -amount; append from.ledger id; add to
  +amount; append to.ledger id`` (``add`` may not go below zero: that shard votes NO and
  the transfer aborts); a read reads every balance and ledger. Judged by
  ``protocols.check.bank.check_bank``. The initial balances are written by a first
  transaction of the workload (``w`` of every account, retried until it commits, before
  any client starts; idempotent, so a retry of an unknown one changes nothing), and are
  not in the history: they are the checker's ``initial``.
* ``list-append`` (``ListAppendWorkload``): Elle's transactions of 1-4 micro-ops, reads
  of whole lists and appends of values unique per key, over ``keys`` keys spread over
  the shards. Judged by ``protocols.check.elle.check_transactions`` at
  ``strict-serializable`` (strict 2PL under 2PC with every transaction's locks held to
  its outcome: ``WorkloadParams.extra["level"]`` picks another level).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from protocols.check.bank import check_bank
from protocols.check.elle import HistoryError, check_transactions
from protocols.check.history import Event, History
from protocols.check.invariants import InvariantViolation
from protocols.common.errors import ConfigError
from protocols.common.ids import NodeId
from protocols.contract import Answer
from protocols.sim.api import SimAdapter, Verdict, WorkloadFactory, WorkloadParams
from protocols.twopc import SPEC
from protocols.twopc.bank import Bank, keys_on_shards
from protocols.twopc.coordinator import shard_of
from protocols.twopc.core import TwoPcCore
from protocols.twopc.messages import MAX_TXN_OPS, MicroOp, Read, Transact

if TYPE_CHECKING:
    from protocols.sim.world import World

__all__ = ["ADAPTER", "Atomicity", "BankWorkload", "ListAppendWorkload", "TwoPcAdapter",
           "TxnWorkload", "settled"]


class Atomicity:
    """Every outcome any node reached, per transaction: never both."""

    def __init__(self) -> None:
        self.outcomes: dict[str, dict[str, bool]] = {}

    def __call__(self, world: World) -> None:
        for n in world.up_nodes():
            core = world.core(n)
            if not isinstance(core, TwoPcCore) or core.participant is None:
                continue
            for txn, committed in core.participant.outcomes.items():
                seen = self.outcomes.setdefault(txn, {})
                seen[n] = committed
                if len(set(seen.values())) > 1:
                    raise InvariantViolation(
                        f"atomicity: {txn} committed at "
                        f"{sorted(k for k, v in seen.items() if v)} and aborted at "
                        f"{sorted(k for k, v in seen.items() if not v)}")


# ====================================================================== helpers
def _cores(world: World) -> dict[str, TwoPcCore]:
    out: dict[str, TwoPcCore] = {}
    for n in world.up_nodes():
        core = world.core(n)
        if isinstance(core, TwoPcCore):
            out[n] = core
    return out


def settled(world: World) -> bool:
    """Every node up and no participant in doubt: every transaction's outcome is known
    wherever it was prepared, so a read meets no lock an in-doubt transaction holds. (A
    coordinator may still be resending a decision nobody needs: not waited for.)"""
    if len(world.up_nodes()) != len(world.ids):
        return False
    return not any(core.participant is not None and core.participant.in_doubt()
                   for core in _cores(world).values())


@dataclass(slots=True)
class _Op:
    """One transaction a client submitted: at most one attempt."""

    kind: str  # "seed", "final" or what the subclass records
    ops: tuple[MicroOp, ...]
    invocation: Event | None  # None: not in the history (the seed)
    node: str = ""
    incarnation: int = 0
    started: int = 0
    done: bool = False


@dataclass(slots=True)
class _Client:
    index: int
    process: int
    rng: random.Random
    op: _Op | None = None
    stopped: bool = False


class TxnWorkload:
    """Clients running transactions on the coordinators; what each saw goes into
    ``history``. Subclasses say what a transaction is (``choose``), how it is recorded
    (``invoke_value``, ``ok_value``), what runs first (``seed_ops``) and what the final
    read is (``final_ops``), and judge the history (``verdict``)."""

    check = "transactions"

    def __init__(self, world: World, params: WorkloadParams, *, op_timeout_ms: int = 2000,
                 think_ms: int = 20, settle_ms: int = 20_000, final_attempts: int = 50
                 ) -> None:
        self.world = world
        self.params = params
        self.clients_n = params.clients
        self.stop_at_ms = params.stop_at_ms
        self.op_timeout_ms = int(params.extra.get("op_timeout_ms", op_timeout_ms))
        self.think_ms = think_ms
        self.settle_ms = settle_ms
        self.final_attempts = final_attempts
        self.history = History()
        self.coordinators: list[str] = []
        self.shards: tuple[str, ...] = ()
        self._clients: list[_Client] = []
        self._pending: dict[Any, tuple[_Client, _Op]] = {}
        self._rids = itertools.count(1)
        self._processes = itertools.count()
        self.seeded = False
        self.final_ok: Any = None  # the final read's result, once one committed
        self.final_tries = 0
        self.settled_at: int | None = None
        self._final_started = False
        self._gave_up = False
        self.counts = {"ok": 0, "fail": 0, "info": 0}

    # ------------------------------------------------------------------ to override
    def setup(self) -> None:
        """Name the keys, once the shards are known."""

    def seed_ops(self) -> tuple[MicroOp, ...]:
        return ()

    def choose(self, c: _Client) -> tuple[str, tuple[MicroOp, ...], Any]:
        raise NotImplementedError

    def final_ops(self) -> tuple[MicroOp, ...]:
        raise NotImplementedError

    def ok_value(self, op: _Op, reads: tuple[Read, ...]) -> Any:
        raise NotImplementedError

    def verdict(self) -> Verdict:
        raise NotImplementedError

    # ------------------------------------------------------------------ the store's shape
    # 2PC's by default; a store of another shape (txnkv's ranges) overrides these five
    def discover(self) -> tuple[list[str], tuple[str, ...]]:
        """The nodes that take transactions, and the shards keys are spread over."""
        cores = _cores(self.world)
        coordinators = sorted(n for n, c in cores.items() if c.coordinator is not None)
        shards = next(iter(cores.values())).participants
        if not coordinators or not shards:
            raise ValueError("2PC workloads need a coordinator and a participant")
        return coordinators, shards

    def place(self, names: Sequence[str]) -> list[str]:
        """A key for each of ``names``, spread over the shards."""
        return keys_on_shards(names, self.shards)

    def shard_name(self, key: str) -> str:
        return shard_of(key, self.shards)

    def bank_placement(self) -> Callable[[Sequence[str]], list[str]] | None:
        """How the bank names its keys: None, 2PC's way (each ledger on its account's
        shard, found by ``shard_of``); else ``place`` (``Bank.place``)."""
        return None

    def is_settled(self) -> bool:
        """May the final read begin? (2PC: no participant in doubt.)"""
        return settled(self.world)

    # ------------------------------------------------------------------ the run
    def start(self) -> None:
        w = self.world
        self.coordinators, self.shards = self.discover()
        self.setup()
        w.answer_hooks.append(self._on_answer)
        for i in range(self.clients_n):
            self._clients.append(_Client(i, next(self._processes), w.rng(f"workload/{i}")))
        seed = self.seed_ops()
        if seed:
            self._seeder = _Client(-1, -1, w.rng("workload/seed"))
            w.at(1, lambda: self._submit(self._seeder, _Op("seed", seed, None)))
        else:
            self._seeded()

    @property
    def idle(self) -> bool:
        return self.final_ok is not None or self._gave_up

    def _seeded(self) -> None:
        self.seeded = True
        for c in self._clients:
            self.world.at(c.rng.randrange(1, self.think_ms + 2), self._starter(c))

    def _starter(self, c: _Client) -> Callable[[], None]:
        return lambda: self._next(c)

    def _next(self, c: _Client) -> None:
        if self.world.now >= self.stop_at_ms:
            c.stopped = True
            self._maybe_final()
            return
        if not any(self.world.nodes[NodeId(n)].up for n in self.coordinators):
            self.world.at(50, lambda: self._next(c))  # nobody to send it to: wait
            return
        kind, ops, value = self.choose(c)
        inv = self.history.invoke(c.process, kind, None, value, float(self.world.now))
        self._submit(c, _Op(kind, ops, inv))

    def _submit(self, c: _Client, op: _Op) -> None:
        w = self.world
        up = [n for n in self.coordinators if w.nodes[NodeId(n)].up]
        node = c.rng.choice(up or self.coordinators)
        op.node, op.incarnation, op.started = node, w.nodes[NodeId(node)].incarnation, w.now
        c.op = op
        rid = ("twopc", c.index, next(self._rids))
        self._pending[rid] = (c, op)
        w.submit(node, Transact(op.ops), request_id=rid)
        self._watch(rid, c, op)

    def _watch(self, rid: Any, c: _Client, op: _Op) -> None:
        """Give up on an attempt whose coordinator crashed under it (the client sees its
        connection drop) or that took ``op_timeout_ms``: its outcome is unknown."""
        if op.done:
            return
        node = self.world.nodes[NodeId(op.node)]
        if not node.up or node.incarnation != op.incarnation:
            self._finish(rid, "info", None, f"{op.node} crashed under the request")
        elif self.world.now - op.started >= self.op_timeout_ms:
            self._finish(rid, "info", None, f"no answer in {self.op_timeout_ms} ms")
        else:
            self.world.at(50, lambda: self._watch(rid, c, op))

    def _on_answer(self, answer: Answer) -> None:
        if answer.request_id not in self._pending:
            return
        if answer.error is None:
            self._finish(answer.request_id, "ok", answer.result, None)
        elif getattr(answer.error, "refused", False):  # Aborted: it did not happen
            self._finish(answer.request_id, "fail", None, str(answer.error))
        else:  # Unavailable: it may have committed
            self._finish(answer.request_id, "info", None, str(answer.error))

    def _finish(self, rid: Any, status: str, result: Any, error: str | None) -> None:
        c, op = self._pending.pop(rid)
        op.done, c.op = True, None
        w = self.world
        if op.invocation is not None:
            value = self.ok_value(op, result) if status == "ok" else op.invocation.value
            self.history.complete(op.invocation, status, value,  # type: ignore[arg-type]
                                  float(w.now), error=error)
            self.counts[status] += 1
            if status == "info":  # Jepsen: a process with an op in doubt is not reused
                c.process = next(self._processes)
        if op.kind == "seed":
            if status == "ok":
                self._seeded()
            else:  # idempotent: the same writes again
                w.at(50, lambda: self._submit(c, _Op("seed", op.ops, None)))
            return
        if op.kind == "final":
            if status == "ok":
                self.final_ok = result
            elif self.final_tries >= self.final_attempts:
                self._gave_up = True
            else:
                w.at(100, self._final_read)
            return
        w.at(c.rng.randrange(1, self.think_ms + 2), lambda: self._next(c))

    # ------------------------------------------------------------------ the end
    def _maybe_final(self) -> None:
        if self._final_started or not all(c.stopped for c in self._clients):
            return
        self._final_started = True
        self._settle_from = self.world.now
        self._await_settled()

    def _await_settled(self) -> None:
        w = self.world
        if self.is_settled():
            self.settled_at = w.now
        elif w.now - self._settle_from < self.settle_ms:
            w.at(50, self._await_settled)
            return
        self._final_read()

    def _final_read(self) -> None:
        self.final_tries += 1
        c = _Client(-2, next(self._processes), self.world.rng(f"workload/final/"
                                                                f"{self.final_tries}"))
        kind, value = self.final_record()
        inv = self.history.invoke(c.process, kind, None, value, float(self.world.now))
        self._submit(c, _Op("final", self.final_ops(), inv))

    def final_record(self) -> tuple[str, Any]:
        """How the final read is recorded: (f, invocation value)."""
        raise NotImplementedError

    def ending(self) -> str:
        if self.final_ok is None:
            return (f"no final read committed in {self.final_tries} tries"
                    + ("" if self.settled_at is not None else
                       f"; not settled {self.settle_ms} ms after the clients stopped"))
        return (f"final read after {self.final_tries} tries"
                + ("" if self.settled_at is not None else
                   f", though not settled {self.settle_ms} ms after the clients stopped"))


# ====================================================================== the bank
class BankWorkload(TxnWorkload):
    """Transfers between accounts on different shards and whole-bank reads; see the
    module's doc."""

    check = "bank"

    def __init__(self, world: World, params: WorkloadParams, **kw: Any) -> None:
        super().__init__(world, params, **kw)
        self.balance = int(params.extra.get("balance", 10))
        self.max_amount = int(params.extra.get("max_amount", 5))
        self.read_share = float(params.extra.get("read_share", 0.35))  # of the client ops
        if 2 * params.keys > MAX_TXN_OPS:  # the whole-bank read is one transaction
            raise ConfigError(f"bank: {params.keys} accounts make a whole-bank read of "
                              f"{2 * params.keys} micro-ops, above {MAX_TXN_OPS}")
        self.bank: Bank | None = None  # setup(): once the shards are known
        self.accounts: list[str] = []
        self.initial: dict[str, int] = {}
        self._ids = itertools.count(1)

    def setup(self) -> None:
        self.bank = Bank(self.shards, max(2, self.params.keys), self.balance,
                         place=self.bank_placement())
        self.accounts, self.initial = self.bank.accounts, self.bank.initial

    def seed_ops(self) -> tuple[MicroOp, ...]:
        assert self.bank is not None
        return self.bank.seed_ops()

    def read_ops(self) -> tuple[MicroOp, ...]:
        assert self.bank is not None
        return self.bank.read_ops()

    def choose(self, c: _Client) -> tuple[str, tuple[MicroOp, ...], Any]:
        if c.rng.random() < self.read_share:
            return "read", self.read_ops(), None
        src, dst = c.rng.sample(self.accounts, 2)
        amount, tid = c.rng.randint(1, self.max_amount), next(self._ids)
        assert self.bank is not None
        return ("transfer", self.bank.transfer_ops(tid, src, dst, amount),
                {"id": tid, "from": src, "to": dst, "amount": amount})

    def final_ops(self) -> tuple[MicroOp, ...]:
        return self.read_ops()

    def final_record(self) -> tuple[str, Any]:
        return "read", None

    def ok_value(self, op: _Op, reads: tuple[Read, ...]) -> Any:
        if op.kind == "transfer":
            return op.invocation.value if op.invocation is not None else None
        assert self.bank is not None
        return self.bank.balances(reads)

    def verdict(self) -> Verdict:
        try:
            result = check_bank(self.history, self.initial)
        except HistoryError as e:
            return Verdict(self.check, "unknown", f"malformed history: {e}")
        return Verdict(self.check, _status(result.valid, self.final_ok is not None),
                       f"{result.summary()}; {self._tally()}; {self.ending()}")

    def _tally(self) -> str:
        return (f"{self.counts['ok']} ok, {self.counts['fail']} fail, "
                f"{self.counts['info']} info over {len(self.accounts)} accounts on "
                f"{len({self.shard_name(a) for a in self.accounts})} shards")


# ====================================================================== list-append
class ListAppendWorkload(TxnWorkload):
    """Elle's list-append transactions; see the module's doc."""

    check = "list-append"

    def __init__(self, world: World, params: WorkloadParams, **kw: Any) -> None:
        super().__init__(world, params, **kw)
        self.level = str(params.extra.get("level", "strict-serializable"))
        self.max_txn_len = int(params.extra.get("max_txn_len", 4))
        # every key read is appended to in the same txn: no share of a txn is read-only
        self.rmw = bool(params.extra.get("rmw", False))
        if params.keys > MAX_TXN_OPS:  # the final read is one transaction
            raise ConfigError(f"list-append: {params.keys} keys make a final read of "
                              f"{params.keys} micro-ops, above {MAX_TXN_OPS}")
        self.keys: list[str] = []
        self._appended: dict[str, int] = {}

    def setup(self) -> None:
        self.keys = self.place([f"k{i}" for i in range(max(1, self.params.keys))])

    def choose(self, c: _Client) -> tuple[str, tuple[MicroOp, ...], Any]:
        ops: list[MicroOp] = []
        for _ in range(c.rng.randint(1, self.max_txn_len)):
            key = c.rng.choice(self.keys)
            read = c.rng.random() < 0.5
            if read:
                ops.append(MicroOp("r", key))
            if self.rmw or not read:
                self._appended[key] = n = self._appended.get(key, 0) + 1
                ops.append(MicroOp("append", key, n))
        return "txn", tuple(ops), _jepsen(ops)

    def final_ops(self) -> tuple[MicroOp, ...]:
        return tuple(MicroOp("r", k) for k in self.keys)

    def final_record(self) -> tuple[str, Any]:
        return "txn", _jepsen(self.final_ops())

    def ok_value(self, op: _Op, reads: tuple[Read, ...]) -> Any:
        it = iter(reads)
        out: list[list[Any]] = []
        for m in op.ops:
            if m.f == "r":
                r = next(it)
                out.append(["r", m.key, list(r.values) if r.present else None])
            else:
                out.append([m.f, m.key, m.value])
        return out

    def verdict(self) -> Verdict:
        try:
            result = check_transactions(self.history, model="list-append", level=self.level)
        except HistoryError as e:
            return Verdict(self.level, "unknown", f"malformed history: {e}")
        return Verdict(self.level, _status(result.valid, self.final_ok is not None),
                       f"{result.summary()}; {self.ending()}")


def _status(valid: bool, final_read: bool) -> Literal["ok", "violation", "unknown"]:
    """A violation found is one; no violation without a final read is not a pass."""
    return "violation" if not valid else "ok" if final_read else "unknown"


def _jepsen(ops: Sequence[MicroOp]) -> list[list[Any]]:
    return [[m.f, m.key, None if m.f == "r" else m.value] for m in ops]


def bank_workload(world: World, params: WorkloadParams) -> BankWorkload:
    return BankWorkload(world, params)


def list_append_workload(world: World, params: WorkloadParams) -> ListAppendWorkload:
    return ListAppendWorkload(world, params)


class TwoPcAdapter(SimAdapter):
    name = "twopc"
    spec = SPEC

    def invariants(self) -> Sequence[Callable[[World], None]]:
        return [Atomicity()]

    def workloads(self) -> Mapping[str, WorkloadFactory]:
        return {"bank": bank_workload, "list-append": list_append_workload}


ADAPTER = TwoPcAdapter()
