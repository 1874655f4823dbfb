"""Jepsen's set-full workload on real Dynamo processes (``protocols.dynamo``), the real-
process twin of the simulator's (``protocols.dynamo.sim``), judged by
``protocols.check.setfull.check_set_full``. ``scripts/demo dynamo`` and the Dynamo chaos
tests drive it.

Clients add unique elements to a few keys with *blind* puts (an empty context: no write
covers another, so every add stays a sibling and a key's siblings are its set) and read
the keys back, each operation at a node drawn at random (a node outside the key's top N
forwards it, §4.5). Each request is pinned to its node: a node that is down fails the
request rather than the client trying the next, so the per-node counts say who served
what. Every operation is recorded in a ``History`` (seconds since ``t0``):

* an add answered is ``ok``; refused (``InvalidRequest``, or ``Unavailable`` refused
  before the node acted) is ``fail``; anything else (a deadline, ``Unavailable`` after
  the node accepted it, a connection lost) is ``info``: it may have happened;
* a read answered is ``ok`` with the key's siblings, sorted; one that is not tells
  nothing (``fail``; the checker drops it).

``final_reads`` is the end of a run, once the faults stopped (the chaos harness calls it
after ``nemesis.clear()``): it waits until the store has *converged*, polling every
node's ``Ownership`` (its keys, hinted versions, keys still moving) until every node
answers, sees the same ring, holds nothing hinted (§4.6: handoff emptied every hint) and
nothing moving (§4.9), and the cluster holds exactly N copies of every key written; then,
until every node's R = 1 read of each key (an owner answers from its own copy, another
node from the first owner's) shows the same siblings (a probe that differs lets read
repair help: ``probe_disagreements`` counts them). It records how long that took
(``converged_after_s``; ``None``: not within ``converge_s``). Then it reads every key
once more with R = N, retried until answered, into the history: with every node healthy
that read reaches all of the key's owners, among them the coordinator of every
acknowledged add, which wrote it to its own disk before answering; an acknowledged add
missing from it is *lost*.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cluster.workload import WorkloadStats
from protocols.check.history import Event, History
from protocols.common.errors import InvalidRequest, ProtocolError, Unavailable
from protocols.dynamo.client import DynamoClient, Ownership
from protocols.runtime.tls import TlsMaterial

__all__ = ["NodeOps", "SetFullWorkload"]


@dataclass(slots=True)
class NodeOps:
    """What the clients' requests to one node came to."""

    ok: int = 0
    failed: int = 0  # fail or info


