"""Dynamo in the simulator: Jepsen's set-full workload, judged by
``protocols.check.setfull.check_set_full``.

Clients add unique elements to a few keys with *blind* writes (an empty context: no
write covers another, so every add stays a sibling and a key's siblings are a set) and
read the keys back, at any node (a node that does not own a key forwards the request),
while the nemesis partitions, crashes and delays. An add answered is ``ok``, refused
(``InvalidRequest``) is ``fail``, anything else (``Unavailable``, no answer within
``op_timeout_ms``) is ``info``: it may have happened. A read answered is ``ok`` with the
key's siblings; reads that fail tell nothing.

After the clients stop (the runner has healed everything and restarted every node), the
workload waits until no node can still be skipping another as failed (the options'
``failure_memory_ms`` and a few replica deadlines), then reads every key once more with
R = N, retried until it is answered: with every node healthy that read reaches all of the
key's top N, among them the coordinator of every acknowledged add, which wrote it to its
own disk before it answered (``core.py``). The checker then says whether an add
acknowledged (or seen by a read) is missing from that last read: *lost*. Reads during the
run that miss an element are *stale* (R < N under a sloppy quorum may read a stand-in),
which the checker reports but does not count as a violation (Dynamo is not
linearizable).

Invariants: none yet (what would hold after every event — a version never lost by a
replica that acknowledged it — needs the handoff and anti-entropy slices to state).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from protocols.check.elle import HistoryError
from protocols.check.history import Event, History
from protocols.check.setfull import check_set_full
from protocols.common.errors import InvalidRequest
from protocols.common.ids import NodeId
from protocols.contract import Answer
from protocols.dynamo import SPEC, DynamoSpec
from protocols.dynamo.core import DynamoCore, Get, Put
from protocols.sim.api import SimAdapter, Verdict, WorkloadFactory, WorkloadParams

if TYPE_CHECKING:
    from protocols.sim.world import World

__all__ = ["ADAPTER", "DynamoAdapter", "SetFullWorkload"]


@dataclass
class _Pending:
    client: int  # -1: the final read
    invocation: Event
    node: str
    done: bool = False


@dataclass
class SetFullWorkload:
    world: World
    clients: int = 3
    keys: int = 3
    stop_at_ms: int = 5000
    op_timeout_ms: int = 1500
    think_ms: int = 30
    add_share: float = 0.6
    history: History = field(default_factory=History)
    counts: dict[str, int] = field(default_factory=lambda: {"ok": 0, "fail": 0, "info": 0})
    final_reads: dict[str, Any] = field(default_factory=dict)  # key -> siblings read last
    final_tries: int = 0
    max_final_tries: int = 100
    _pending: dict[Any, _Pending] = field(default_factory=dict)
    _process: dict[int, int] = field(default_factory=dict)
    _processes: Any = field(default_factory=itertools.count)
    _seq: Any = field(default_factory=lambda: itertools.count(1))
    _stopped: set[int] = field(default_factory=set)
    _final_started: bool = False
    _gave_up: bool = False

    def start(self) -> None:
        w = self.world
        w.answer_hooks.append(self._on_answer)
        for c in range(self.clients):
            self._process[c] = next(self._processes)
            rng = w.rng(f"dynamo/start/{c}")
            w.at(rng.randrange(1, self.think_ms + 2), lambda c=c: self._next(c))  # type: ignore[misc]

    # ------------------------------------------------------------------ clients
    def _next(self, c: int) -> None:
        w = self.world
        if w.now >= self.stop_at_ms:
            self._stopped.add(c)
            self._maybe_final()
            return
        seq = next(self._seq)
        rng = w.rng(f"dynamo/{c}/{seq}")
        key = f"k{rng.randrange(self.keys)}"
        node = rng.choice(w.ids)
        if rng.random() < self.add_share:
            element = f"c{c}-{seq}"  # unique per key: a client never repeats a seq
            inv = self.history.invoke(self._process[c], "add", key, element, float(w.now))
            command: Any = Put(key, element, {})
        else:
            inv = self.history.invoke(self._process[c], "read", key, None, float(w.now))
            command = Get(key)
        self._submit(("dynamo", c, seq), _Pending(c, inv, node), command)

    def _submit(self, rid: Any, p: _Pending, command: Any) -> None:
        self._pending[rid] = p
        self.world.submit(p.node, command, request_id=rid)
        self.world.at(self.op_timeout_ms, lambda: self._timeout(rid))

    def _timeout(self, rid: Any) -> None:
        p = self._pending.get(rid)
        if p is not None:
            self._finish(rid, "info", None, f"no answer from {p.node} in "
                                            f"{self.op_timeout_ms} ms")

    def _on_answer(self, answer: Answer) -> None:
        if answer.request_id not in self._pending:
            return
        if answer.error is None:
            values, _context = answer.result
            self._finish(answer.request_id, "ok", sorted(values), None)
        elif isinstance(answer.error, InvalidRequest):
            self._finish(answer.request_id, "fail", None, str(answer.error))
        else:
            self._finish(answer.request_id, "info", None, str(answer.error))

    def _finish(self, rid: Any, status: str, values: Any, error: str | None) -> None:
        p = self._pending.pop(rid)
        inv, w = p.invocation, self.world
        value = values if inv.f == "read" and status == "ok" else inv.value
        self.history.complete(inv, status, value, float(w.now), error=error)  # type: ignore[arg-type]
        self.counts[status] += 1
        if p.client < 0:  # the final read of a key
            if status == "ok":
                self.final_reads[inv.key] = values
            self._final_next()
            return
        if status == "info":  # Jepsen: a process with an operation in doubt is not reused
            self._process[p.client] = next(self._processes)
        rng = w.rng(f"dynamo/think/{rid}")
        w.at(rng.randrange(1, self.think_ms + 2), lambda: self._next(p.client))

    # ------------------------------------------------------------------ the end
    def _settle_ms(self) -> int:
        o = next(c for c in self._cores().values()).options
        return o.failure_memory_ms + 4 * o.replica_timeout_ms

    def _cores(self) -> dict[str, DynamoCore]:
        return {n: node.core for n, node in self.world.nodes.items()
                if node.up and isinstance(node.core, DynamoCore)}

    def _maybe_final(self) -> None:
        if self._final_started or len(self._stopped) < self.clients or self._pending:
            return
        self._final_started = True
        self.world.at(self._settle_ms(), self._final_next)

    def _final_next(self) -> None:
        """Read the next key not read yet with R = N, at any node; retried."""
        w = self.world
        missing = [f"k{i}" for i in range(self.keys) if f"k{i}" not in self.final_reads]
        if not missing:
            return
        if self.final_tries >= self.max_final_tries:
            self._gave_up = True
            return
        self.final_tries += 1
        up = [n for n in w.ids if w.nodes[NodeId(n)].up]
        cores = self._cores()
        if not up or not cores:
            w.at(200, self._final_next)
            return
        rng = w.rng(f"dynamo/final/{self.final_tries}")
        node = rng.choice(up)
        n = next(iter(cores.values())).options.n
        key = missing[0]
        inv = self.history.invoke(next(self._processes), "read", key, None, float(w.now))
        self._submit(("dynamo-final", self.final_tries), _Pending(-1, inv, node), Get(key, n))

    @property
    def idle(self) -> bool:
        return self._gave_up or len(self.final_reads) == self.keys

    def verdict(self) -> Verdict:
        check = "set-full"
        try:
            result = check_set_full(self.history)
        except HistoryError as e:
            return Verdict(check, "unknown", f"malformed history: {e}")
        tally = (f"{self.counts['ok']} ok, {self.counts['fail']} fail, "
                 f"{self.counts['info']} info")
        if not result.valid:
            return Verdict(check, "violation", f"{result.summary()} ({tally})")
        if len(self.final_reads) < self.keys:
            return Verdict(check, "unknown", f"no final read of every key in "
                                             f"{self.final_tries} tries ({tally})")
        return Verdict(check, "ok", f"{result.summary()} ({tally})")


def set_full_workload(world: World, params: WorkloadParams) -> SetFullWorkload:
    return SetFullWorkload(world, clients=params.clients, keys=params.keys,
                           stop_at_ms=params.stop_at_ms)


class DynamoAdapter(SimAdapter):
    name = "dynamo"
    spec: DynamoSpec = SPEC
    # a forwarded request waits 3 replica deadlines (core.py): the driver's default
    # deadline only applies to messages sent without one
    rpc_timeout_ms = 300

    def workloads(self) -> Mapping[str, WorkloadFactory]:
        return {"set-full": set_full_workload}


ADAPTER = DynamoAdapter()
