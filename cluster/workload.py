"""A KV workload for real clusters: concurrent clients, every operation recorded.

Each worker is one ``KvClient`` (one operation in flight, its own session) doing a
seeded random mix of get / put / cas on a small key space, so operations overlap and
conflict. Every operation is recorded as invoke + ok / fail / info in a
``protocols.check.history.History`` with wall-clock times relative to the start:

* ok   - the client got an answer;
* fail - the client knows it did not happen (``Unavailable``: nobody took it);
* info - unknown (``Timeout``, ``SessionExpired``): it may have happened; the checker
  treats it as concurrent with everything after its invocation.

Written values are unique per (worker, counter), so a lost or duplicated write is visible
to the linearizability checker.

``ListAppendWorkload`` is Jepsen's Elle list-append workload on the same clients: each
operation is one transaction (``KvClient.txn``) of 1-4 micro-ops over a few keys, whole-
list reads and appends of values unique per key, recorded as ``f="txn"`` with the
micro-ops (reads filled in on ``ok``), for ``protocols.check.elle``.

Both have ``final_reads(duration_s)``: after the faults heal, reads of every key that must
see every acknowledged write (the chaos harness runs them before checking).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from protocols.check.history import Event, History
from protocols.common.errors import InvalidRequest, SessionExpired, Timeout, Unavailable
from protocols.kv.client import KvChannels, KvClient
from protocols.runtime.tls import TlsMaterial

__all__ = ["KvWorkload", "ListAppendWorkload", "WorkloadStats"]


@dataclass(slots=True)
class WorkloadStats:
    ok: int = 0
    fail: int = 0
    info: int = 0
    by_f: dict[str, int] = field(default_factory=dict)
    acked_writes: list[tuple[str, str]] = field(default_factory=list)  # (key, value) put ok


@dataclass(slots=True)
class KvWorkload:
    """Run ``clients`` concurrent KV clients against ``addresses`` for ``duration_s``."""

    addresses: Mapping[str, str]
    clients: int = 5
    keys: int = 5
    seed: int = 0
    read_ratio: float = 0.4
    cas_ratio: float = 0.2
    op_deadline_s: float = 5.0
    attempt_timeout_s: float = 0.5
    tls: TlsMaterial | None = None  # the client certificate, for a cluster with TLS
    pause_s: float = 0.0  # think time between a worker's operations
    history: History = field(default_factory=History)
    stats: WorkloadStats = field(default_factory=WorkloadStats)
    _t0: float = 0.0
    _run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])

    def now(self) -> float:
        return time.monotonic() - self._t0

    @property
    def t0(self) -> float:
        """When the history's clock started (``time.monotonic``): its times count from it."""
        return self._t0

    async def run(self, duration_s: float, max_ops_per_client: int = 100_000) -> History:
        """Run until ``duration_s`` elapses; return the recorded history."""
        if self.clients < 1 or self.keys < 1:
            raise InvalidRequest("a workload needs at least one client and one key")
        self._t0 = self._t0 or time.monotonic()
        channels = KvChannels(self.addresses, tls=self.tls)
        try:
            stop_at = self.now() + duration_s
            await asyncio.gather(*(self._worker(p, channels, stop_at, max_ops_per_client)
                                   for p in range(self.clients)))
        finally:
            await channels.close()
        return self.history

    async def final_reads(self, duration_s: float = 2.0) -> None:
        """One client reading every key, after the faults heal, into the same history."""
        final = KvWorkload(self.addresses, clients=1, keys=self.keys, seed=self.seed,
                           read_ratio=1.0, history=self.history, op_deadline_s=15.0,
                           tls=self.tls)
        final._t0 = self.t0
        await final.run(duration_s, max_ops_per_client=2 * self.keys)

    async def read_from(self, node: str, duration_s: float, process: int) -> None:
        """Reads sent to ``node`` alone, never redirected, recorded like the workers': a
        probe for stale reads from a node that may wrongly believe it leads (a leader
        resumed after a pause, still cut off from its peers). ``process`` must be a
        number the workers do not use. A read it cannot answer ends as fail or info."""
        self._t0 = self._t0 or time.monotonic()
        rng = random.Random(f"{self.seed}/probe/{process}")
        stop_at = self.now() + duration_s
        async with KvClient({node: self.addresses[node]}, client_id=f"probe-{process}",
                            deadline_s=0.5, attempt_timeout_s=0.25, tls=self.tls) as client:
            while self.now() < stop_at:
                key = f"k{rng.randrange(self.keys)}"
                invocation = self.history.invoke(process, "get", key, None, self.now())
                await self._complete(invocation, client.get(key))

    async def _worker(self, process: int, channels: KvChannels, stop_at: float,
                      max_ops: int) -> None:
        rng = random.Random(f"{self.seed}/client/{process}")
        # a session id of its own: two workloads of one run (the chaos tests' final reads)
        # must never share one, or a read could be answered from the other's session
        client = KvClient(channels, client_id=f"w{self.seed}-{self._run_id}-{process}",
                          deadline_s=self.op_deadline_s, attempt_timeout_s=self.attempt_timeout_s)
        for n in range(max_ops):
            if self.now() >= stop_at:
                return
            await self._one_op(process, client, rng, n)
            if self.pause_s:
                await asyncio.sleep(rng.uniform(0, 2 * self.pause_s))

    async def _one_op(self, process: int, client: KvClient, rng: random.Random, n: int) -> None:
        key = f"k{rng.randrange(self.keys)}"
        roll = rng.random()
        value = f"{process}.{n}"
        f: str
        arg: Any
        call: Coroutine[Any, Any, Any]
        if roll < self.read_ratio:
            f, arg, call = "get", None, client.get(key)
        elif roll < self.read_ratio + self.cas_ratio:
            expected: str | None = f"{rng.randrange(self.clients)}.{rng.randrange(max(1, n))}"
            if rng.random() < 0.2:
                expected = None
            f, arg, call = "cas", [expected, value], client.cas(key, expected, value)
        else:
            f, arg, call = "put", value, client.put(key, value)
        invocation = self.history.invoke(process, f, key, arg, self.now())
        await self._complete(invocation, call)

    # what surely did not happen: nobody took it
    DEFINITE_FAILURES: ClassVar[tuple[type[Exception], ...]] = (Unavailable,)

    async def _complete(self, invocation: Event, call: Any) -> None:
        self.stats.by_f[invocation.f] = self.stats.by_f.get(invocation.f, 0) + 1
        try:
            result = await call
        except self.DEFINITE_FAILURES as e:
            self.stats.fail += 1
            self.history.complete(invocation, "fail", None, self.now(), error=str(e))
        except (Timeout, SessionExpired) as e:  # it may have happened
            self.stats.info += 1
            self.history.complete(invocation, "info", None, self.now(), error=str(e))
        else:
            self.stats.ok += 1
            self.history.complete(invocation, "ok", result, self.now())
            if invocation.f == "put":
                self.stats.acked_writes.append((invocation.key, invocation.value))


