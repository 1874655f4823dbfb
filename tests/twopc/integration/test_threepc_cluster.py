"""Three-phase commit on real processes (Skeen 1981): the participants finish without
their coordinator, whichever side of PRECOMMIT it died on; and the classic lesson — a
partition during the termination protocol splits the decision, which the bank checker
catches as a torn transfer. A test that expects the violation: 3PC is non-blocking only
where a silent site is a failed one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from cluster.runner import LocalCluster
from cluster.waiting import wait_until
from cluster.workload_twopc import BankWorkload
from protocols.check.bank import check_bank
from protocols.twopc.client import TwoPcClient

Factory = Callable[..., Awaitable[LocalCluster]]
THREE = {"commit_protocol": "3pc", "termination_ticks": 20, "inquiry_ticks": 10}


async def detail(c: LocalCluster, node: str, name: str) -> list[str]:
    status = await c.status(node)
    return [t for t in (status.details.get(name, "") if status else "").split(",") if t]


async def settled(c: LocalCluster, nodes: list[str]) -> bool:
    return not [n for n in nodes if await detail(c, n, "in_doubt")]


async def open_bank(c: LocalCluster, tpc: TwoPcClient) -> tuple[BankWorkload, str, str]:
    """A bank of three accounts of 100, one on each shard: (it, the one on n2, n3's)."""
    bank = BankWorkload(c.client_addresses, accounts=3, balance=100)
    await bank.setup(tpc)
    assert bank.bank is not None
    routing = await tpc.routing()
    src = next(a for a in bank.bank.accounts if routing.shard(a) == "n2")
    dst = next(a for a in bank.bank.accounts if routing.shard(a) == "n3")
    return bank, src, dst


def transfer(bank: BankWorkload, tpc: TwoPcClient, src: str, dst: str, amount: int = 5
             ) -> asyncio.Task[str]:
    """A transfer between them, under way, recorded in the bank's history."""
    f, value, ops = bank.transfer(src, dst, amount)
    return asyncio.create_task(bank.call(tpc, 0, f, value, ops))


@pytest.mark.parametrize(("point", "outcome"), [
    ("before_send:PreCommit", "aborted"),  # every survivor PREPARED: abort
    ("after_persist:Decided", "committed"),  # every survivor PRECOMMITTED: commit
])
async def test_3pc_participants_finish_without_their_coordinator(
        cluster: Factory, point: str, outcome: str) -> None:
    c = await cluster("twopc", nodes=4, options={**THREE, "vote_timeout_ticks": 200})
    async with TwoPcClient(c.client_addresses) as tpc:
        bank, src, dst = await open_bank(c, tpc)
        await c.crash_at("n1", point)
        pending = transfer(bank, tpc, src, dst)
        assert await pending == "info"  # the coordinator died under it
        assert not c.running("n1")
        await wait_until(lambda: settled(c, ["n2", "n3"]), 20,
                         what="the participants' termination protocol")
        assert not c.running("n1")  # they did it alone
        moved = 5 if outcome == "committed" else 0
        await c.restart("n1")  # only to read through a coordinator
        seen = await tpc.transact(reads=[src, dst])
        assert seen == {src: 100 - moved, dst: 100 + moved}


async def test_3pc_split_decision_under_a_partition_is_caught_by_the_bank_checker(
        cluster: Factory) -> None:
    """The PRECOMMIT reaches n2, not n3; n2 is cut off from n3 and the coordinator dies.
    Each side runs the termination protocol alone: n2, PRECOMMITTED, commits; n3, only
    PREPARED, aborts. After the heal the bank's total is wrong and the transfer torn."""
    c = await cluster("twopc", nodes=4, options={**THREE, "vote_timeout_ticks": 1000})
    async with TwoPcClient(c.client_addresses) as tpc:
        bank, src, dst = await open_bank(c, tpc)
        await c.nemesis.cut([("n2", "n3"), ("n3", "n2"), ("n2", "n4"), ("n4", "n2")])
        await c.hook("PreCommit", "n1", "n3", drop=1.0)
        pending = transfer(bank, tpc, src, dst)
        await wait_until(lambda: detail(c, "n2", "precommitted"), 10,
                         what="n2 precommitted")
        await c.kill("n1")
        assert await pending == "info"
        await wait_until(lambda: settled(c, ["n2", "n3"]), 20,
                         what="each side's termination protocol")
        await c.nemesis.heal()
        await c.nemesis.clear_message_faults()
        await c.restart("n1")
        await bank.final_reads()
    assert bank.bank is not None
    result = check_bank(bank.history, bank.bank.initial)
    assert not result.valid
    assert {"torn-transfer", "wrong-total"} <= set(result.names()), result.summary()
    final: dict[str, Any] = bank.history.events[-1].value
    assert (final[src]["balance"], final[dst]["balance"]) == (95, 100)  # n2 committed
