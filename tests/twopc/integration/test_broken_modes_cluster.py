"""The deliberately broken modes of issue #34 on real processes, each caught by the
bank checker: the node processes run a copy of ``src`` with one rule removed
(``tests.support.planted.planted_tree``, ``LocalCluster(source=...)``), the fault that
exposes it is forced with a targeted hook or crash, and the clients' history is judged.
The simulator runs every broken mode under every workload
(``tests/twopc/sim/test_twopc_workloads.py``); these show the same on processes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from cluster.runner import LocalCluster
from cluster.waiting import wait_until
from cluster.workload_twopc import BankWorkload
from protocols.check.bank import check_bank
from protocols.twopc.client import TwoPcClient
from tests.support.planted import planted_tree

Factory = Callable[..., Awaitable[LocalCluster]]


async def _bank(c: LocalCluster, tpc: TwoPcClient) -> tuple[BankWorkload, str, str]:
    bank = BankWorkload(c.client_addresses, accounts=3, balance=100)
    await bank.setup(tpc)
    assert bank.bank is not None
    routing = await tpc.routing()
    return (bank, next(a for a in bank.bank.accounts if routing.shard(a) == "n2"),
            next(a for a in bank.bank.accounts if routing.shard(a) == "n3"))


async def test_a_coordinator_that_answers_before_its_decision_is_durable_loses_a_transfer(
        cluster: Factory, tmp_path: Path) -> None:
    """``decision-forced`` removed: the coordinator answers COMMIT with nothing on its
    disk. Its COMMITs are lost and it is killed: restarted, it knows nothing of the
    transfer and presumes abort; the shards abort what the client was told committed."""
    c = await cluster("twopc", nodes=4, options={"inquiry_ticks": 10},
                      source=planted_tree("decision-forced", tmp_path / "src"))
    async with TwoPcClient(c.client_addresses) as tpc:
        bank, src, dst = await _bank(c, tpc)
        await c.hook("Decision", "n1", "*", drop=1.0)
        f, value, ops = bank.transfer(src, dst, 7)
        assert await bank.call(tpc, 0, f, value, ops) == "ok"  # acknowledged
        await c.kill("n1")
        await c.nemesis.clear_message_faults()
        await c.restart("n1")
        await bank.final_reads()
    assert bank.bank is not None
    result = check_bank(bank.history, bank.bank.initial)
    assert "lost-transfer" in result.names(), result.summary()


async def test_a_participant_that_votes_yes_without_forcing_prepared_tears_a_transfer(
        cluster: Factory, tmp_path: Path) -> None:
    """``prepared-before-yes`` removed: n3 votes YES with nothing on its disk and is
    killed before the COMMIT reaches it. Restarted, it knows nothing of the transfer and
    refuses the COMMIT it is sent; n2 committed its half: the money is torn."""
    c = await cluster("twopc", nodes=4, options={"inquiry_ticks": 10},
                      source=planted_tree("prepared-before-yes", tmp_path / "src"))
    async with TwoPcClient(c.client_addresses) as tpc:
        bank, src, dst = await _bank(c, tpc)
        await c.hook("Decision", "n1", "n3", drop=1.0)
        f, value, ops = bank.transfer(src, dst, 7)
        assert await bank.call(tpc, 0, f, value, ops) == "ok"
        await c.kill("n3")
        await c.nemesis.clear_message_faults()
        await c.restart("n3")
        await wait_until(lambda: _committed_at(c, "n2"), 10)
        await bank.final_reads()
    assert bank.bank is not None
    result = check_bank(bank.history, bank.bank.initial)
    assert {"torn-transfer", "wrong-total"} <= set(result.names()), result.summary()


async def _committed_at(c: LocalCluster, node: str) -> bool:
    status = await c.status(node)
    return status is not None and not status.details.get("in_doubt")