@dataclass(slots=True)
class ListAppendWorkload(KvWorkload):
    """``clients`` concurrent KvClients issuing list-append transactions for
    ``duration_s``; ``history`` holds them as ``f="txn"`` operations. The same workers,
    sessions and recording as ``KvWorkload``; only each operation differs."""

    keys: int = 4
    read_ratio: float = 0.5  # of micro-ops
    max_txn_len: int = 4
    _appended: dict[str, int] = field(default_factory=dict)  # key -> values appended

    # an aborted txn (a micro-op refused) applied nothing: it surely did not happen
    DEFINITE_FAILURES: ClassVar[tuple[type[Exception], ...]] = (Unavailable, InvalidRequest)

    async def run(self, duration_s: float, max_ops_per_client: int = 100_000) -> History:
        if self.max_txn_len < 1:
            raise InvalidRequest("a list-append workload needs at least one micro-op per txn")
        return await KvWorkload.run(self, duration_s, max_ops_per_client)

    async def final_reads(self, duration_s: float = 2.0) -> None:
        """One txn reading every key, by a client of its own, after the faults heal."""
        self._t0 = self._t0 or time.monotonic()
        async with KvClient(self.addresses, client_id=f"final-{self.seed}-{self._run_id}",
                            deadline_s=max(duration_s, 15.0), tls=self.tls) as client:
            ops = [["r", f"k{k}", None] for k in range(self.keys)]
            invocation = self.history.invoke(self.clients, "txn", None, ops, self.now())
            await self._complete(invocation, client.txn(ops))

    def next_txn(self, rng: random.Random) -> list[list[Any]]:
        ops: list[list[Any]] = []
        for _ in range(rng.randint(1, self.max_txn_len)):
            key = f"k{rng.randrange(self.keys)}"
            if rng.random() < self.read_ratio:
                ops.append(["r", key, None])
            else:  # unique per key: the checker reads the order of appends off the lists
                self._appended[key] = n = self._appended.get(key, 0) + 1
                ops.append(["append", key, str(n)])
        return ops

    async def _one_op(self, process: int, client: KvClient, rng: random.Random, n: int) -> None:
        ops = self.next_txn(rng)
        invocation = self.history.invoke(process, "txn", None, ops, self.now())
        await self._complete(invocation, client.txn(ops))
