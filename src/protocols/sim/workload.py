"""Workload clients inside the simulator: concurrent KV clients recording a history.

Each client has one operation in flight (a session, Raft thesis §6.3, opened with a
``register`` command before its first operation and again after it expired). It sends
the command to the node it believes leads, follows redirects, retries another node when an
attempt gets no answer within ``attempt_timeout_ms`` (same ``seq``, so a retried write
applies once), and gives up after ``op_timeout_ms`` with an ``info`` (unknown outcome).
Every invocation and completion goes into a ``protocols.check.history.History`` in
simulated time, ready for the linearizability checker.

``ListAppendWorkload`` is the same clients issuing transactions instead (Jepsen's Elle
list-append workload): each txn is 1-4 micro-ops, reads of whole lists and appends of
values unique per key, judged by ``protocols.check.elle`` (strict serializability).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from protocols.check.elle import check_list_append
from protocols.check.history import Event, History
from protocols.check.linearizability import check_history
from protocols.contract import Answer
from protocols.sim.api import KvBinding, Verdict, WorkloadFactory, WorkloadParams

if TYPE_CHECKING:
    from protocols.sim.world import World

__all__ = ["KvWorkload", "ListAppendWorkload", "kv_workload", "list_append_workload"]


@dataclass(slots=True)
class _Op:
    invocation: Event | None  # None: the client's own register, not in the history
    f: str
    key: str
    value: Any
    seq: int
    started: int
    attempt: int = 0
    maybe_applied: bool = False
    done: bool = False


@dataclass(slots=True)
class _Client:
    index: int
    rng: random.Random
    leader: str | None = None
    seq: int = 0
    op: _Op | None = None
    registered: bool = False


def kv_workload(binding: KvBinding) -> WorkloadFactory:
    """The ``kv`` workload of a protocol that serves a KV store through ``binding``."""
    def make(world: World, params: WorkloadParams) -> KvWorkload:
        return KvWorkload(world, binding, clients=params.clients, keys=params.keys,
                          stop_at_ms=params.stop_at_ms, check_timeout_s=params.check_timeout_s)
    return make


def list_append_workload(binding: KvBinding) -> WorkloadFactory:
    """The ``list-append`` workload: transactions over ``keys`` lists, checked by Elle."""
    def make(world: World, params: WorkloadParams) -> ListAppendWorkload:
        return ListAppendWorkload(world, binding, clients=params.clients, keys=params.keys,
                                  stop_at_ms=params.stop_at_ms,
                                  check_timeout_s=params.check_timeout_s)
    return make


@dataclass
class KvWorkload:
    world: World
    binding: KvBinding
    clients: int = 3
    keys: int = 3
    attempt_timeout_ms: int = 300
    op_timeout_ms: int = 3000
    think_ms: int = 20
    stop_at_ms: int = 10**12
    check_timeout_s: float = 30.0
    history: History = field(default_factory=History)
    _clients: list[_Client] = field(default_factory=list)
    _attempts: dict[Any, tuple[_Client, _Op, int]] = field(default_factory=dict)

    def start(self) -> None:
        self.world.answer_hooks.append(self._on_answer)
        for i in range(self.clients):
            client = _Client(i, self.world.rng(f"workload/{i}"))
            self._clients.append(client)
            self.world.at(client.rng.randrange(1, self.think_ms + 2), self._starter(client))

    def verdict(self) -> Verdict:
        """Was the history the clients saw linearizable (Porcupine-style check)?"""
        result = check_history(self.history, timeout_s=self.check_timeout_s)
        return Verdict("linearizability", result.verdict, result.summary())

    def _starter(self, c: _Client) -> Callable[[], None]:
        return lambda: self._next(c)

    @property
    def idle(self) -> bool:
        return all(c.op is None for c in self._clients)

    def _next(self, c: _Client) -> None:
        if self.world.now >= self.stop_at_ms:
            return
        if not c.registered:  # open the session first (not an operation of the history)
            c.op = _Op(None, "register", "", None, 0, self.world.now)
            self._attempt(c, c.op)
            return
        c.seq += 1
        f, key, value = self._choose(c)
        inv = self.history.invoke(c.index, f, key or None, value, float(self.world.now))
        c.op = _Op(inv, f, key, value, c.seq, self.world.now)
        self._attempt(c, c.op)

    def _choose(self, c: _Client) -> tuple[str, str, Any]:
        """The client's next operation: (f, key, argument)."""
        roll = c.rng.random()
        key = f"k{c.rng.randrange(self.keys)}"
        if roll < 0.4:
            return "get", key, None
        if roll < 0.8:
            return "put", key, f"{c.index}.{c.seq}"
        return "cas", key, [None if c.rng.random() < 0.2 else
                            f"{c.rng.randrange(self.clients)}.{c.rng.randrange(1, c.seq + 1)}",
                            f"{c.index}.{c.seq}"]

    def _attempt(self, c: _Client, op: _Op, node: str | None = None) -> None:
        if op.done:
            return
        if self.world.now - op.started >= self.op_timeout_ms:
            self._finish(c, op, "info" if op.maybe_applied or op.f != "get" else "fail",
                         None, "timed out")
            return
        op.attempt += 1
        target = node or c.leader or c.rng.choice(list(self.world.ids))
        rid = ("client", c.index, op.seq, op.attempt)
        self._attempts[rid] = (c, op, op.attempt)
        command = (self.binding.register_command(f"c{c.index}") if op.invocation is None else
                   self.binding.kv_command(op.f, op.key, op.value, f"c{c.index}", op.seq))
        self.world.submit(target, command, request_id=rid)
        attempt = op.attempt
        self.world.at(self.attempt_timeout_ms, lambda: self._attempt_timed_out(c, op, attempt))

    def _attempt_timed_out(self, c: _Client, op: _Op, attempt: int) -> None:
        if op.done or op.attempt != attempt:
            return
        op.maybe_applied = True  # it may have reached a leader's log
        c.leader = None
        self._attempt(c, op)

    def _on_answer(self, answer: Answer) -> None:
        entry = self._attempts.pop(answer.request_id, None)
        if entry is None:
            return
        c, op, attempt = entry
        if op.done or attempt != op.attempt:
            return
        status, result, why = self.binding.kv_outcome(op.f, answer)
        if status == "ok":
            self._finish(c, op, "ok", result, None)
        elif status == "retry":  # e.g. leadership lost: it may still commit; same seq again
            op.maybe_applied = True
            c.leader = None
            self.world.at(10, lambda: self._attempt(c, op))
        elif status == "redirect":
            c.leader = why if why in self.world.ids else None
            self.world.at(1 if c.leader else 10, lambda: self._attempt(c, op, c.leader))
        elif status == "expired":  # the session is gone: earlier attempts are unknown
            c.registered = False
            self._finish(c, op, "info" if op.maybe_applied else "fail", None, why)
        else:
            self._finish(c, op, "info" if op.maybe_applied else "fail", None, why)

    def _finish(self, c: _Client, op: _Op, status: str, result: Any, error: str | None) -> None:
        op.done = True
        c.op = None
        if op.invocation is None:
            c.registered = status == "ok"
        else:
            self.history.complete(op.invocation, status, result,  # type: ignore[arg-type]
                                  float(self.world.now), error=error)
        self.world.at(c.rng.randrange(1, self.think_ms + 2), lambda: self._next(c))


@dataclass
class ListAppendWorkload(KvWorkload):
    """KV clients issuing list-append transactions (``f="txn"``, key None in the
    history, the micro-ops as value); appended values are unique per key."""

    max_txn_len: int = 4
    _appended: dict[str, int] = field(default_factory=dict)  # key -> values appended

    def _choose(self, c: _Client) -> tuple[str, str, Any]:
        ops: list[list[Any]] = []
        for _ in range(c.rng.randint(1, self.max_txn_len)):
            key = f"k{c.rng.randrange(self.keys)}"
            if c.rng.random() < 0.5:
                ops.append(["r", key, None])
            else:
                self._appended[key] = n = self._appended.get(key, 0) + 1
                ops.append(["append", key, str(n)])
        return "txn", "", ops

    def verdict(self) -> Verdict:
        """Is the history strictly serializable (Elle's list-append inference)?"""
        result = check_list_append(self.history)
        return Verdict("strict-serializability", result.verdict, result.summary())
