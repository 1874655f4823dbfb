"""Two-phase commit on real processes: transactions across shards through the client,
bad input refused, and each crash point of the textbook forced on a node process with a
targeted fault (``LocalCluster.crash_at``/``hook``), the outcome then read back.

Cluster: n1 coordinates, n2-n4 are the shards (``cluster up twopc -n 4``'s default).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest

from cluster.runner import LocalCluster
from cluster.waiting import wait_until
from protocols.common.errors import Aborted, InvalidRequest, ProtocolError
from protocols.twopc.client import Routing, TwoPcClient
from protocols.twopc.node import SERVICE_NAME
from tests.support import raw_grpc

Factory = Callable[..., Awaitable[LocalCluster]]
INQUIRY_TICKS = 10


async def start(cluster: Factory, **options: Any) -> LocalCluster:
    """Votes get 3 s: right after a restart a vote may wait out a reconnect backoff (up
    to 0.5 s) on a loaded machine; the test of the vote timeout sets its own."""
    return await cluster("twopc", nodes=4, options={
        "inquiry_ticks": INQUIRY_TICKS, "vote_timeout_ticks": 300, **options})


def key_on(routing: Routing, shard: str, prefix: str = "k") -> str:
    return next(f"{prefix}{i}" for i in range(1000) if routing.shard(f"{prefix}{i}") == shard)


async def details(c: LocalCluster, node: str) -> dict[str, str]:
    status = await c.status(node)
    return dict(status.details) if status is not None else {}


async def in_doubt(c: LocalCluster, node: str) -> list[str]:
    return [t for t in (await details(c, node)).get("in_doubt", "").split(",") if t]


async def outcome_of(pending: asyncio.Task[Any]) -> Any:
    """What the client heard: the reads, or the error."""
    try:
        return await pending
    except ProtocolError as e:
        return e


async def test_transactions_across_shards_commit_and_read_back(cluster: Factory) -> None:
    c = await start(cluster)
    async with TwoPcClient(c.client_addresses) as tpc:
        routing = await tpc.routing()
        assert routing == Routing(("n2", "n3", "n4"), ("n1",))
        x, y, z = (key_on(routing, s) for s in ("n2", "n3", "n4"))
        assert await tpc.transact(writes={x: 1, y: 2, z: 3}) == {}
        assert await tpc.transact(reads=[x, y, z, "never"]) == {x: 1, y: 2, z: 3,
                                                                 "never": None}
        done = await tpc.txn([["append", x + "l", 7], ["append", y + "l", 8],
                              ["r", x + "l", None], ["add", z, 5], ["r", z, None]])
        assert done == [["append", x + "l", 7], ["append", y + "l", 8],
                        ["r", x + "l", [7]], ["add", z, 5], ["r", z, 8]]
        # one shard: one-phase commit, same answer
        assert await tpc.txn([["w", x, 9], ["r", x, None]]) == [["w", x, 9], ["r", x, 9]]
        # a transfer that would overdraw aborts on every shard: nothing happened
        with pytest.raises(Aborted, match="below zero"):
            await tpc.txn([["add", y, -100], ["add", z, 100]])
        assert await tpc.transact(reads=[y, z]) == {y: 2, z: 8}


async def test_bad_transactions_are_refused_and_change_nothing(cluster: Factory) -> None:
    from protocols._pb import twopc_pb2
    c = await start(cluster)
    async with TwoPcClient(c.client_addresses) as tpc:
        with pytest.raises(InvalidRequest, match="micro-op 0"):
            await tpc.txn([["drop", "x", None]])
        with pytest.raises(InvalidRequest, match="does not coordinate"):
            await tpc.txn([["w", "x", 1]], node="n2")
        bad = twopc_pb2.TransactRequest(ops=[twopc_pb2.MicroOp(f="explode", key="x")])
        e = await raw_grpc.raw_call(c.client_addresses["n1"], f"/{SERVICE_NAME}/Transact",
                                    bad.SerializeToString())
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT and "explode" in (e.details() or "")
        e = await raw_grpc.raw_call(c.client_addresses["n1"], f"/{SERVICE_NAME}/Transact",
                                    b"\xff\xff\xff")
        assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert await tpc.transact(reads=["x"]) == {"x": None}


async def test_coordinator_dead_after_its_decision_blocks_the_shards_until_it_recovers(
        cluster: Factory) -> None:
    """BHG §7.4: the decision is durable, no COMMIT left. The shards voted yes: they hold
    their locks and ask the coordinator and each other, again and again, and never
    guess; the restarted coordinator reads its decision and finishes the transaction."""
    c = await start(cluster)
    async with TwoPcClient(c.client_addresses) as tpc:
        routing = await tpc.routing()
        x, y = key_on(routing, "n2"), key_on(routing, "n3")
        await tpc.transact(writes={x: 1, y: 1})
        await c.crash_at("n1", "after_persist:Decided")
        pending = asyncio.create_task(tpc.transact(writes={x: 2, y: 2}))
        assert not isinstance(await outcome_of(pending), dict)  # outcome unknown to it
        await wait_until(lambda: not c.running("n1"), 10)
        for shard in ("n2", "n3"):
            await wait_until(lambda s=shard: in_doubt(c, s), 10)

        async def asked_often(s: str) -> bool:
            return int((await details(c, s))["blocked_ticks"]) >= 5 * INQUIRY_TICKS
        for shard in ("n2", "n3"):
            await wait_until(lambda s=shard: asked_often(s), 20)
            d = await details(c, shard)
            assert d["in_doubt"] and int(d["locked"]) >= 1, d  # blocked, locks held
        await c.restart("n1")
        for shard in ("n2", "n3"):
            await wait_until(lambda s=shard: _not(in_doubt(c, s)), 20)
        assert await tpc.transact(reads=[x, y]) == {x: 2, y: 2}  # the decision: commit


async def test_coordinator_dead_before_prepare_leaves_nothing(cluster: Factory) -> None:
    c = await start(cluster)
    async with TwoPcClient(c.client_addresses) as tpc:
        routing = await tpc.routing()
        x, y = key_on(routing, "n2"), key_on(routing, "n3")
        await c.crash_at("n1", "before_send:Prepare")
        pending = asyncio.create_task(tpc.transact(writes={x: 5, y: 5}))
        assert not isinstance(await outcome_of(pending), dict)
        await c.restart("n1")
        assert await tpc.transact(reads=[x, y]) == {x: None, y: None}
        assert await in_doubt(c, "n2") == [] and await in_doubt(c, "n3") == []


async def test_coordinator_dead_after_some_votes_aborts_when_it_recovers(
        cluster: Factory) -> None:
    """Both shards voted yes, no vote reached the coordinator, and it died undecided:
    the shards ask each other, both uncertain, so both wait (cooperative termination
    cannot help); the restarted coordinator finds no decision and presumes abort."""
    c = await start(cluster)
    async with TwoPcClient(c.client_addresses) as tpc:
        routing = await tpc.routing()
        x, y = key_on(routing, "n2"), key_on(routing, "n3")
        await c.hook("Vote", "n2", "n1", drop=1.0)
        await c.hook("Vote", "n3", "n1", drop=1.0)
        pending = asyncio.create_task(tpc.transact(writes={x: 5, y: 5}))
        for shard in ("n2", "n3"):
            await wait_until(lambda s=shard: in_doubt(c, s), 10)
        await c.kill("n1")
        assert not isinstance(await outcome_of(pending), dict)
        await c.nemesis.clear_message_faults()  # the votes flow again
        await c.restart("n1")
        for shard in ("n2", "n3"):
            await wait_until(lambda s=shard: _not(in_doubt(c, s)), 20)
        assert await tpc.transact(reads=[x, y]) == {x: None, y: None}


async def test_coordinator_dead_after_some_commits_shards_learn_from_each_other(
        cluster: Factory) -> None:
    """The COMMIT reached n2, not n3, and the coordinator died: n3 asks its peers
    (cooperative termination, BHG §7.4), n2 knows, and n3 commits without n1."""
    c = await start(cluster)
    async with TwoPcClient(c.client_addresses) as tpc:
        routing = await tpc.routing()
        x, y = key_on(routing, "n2"), key_on(routing, "n3")
        await c.hook("Decision", "n1", "n3", drop=1.0)
        assert await tpc.transact(writes={x: 7, y: 7}) == {}  # durable decision: answered
        await c.kill("n1")
        await wait_until(lambda: _not(in_doubt(c, "n3")), 20)
        await c.nemesis.clear_message_faults()
        await c.restart("n1")
        assert await tpc.transact(reads=[x, y]) == {x: 7, y: 7}


async def test_a_shard_dead_before_or_after_its_prepared_record_aborts_everywhere(
        cluster: Factory) -> None:
    """n3 dies before it could prepare (down when PREPARE comes), then in a second
    transaction right after forcing PREPARED, before its vote left: the coordinator's
    vote timeout aborts both; the restarted n3 is in doubt about the second, asks, and
    hears abort (presumed: the coordinator forgot it)."""
    c = await start(cluster, vote_timeout_ticks=30)
    async with TwoPcClient(c.client_addresses) as tpc:
        routing = await tpc.routing()
        x, y = key_on(routing, "n2"), key_on(routing, "n3")
        await c.kill("n3")
        with pytest.raises(Aborted, match="did not come"):
            await tpc.transact(writes={x: 1, y: 1})
        await c.restart("n3")
        await c.crash_at("n3", "after_persist:Prepared")
        with pytest.raises(Aborted, match="did not come"):
            await tpc.transact(writes={x: 2, y: 2})
        await wait_until(lambda: not c.running("n3"), 10)
        await c.restart("n3")
        await wait_until(lambda: _not(in_doubt(c, "n3")), 20)
        assert await tpc.transact(reads=[x, y]) == {x: None, y: None}


async def _not(x: Awaitable[Any]) -> bool:
    return not await x