@dataclass(slots=True)
class SetFullWorkload:
    """``clients`` concurrent clients adding to and reading ``keys`` sets.

    ``addresses`` are the nodes' client addresses; ``nodes`` (optional) returns the
    cluster's current ones, for a cluster whose nodes come and go (joins, leaves): every
    operation and the final phase then use the nodes of the moment."""

    addresses: Mapping[str, str]
    clients: int = 4
    keys: int = 3
    seed: int = 0
    n: int = 3  # the store's N: copies of each key once converged
    add_ratio: float = 0.6
    op_timeout_s: float = 2.0
    pause_s: float = 0.01  # think time between a client's operations
    converge_s: float = 30.0  # the bound on convergence after the faults stop
    settle_s: float = 1.0  # before the final reads: no node still skips another as failed
    tls: TlsMaterial | None = None
    nodes: Callable[[], Mapping[str, str]] | None = None
    history: History = field(default_factory=History)
    stats: WorkloadStats = field(default_factory=WorkloadStats)
    per_node: dict[str, NodeOps] = field(default_factory=dict)
    converged_after_s: float | None = None
    converge_polls: int = 0
    probe_disagreements: int = 0  # polls whose R=1 reads differed (then read repair ran)
    last_seen: str = ""  # why the last convergence poll said no
    final: dict[str, list[str]] = field(default_factory=dict)  # key -> the R=N read
    _t0: float = 0.0
    _clients: dict[tuple[str, str], DynamoClient] = field(default_factory=dict)
    _next_process: int = 0
    _seq: int = 0
    _attempted: set[str] = field(default_factory=set)  # keys an add was sent to
    _acked: set[str] = field(default_factory=set)  # keys an add was acknowledged on

    @property
    def t0(self) -> float:
        """``time.monotonic()`` at the history's time 0."""
        return self._t0

    def now(self) -> float:
        self._t0 = self._t0 or time.monotonic()
        return time.monotonic() - self._t0

    def current(self) -> Mapping[str, str]:
        """The nodes' client addresses now."""
        return self.nodes() if self.nodes is not None else self.addresses

    def client(self, node: str) -> DynamoClient:
        """A client of ``node`` alone (one per address: a node that left and one that
        joined under its id are not confused)."""
        address = self.current().get(node) or self.addresses[node]
        c = self._clients.get((node, address))
        if c is None:
            c = self._clients[(node, address)] = DynamoClient(
                {node: address}, timeout_s=self.op_timeout_s, tls=self.tls)
        return c

    async def close(self) -> None:
        for c in self._clients.values():
            await c.close()
        self._clients.clear()

    # ------------------------------------------------------------------ the clients
    async def run(self, duration_s: float, stop: asyncio.Event | None = None) -> History:
        """Run until ``duration_s`` passed or ``stop`` is set."""
        if self.clients < 1 or self.keys < 1:
            raise InvalidRequest("a workload needs at least one client and one key")
        self._t0 = self._t0 or time.monotonic()
        deadline = time.monotonic() + duration_s
        await asyncio.gather(*(self._worker(c, deadline, stop) for c in range(self.clients)))
        return self.history

    def _process(self) -> int:
        self._next_process += 1
        return self._next_process - 1

    async def _worker(self, c: int, deadline: float, stop: asyncio.Event | None) -> None:
        rng = random.Random(f"{self.seed}/dynamo/{c}")
        process = self._process()
        while time.monotonic() < deadline and not (stop is not None and stop.is_set()):
            node = rng.choice(sorted(self.current()))
            key = f"k{rng.randrange(self.keys)}"
            if rng.random() < self.add_ratio:
                self._seq += 1
                status = await self.add(process, node, key, f"c{c}-{self._seq}")
            else:
                status = await self.read(process, node, key)
            if status == "info":  # Jepsen: a process with an operation in doubt is retired
                process = self._process()
            if self.pause_s:
                await asyncio.sleep(rng.uniform(0, 2 * self.pause_s))

    async def add(self, process: int, node: str, key: str, element: str) -> str:
        """A blind put of ``element`` to ``key`` at ``node``, recorded; its status."""
        inv = self.history.invoke(process, "add", key, element, self.now())
        self._attempted.add(key)
        try:
            await self.client(node).put(key, element, node=node)
        except ProtocolError as e:
            status = "fail" if _surely_not(e) else "info"
            self._done(inv, node, status, None, str(e))
            return status
        self._acked.add(key)
        self.stats.acked_writes.append((key, element))
        self._done(inv, node, "ok", element)
        return "ok"

    async def read(self, process: int, node: str, key: str, r: int = 0) -> str:
        """A read of ``key`` at ``node`` (``r`` replicas; 0: the store's R), recorded."""
        inv = self.history.invoke(process, "read", key, None, self.now())
        try:
            values, _context = await self.client(node).get(key, r=r, node=node)
        except ProtocolError as e:
            self._done(inv, node, "fail", None, str(e))
            return "fail"
        self._done(inv, node, "ok", sorted(values))
        return "ok"

    def _done(self, inv: Event, node: str, status: Any, value: Any,
              error: str | None = None) -> None:
        self.history.complete(inv, status, value, self.now(), error)
        setattr(self.stats, status, getattr(self.stats, status) + 1)
        self.stats.by_f[inv.f] = self.stats.by_f.get(inv.f, 0) + 1
        ops = self.per_node.setdefault(node, NodeOps())
        if status == "ok":
            ops.ok += 1
        else:
            ops.failed += 1

    # ------------------------------------------------------------------ the end
    async def final_reads(self, duration_s: float = 2.0) -> None:
        """Wait for convergence (at most ``converge_s``), then read every key with R=N
        into the history, each retried at the next node until answered (at most
        ``15 + duration_s`` in all). Leaves the clients closed."""
        started = time.monotonic()
        try:
            if await self.wait_converged():
                self.converged_after_s = time.monotonic() - started
            await asyncio.sleep(max(0.0, started + self.settle_s - time.monotonic()))
            await self._read_all(time.monotonic() + max(duration_s, 15.0))
        finally:
            await self.close()

    async def wait_converged(self) -> bool:
        """Poll until ``converged()`` or ``converge_s`` passed."""
        end = time.monotonic() + self.converge_s
        while True:
            self.converge_polls += 1
            if await self.converged():
                return True
            if time.monotonic() >= end:
                return False
            await asyncio.sleep(0.2)

    async def ownerships(self) -> dict[str, Ownership | None]:
        """Every node's ``Ownership`` (None: it did not answer in time)."""
        nodes = sorted(self.current())

        async def one(n: str) -> Ownership | None:
            try:
                return await self.client(n).ownership(node=n)
            except ProtocolError:
                return None

        return dict(zip(nodes, await asyncio.gather(*(one(n) for n in nodes)), strict=True))

    async def converged(self) -> bool:
        """Every node answers, sees the same ring of every current node, holds nothing
        hinted or moving; N copies of every key; every node's R=1 read of each key shows
        the same siblings. ``last_seen`` says what was still wrong."""
        seen = await self.ownerships()
        nodes = sorted(seen)
        down = [n for n, o in seen.items() if o is None]
        if down:
            self.last_seen = f"no answer from {','.join(down)}"
            return False
        owns = {n: o for n, o in seen.items() if o is not None}
        rings = {n: sorted(o.shares) for n, o in owns.items() if sorted(o.shares) != nodes}
        busy = {n: (o.hinted, o.moving) for n, o in owns.items() if o.hinted or o.moving}
        copies = sum(o.keys for o in owns.values())
        if rings or busy or not (copies % self.n == 0 and self.n * len(self._acked)
                                 <= copies <= self.n * len(self._attempted)):
            self.last_seen = (f"rings differing {rings}, (hinted, moving) {busy}, "
                              f"{copies} copies of {len(self._acked)}-"
                              f"{len(self._attempted)} keys")
            return False
        for key in sorted(self._attempted):
            views: dict[str, tuple[str, ...] | None] = {}
            for n in nodes:
                try:
                    values, _ = await self.client(n).get(key, r=1, node=n)
                    views[n] = tuple(sorted(values))
                except ProtocolError:
                    views[n] = None
            if len(set(views.values())) != 1 or None in views.values():
                sizes = {n: None if v is None else len(v) for n, v in views.items()}
                self.last_seen = f"{key}: siblings per node differ: {sizes}"
                self.probe_disagreements += 1
                return False
        self.last_seen = "converged"
        return True

    async def _read_all(self, deadline: float) -> None:
        process = self._process()
        tries = 0
        for k in range(self.keys):
            key = f"k{k}"
            while key not in self.final:
                nodes = sorted(self.current())
                node = nodes[tries % len(nodes)]
                tries += 1
                if await self.read(process, node, key, r=self.n) == "ok":
                    value = self.history.events[-1].value
                    self.final[key] = list(value)
                elif time.monotonic() >= deadline:
                    raise TimeoutError(f"no final R={self.n} read of {key} answered "
                                       f"in {tries} tries")
                else:
                    await asyncio.sleep(0.1)


def _surely_not(e: ProtocolError) -> bool:
    """The add surely did not happen: refused as bad input, or before the node acted on
    it (nothing reached the node)."""
    if isinstance(e, InvalidRequest):
        return True
    return isinstance(e, Unavailable) and (
        e.refused or "failed to connect" in str(e).lower())
