"""txnkv on real processes (``cluster up txnkv -n 3``): three ranges, each a Raft group
of the three node processes, transactions through 2PC's client (``TwoPcClient``: the same
micro-ops), bad input refused, and a bank under kill -9 of a node judged by the bank
checker. The simulator covers the rules under every fault; these show them on processes,
over gRPC, with fsync."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from cluster.runner import LocalCluster
from cluster.waiting import wait_until
from cluster.workload_twopc import BankWorkload
from protocols.check.bank import check_bank
from protocols.check.spacetime import load_events
from protocols.common.errors import Aborted, InvalidRequest
from protocols.twopc.client import TwoPcClient
from protocols.txnkv.observed import ACK, RECORD, violations
from protocols.txnkv.ranges import spread, static_split
from tests.txnkv.integration.serving import all_serving

Factory = Callable[..., Awaitable[LocalCluster]]
NODES = ("n1", "n2", "n3")
RANGES = static_split(NODES, ("h", "p"), 3)  # the defaults: r1 ["", h), r2, r3 [p, ...)


async def _serving(c: LocalCluster) -> bool:
    """Every range has a leaseholder serving."""
    return await all_serving(c, (r.range_id for r in RANGES))


async def start(cluster: Factory, **kwargs: object) -> LocalCluster:
    c = await cluster("txnkv", nodes=3, **kwargs)
    await wait_until(lambda: _serving(c), 30)
    return c


async def test_transactions_across_ranges_commit_and_read_back(cluster: Factory) -> None:
    """And the TLA+ model's properties over what every node noted (event log on):
    nothing finalized changed, nothing acknowledged aborted, each ended COMMITTED."""
    c = await start(cluster, event_log=True)
    x, y, z = spread(RANGES, ["x", "y", "z"])
    assert [r.range_id for r in RANGES if any(r.contains(k) for k in (x, y, z))] == \
        ["r1", "r2", "r3"]
    async with TwoPcClient(c.client_addresses) as tpc:
        assert await tpc.transact(writes={x: 1, y: 2, z: 3}) == {}
        assert await tpc.transact(reads=[x, y, z, "never"]) == {x: 1, y: 2, z: 3,
                                                                 "never": None}
        done = await tpc.txn([["append", x + "l", 7], ["append", y + "l", 8],
                              ["r", x + "l", None], ["add", z, 5], ["r", z, None]])
        assert done == [["append", x + "l", 7], ["append", y + "l", 8],
                        ["r", x + "l", [7]], ["add", z, 5], ["r", z, 8]]
        with pytest.raises(Aborted, match="below zero"):
            await tpc.txn([["add", y, -100], ["add", z, 100]])
        assert await tpc.transact(reads=[y, z]) == {y: 2, z: 8}
        with pytest.raises(InvalidRequest, match="micro-op 0"):
            await tpc.txn([["drop", "x", None]])
        # bounded whatever a client sends: one range's Raft entry per batch stays small
        with pytest.raises(InvalidRequest, match="at most 1024 micro-ops, got 1025"):
            await tpc.txn([["w", f"{x}{i}", i] for i in range(1025)])
        with pytest.raises(InvalidRequest, match="a key is at most 1024 bytes"):
            await tpc.txn([["w", x * 1025, 1]])
        assert await tpc.transact(reads=[x]) == {x: 1}
        # every key read once more: its intents resolved, so its records are final
        await tpc.transact(reads=[x, y, z, x + "l", y + "l"])
    await c.stop()
    events = load_events(c.dir)
    notes = [str(e["text"]) for e in events if e["kind"] == "note"]
    assert sum(n.startswith(ACK) for n in notes) == 2  # the two that wrote and committed
    assert any(n.startswith(RECORD) and '"committed"' in n for n in notes)
    assert violations(events, final=True) == []


@pytest.mark.slow  # 9 s; the default suite's demo test kills -9 under a bank on processes
async def test_a_bank_across_ranges_survives_kill_minus_9(cluster: Factory) -> None:
    """Transfers between accounts in different ranges while one node process is killed
    (SIGKILL) and restarted: every range keeps a majority, leases move, abandoned
    transactions are recovered, and the bank checker finds the money all there."""
    c = await start(cluster, event_log=True)
    bank = BankWorkload(c.client_addresses, clients=3, accounts=3, balance=100,
                        place=lambda names: spread(RANGES, names), op_timeout_s=5.0)

    async def chaos() -> None:
        await asyncio.sleep(1.5)
        await c.kill("n2")
        await asyncio.sleep(2.0)
        await c.restart("n2")

    await asyncio.gather(bank.run(6.0), chaos())
    await wait_until(lambda: _serving(c), 30)
    await bank.final_reads()
    assert bank.bank is not None
    result = check_bank(bank.history, bank.bank.initial)
    assert result.valid, result.summary()
    assert bank.stats.ok > 10, bank.stats
    await c.stop()  # the TLA+ model's properties, across the kill and the restart
    assert violations(load_events(c.dir), final=True) == []
