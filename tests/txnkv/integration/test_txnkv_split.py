"""A range split while traffic runs, on real processes (``cluster up txnkv -n 3``).

A bank of six accounts, two per range, with clients transferring between them; r1 is
split between its two accounts (``RangesClient.split``: the leaseholder proposes it
through r1's Raft log, every replica builds the new range r1-1 from it); the transfers
that span the split find their batches refused (``range-mismatch``), learn the new
descriptors and go on; then a node is killed -9 and restarted, and finds r1-1 again on
its disk (its seed and its own log). The bank checker judges the history, and the TLA+
model's properties the records every node noted."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from cluster.runner import LocalCluster
from cluster.waiting import wait_until
from cluster.workload_twopc import BankWorkload
from protocols.check.bank import check_bank
from protocols.check.spacetime import load_events
from protocols.common.errors import ConfigError, InvalidRequest
from protocols.txnkv.client import RangesClient
from protocols.txnkv.observed import violations
from protocols.txnkv.ranges import RangeDescriptor, spread, static_split
from tests.txnkv.integration.serving import all_serving

Factory = Callable[..., Awaitable[LocalCluster]]
NODES = ("n1", "n2", "n3")
RANGES = static_split(NODES, ("h", "p"), 3)


async def _hosts(c: LocalCluster, node: str, range_id: str) -> bool:
    status = await c.status(node)
    return status is not None and f"{range_id}.role" in status.details


# 9.5 s: the slow suite. By default, each split rule has its test in
# tests/txnkv/unit/test_split.py (a restart finding the new range on disk among them) and
# the simulator splits ranges under the nemesis (tests/txnkv/sim/test_txnkv_sim.py)
@pytest.mark.slow
async def test_a_range_splits_while_a_bank_runs_and_survives_kill_minus_9(
        cluster: Factory) -> None:
    c = await cluster("txnkv", nodes=3, event_log=True)
    await wait_until(lambda: all_serving(c, {"r1", "r2", "r3"}), 30)
    bank = BankWorkload(c.client_addresses, clients=3, accounts=6, balance=100,
                        place=lambda names: spread(RANGES, names), op_timeout_s=5.0)
    accounts = sorted(k for k in spread(RANGES, [f"a{i}" for i in range(6)])
                      if RANGES[0].contains(k))
    assert accounts == ["a0", "a3"]  # r1 holds two: split between them
    new: list[RangeDescriptor] = []

    async def split_then_kill() -> None:
        await asyncio.sleep(1.5)
        async with RangesClient(c.client_addresses) as admin:
            new.append(await admin.split("a3", node="n2"))
            with pytest.raises(InvalidRequest, match="cannot split"):
                await admin.split("a3")  # it starts a range now
        await wait_until(lambda: all_serving(c, {"r1", "r1-1", "r2", "r3"}), 30)
        with pytest.raises(ConfigError, match="no_such_option"):  # checked, nothing changed
            c.set_node_options("n3", {"no_such_option": 1})
        c.set_node_options("n3", {"heartbeat_ms": 200})  # from its restart on
        await c.kill("n3")
        await asyncio.sleep(1.0)
        await c.restart("n3")

    await asyncio.gather(bank.run(6.0), split_then_kill())
    assert new == [RangeDescriptor("r1-1", "a3", "h", NODES)]
    await wait_until(lambda: _hosts(c, "n3", "r1-1"), 30)  # found again on its disk
    await wait_until(lambda: all_serving(c, {"r1", "r1-1", "r2", "r3"}), 30)
    await bank.final_reads()
    assert bank.bank is not None
    result = check_bank(bank.history, bank.bank.initial)
    assert result.valid, result.summary()
    assert bank.stats.ok > 10, bank.stats
    await c.stop()
    assert violations(load_events(c.dir), final=True) == []
