"""One txnkv node driven by hand: every range has this node as its only replica, so it
leads every Raft group, holds every lease, and coordinates. No network: the core's
coordinator reaches its own replicas in process. The clock is ours (``advance``).

Used by the rule tests (``tests/txnkv/unit/test_replica_rules.py``): a request goes to a
range as a ``BatchRequest`` the way a coordinator sends one (``batch``), or a whole
transaction through the coordinator (``transact``)."""

from __future__ import annotations

import itertools
import random
from typing import Any

from protocols.clocks.hlc import HLCTimestamp
from protocols.common.ids import NodeId
from protocols.common.wal import SyncPolicy
from protocols.contract import Answer
from protocols.sim.disk import SimFileSystem
from protocols.twopc.messages import MicroOp, Transact
from protocols.txnkv.core import TxnKvCore, TxnKvOptions
from protocols.txnkv.messages import BatchRequest, BatchResponse, Header
from protocols.txnkv.mvcc import TxnMeta
from protocols.txnkv.ranges import RangeDescriptor, range_of, static_split
from protocols.txnkv.replica import Replica
from protocols.txnkv.storage import TxnKvStorage

__all__ = ["OneNode", "ops"]


def ops(*spec: tuple[Any, ...]) -> tuple[MicroOp, ...]:
    return tuple(MicroOp(*s) for s in spec)


class OneNode:
    """``fs``: a simulated disk to keep the node's logs on (``TxnKvStorage``), so that a
    ``restart()`` builds the node again from it; None: nothing is kept."""

    def __init__(self, fs: SimFileSystem | None = None, **options: Any) -> None:
        self.t = 1.0  # seconds: the HLC's wall is this in ms
        self.options = TxnKvOptions.from_mapping({"replication": 1, "fsync": False,
                                                  **options})
        self.fs = fs
        self.storage: TxnKvStorage | None = None
        self.core = self._core()
        self.answers: dict[Any, Answer] = {}
        self.trace: list[str] = []
        self._ids = itertools.count(1)
        self.run_until(lambda: all(r.serving(self.core.now())
                                   for r in self.core.replicas.values()), 500)

    def _core(self) -> TxnKvCore:
        recovered: dict[str, Any] = {}
        seeds: dict[str, bytes] = {}
        if self.fs is not None:
            hosted = [r.range_id for r in static_split(["n1"], self.options.splits, 1)]
            self.storage = TxnKvStorage(self.fs, "/data/n1", hosted, SyncPolicy.ALWAYS)
            recovered, seeds = self.storage.recovered, self.storage.seeds
        return TxnKvCore(NodeId("n1"), [], random.Random(7), self.options, recovered,
                         clock=lambda: self.t, seeds=seeds)

    def restart(self) -> None:
        """The process dies (what was not yet fsynced is lost) and starts again from
        its disk: its ranges' logs and the seeds of the ranges split off."""
        assert self.fs is not None and self.storage is not None
        self.storage.close()
        self.fs.crash()
        self.core = self._core()
        self.run_until(lambda: all(r.serving(self.core.now())
                                   for r in self.core.replicas.values()), 500)

    # ------------------------------------------------------------------ driving
    def drain(self) -> None:
        for _ in range(10):
            r = self.core.ready()
            self.trace.extend(r.trace)
            for a in r.answers:
                self.answers[a.request_id] = a
            if r.persist:
                if self.storage is not None:
                    self.storage.save(r.persist)
                self.core.on_persisted()
            else:
                break

    def step(self, ticks: int = 1) -> None:
        for _ in range(ticks):
            self.t += 0.01
            self.core.tick()
            self.drain()

    def advance(self, ms: int) -> None:
        """Let ``ms`` of time pass, ticking every 10 ms."""
        self.step(max(1, ms // 10))

    def run_until(self, done: Any, max_ticks: int = 1000) -> None:
        for _ in range(max_ticks):
            self.drain()
            if done():
                return
            self.step()
        raise AssertionError(f"not done after {max_ticks} ticks; trace: {self.trace[-20:]}")

    # ------------------------------------------------------------------ asking
    def transact(self, *spec: tuple[Any, ...]) -> Answer:
        """Run one transaction; return its answer once it is also settled (a parallel
        commit answers first, then makes the commit explicit and resolves its intents)."""
        rid = ("t", next(self._ids))
        self.core.submit(rid, Transact(ops(*spec)))
        self.run_until(lambda: rid in self.answers)
        self.run_until(self.settled)
        return self.answers.pop(rid)

    def settled(self) -> bool:
        """Nothing left to do: no transaction open, no batch queued or in Raft."""
        return not self.core.coordinator.txns and not any(
            r.queue or r.inflight for r in self.core.replicas.values())

    def batch(self, key: str, *request_ops: Any, txn: TxnMeta | None = None,
              read_ts: HLCTimestamp | None = None, now: HLCTimestamp | None = None
              ) -> BatchResponse:
        """``request_ops`` on ``key``'s range, as a coordinator sends them."""
        got: list[BatchResponse | None] = []
        header = Header(now or self.core.now(), txn, read_ts or (txn.write_ts if txn
                                                                  else self.core.now()))
        request = BatchRequest(self.range(key).range_id, header, tuple(request_ops))
        if now is not None:  # through the network path: the clock check applies
            reply = self.core.on_message(NodeId("n2"), request)
            if isinstance(reply, BatchResponse):
                return reply
            self.core._local[reply] = got.append  # answer it to us
        else:
            self.core._send_batch("n1", request, got.append)
        self.run_until(lambda: bool(got))
        assert got[0] is not None
        return got[0]

    # ------------------------------------------------------------------ looking
    def range(self, key: str) -> RangeDescriptor:
        return range_of(self.core.ranges, key)

    def replica(self, key: str) -> Replica:
        return self.core.replicas[self.range(key).range_id]

    def now(self) -> HLCTimestamp:
        return self.core.now()
