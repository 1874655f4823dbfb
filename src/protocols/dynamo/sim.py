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

``set-rmw`` is the same check over read-modify-writes: the key's value is the set,
written whole (comma-separated); a client adds an element by reading the key (the union
of its siblings) and writing the set with the read's context. Each key has one writer
(client c writes keys c, c + clients, ...; every client reads every key), so that under
last-write-wins (``resolve="lww"``) nothing is lost unless clocks disagree: with a node's
clock behind (``clock_offset_ms``), a write it coordinates loses to the older one before
it, and the checker names the adds lost (``tests/dynamo/sim/test_lww.py``). Under
siblings, nothing is lost either way.

**Convergence** (both workloads): once the clients stop (the faults are over), the
workload waits until every key's owners hold the same version and no node holds a hinted
version or a key still to move (anti-entropy, hinted handoff and rebalancing have done
their work), without reading anything, and reports how long that took; not converged
within ``converge_ms`` is a violation. Then come the final reads.

Invariants: none checked after every event (a version may legitimately be on one node
only for a while); the explorer's model checks that no acknowledged write is lost on
every path.
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
    phase: str = ""  # set-rmw's add: "read", then "write"


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
    rmw: bool = False  # set-rmw: read-modify-write of a whole set, one writer per key
    converge_ms: int = 20000
    converged_after_ms: int | None = None  # from when the clients stopped
    _converge_started_at: int = 0
    _converge_gave_up: bool = False
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
        node = rng.choice(w.ids)
        if self.rmw:
            self._next_rmw(c, seq, rng, node)
            return
        key = f"k{rng.randrange(self.keys)}"
        if rng.random() < self.add_share:
            element = f"c{c}-{seq}"  # unique per key: a client never repeats a seq
            inv = self.history.invoke(self._process[c], "add", key, element, float(w.now))
            command: Any = Put(key, element, {})
        else:
            inv = self.history.invoke(self._process[c], "read", key, None, float(w.now))
            command = Get(key)
        self._submit(("dynamo", c, seq), _Pending(c, inv, node), command)

    def _next_rmw(self, c: int, seq: int, rng: Any, node: str) -> None:
        """set-rmw: an add reads the key first, then writes the set with that context."""
        mine = [k for k in range(self.keys) if k % self.clients == c]
        if mine and rng.random() < self.add_share:
            key = f"k{rng.choice(mine)}"
            element = f"c{c}-{seq}"
            inv = self.history.invoke(self._process[c], "add", key, element, float(self.world.now))
            self._submit(("dynamo", c, seq), _Pending(c, inv, node, phase="read"), Get(key))
            return
        key = f"k{rng.randrange(self.keys)}"
        inv = self.history.invoke(self._process[c], "read", key, None, float(self.world.now))
        self._submit(("dynamo", c, seq), _Pending(c, inv, node), Get(key))

    @staticmethod
    def _elements(values: Any) -> list[str]:
        """set-rmw: a key's set is the union of its siblings' comma-separated sets."""
        return sorted({e for v in values for e in v.split(",") if e})

    def _submit(self, rid: Any, p: _Pending, command: Any) -> None:
        self._pending[rid] = p
        self.world.submit(p.node, command, request_id=rid)
        self.world.at(self.op_timeout_ms, lambda: self._timeout(rid))

    def _timeout(self, rid: Any) -> None:
        p = self._pending.get(rid)
        if p is not None:
            # an add still reading never wrote: it failed; anything else is in doubt
            self._finish(rid, "fail" if p.phase == "read" else "info", None,
                         f"no answer from {p.node} in {self.op_timeout_ms} ms")

    def _on_answer(self, answer: Answer) -> None:
        if answer.request_id not in self._pending:
            return
        p = self._pending[answer.request_id]
        if p.phase == "read" and answer.error is None:  # set-rmw: now write the set
            values, context = answer.result
            inv = p.invocation
            new = ",".join(sorted({*self._elements(values), str(inv.value)}))
            p.phase = "write"
            self.world.submit(p.node, Put(inv.key, new, context), request_id=answer.request_id)
            return
        if answer.error is None:
            values, _context = answer.result
            got = self._elements(values) if self.rmw else sorted(values)
            self._finish(answer.request_id, "ok", got, None)
        elif isinstance(answer.error, InvalidRequest) or p.phase == "read":
            # refused, or the read of a read-modify-write failed: the add never wrote
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
            self.world.at(1 if status == "ok" else 100, self._final_next)  # never re-entered
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
        self._converge_started_at = self.world.now
        self._check_converged()

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
        n = min(next(iter(cores.values())).options.n, len(w.ids))  # nodes may have left
        key = missing[0]
        inv = self.history.invoke(next(self._processes), "read", key, None, float(w.now))
        self._submit(("dynamo-final", self.final_tries), _Pending(-1, inv, node), Get(key, n))

    def _converged(self) -> bool:
        """Every up node's keys are held, at one version, by all of each key's owners,
        and nothing is left hinted or to move. Checked only with every node up."""
        w = self.world
        if any(not w.nodes[NodeId(n)].up for n in w.ids):  # a removed node is not one
            return False
        cores = self._cores()
        versions: dict[str, set[bytes]] = {}
        for core in cores.values():
            if core.hinted or core.moving:
                return False
            for key, s in core.store.items():
                versions.setdefault(key, set()).add(core._encode(s))
        for key, seen in versions.items():
            owners = next(iter(cores.values())).owners(key)
            if len(seen) != 1 or any(key not in cores[o].store for o in owners if o in cores):
                return False
        return True

    def _check_converged(self) -> None:
        """Poll until the replicas agree (or ``converge_ms`` passed), then read each key
        once more: convergence is measured before the final reads' read repair helps."""
        w = self.world
        if self._converged():
            self.converged_after_ms = w.now - self._converge_started_at
        elif w.now - self._converge_started_at >= self.converge_ms:
            self._converge_gave_up = True
        else:
            w.at(100, self._check_converged)
            return
        w.at(self._settle_ms(), self._final_next)

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
        if self.converged_after_ms is None:
            return Verdict(check, "violation", f"{result.summary()}; replicas not converged "
                                               f"{self.converge_ms} ms after the clients "
                                               f"stopped ({tally})")
        return Verdict(check, "ok", f"{result.summary()}; converged "
                                    f"{self.converged_after_ms} ms after the clients "
                                    f"stopped ({tally})")


def set_full_workload(world: World, params: WorkloadParams) -> SetFullWorkload:
    return SetFullWorkload(world, clients=params.clients, keys=params.keys,
                           stop_at_ms=params.stop_at_ms)


def set_rmw_workload(world: World, params: WorkloadParams) -> SetFullWorkload:
    return SetFullWorkload(world, clients=params.clients, keys=params.keys,
                           stop_at_ms=params.stop_at_ms, rmw=True)


class DynamoAdapter(SimAdapter):
    name = "dynamo"
    spec: DynamoSpec = SPEC
    # a forwarded request waits 3 replica deadlines (core.py): the driver's default
    # deadline only applies to messages sent without one
    rpc_timeout_ms = 300

    def workloads(self) -> Mapping[str, WorkloadFactory]:
        return {"set-full": set_full_workload, "set-rmw": set_rmw_workload}


ADAPTER = DynamoAdapter()
