"""SWIM on 16 real node processes, every peer link through its own proxy: a kill -9 is
detected and disseminated, the PN-counter converges to the exact total, a paused member
refutes and stays alive, latency below the probe timeout suspects nobody, a partition
into halves converges after it heals, and a member leaves gracefully. Waits poll the
nodes' own views."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence

import pytest

from cluster.pytest_plugin import wait_until
from cluster.runner import LocalCluster
from protocols.swim.client import MembershipClient, View
from protocols.swim.messages import State

Factory = Callable[..., Awaitable[LocalCluster]]
NODES = 16
# tick 50 ms: SWIM counts in protocol periods (1 s), and 16 processes share 2 cores
SETTINGS = {"tick_ms": 50}


async def start(cluster: Factory) -> tuple[LocalCluster, MembershipClient]:
    c = await cluster("swim", nodes=NODES, **SETTINGS)
    client = MembershipClient(c.client_addresses)
    await converged(c, client, list(c.ids), deadline_s=60)
    return c, client


async def converged(c: LocalCluster, client: MembershipClient, live: Sequence[str],
                    failed: tuple[str, ...] = (), deadline_s: float = 60) -> dict[str, View]:
    """Every live node sees every live node alive and every failed one dead or left."""
    last: dict[str, View | None] = {}

    async def check() -> bool:
        nonlocal last
        last = await client.views(live)
        return all(v is not None
                   and all(v.state(m) == State.ALIVE for m in live)
                   and all(v.state(f) in (State.DEAD, State.LEFT) for f in failed)
                   for v in last.values())

    await wait_until(check, deadline_s, describe=lambda: {
        n: sorted((m, str(s)) for m, (s, _) in v.members.items() if s != State.ALIVE
                  or m not in live) if v else "no answer" for n, v in last.items()})
    return {n: v for n, v in last.items() if v is not None}


async def counters(c: LocalCluster, nodes: list[str]) -> dict[str, int]:
    """What the nodes did since they started: suspicions, deaths, refutations (summed;
    every node must answer, or the sums would compare different sets of nodes)."""
    out = {"suspicions": 0, "deaths": 0, "refutations": 0}
    for n in nodes:
        st = await c.status(n, timeout_s=5.0)
        assert st is not None, f"{n} gave no status"
        for k in out:
            out[k] += int(st.details[k])
    return out


# the slow suite (suite time, 15 s): detection on processes stays in the default suite in
# test_nodes_come_and_go.py (a removed node declared dead everywhere), the counter in
# tests/cluster/clients/test_swim.py, both in the simulator (tests/swim/sim)
@pytest.mark.slow
async def test_a_killed_member_is_detected_everywhere_and_the_counter_is_exact(
        cluster: Factory) -> None:
    c, client = await start(cluster)
    async with client:
        rng = random.Random(7)
        total = 0
        for i in range(60):
            delta = rng.choice([1, 2, 5, -1, -3])
            await client.incr(c.ids[i % NODES], delta)
            total += delta
        await client.set_meta("n3", "role", "web")
        await client.broadcast("n4", "deploy", b"v2")
        await wait_until(lambda: _all_equal(client, list(c.ids), total), 30,
                         describe=lambda: "the PN-counter's totals differ")
        victim = "n9"
        life = (await client.view("n1")).members[victim][1]
        await c.kill(victim)  # SIGKILL
        live = [n for n in c.ids if n != victim]
        views = await converged(c, client, live, failed=(victim,), deadline_s=45)
        # n9's increments still count: they happened, and its entry outlives it
        assert {v.counter for v in views.values()} == {total}
        assert all(v.meta.get("n3/role") == "web" for v in views.values())
        assert all(any(e.name == "deploy" for e in v.events) for v in views.values())
        await c.restart(victim)  # a new life: it rejoins above its old incarnation
        views = await converged(c, client, list(c.ids), deadline_s=45)
        assert {v.counter for v in views.values()} == {total}
        assert {v.members[victim][1] for v in views.values()} == {life + 1}


async def _all_equal(client: MembershipClient, nodes: list[str], total: int) -> bool:
    views = await client.views(nodes)
    return all(v is not None and v.counter == total for v in views.values())


@pytest.mark.slow  # 23 s; refutation and Lifeguard under slow members are in tests/swim/{paper,sim}
async def test_a_paused_member_refutes_and_latency_below_the_timeout_suspects_nobody(
        cluster: Factory) -> None:
    c, client = await start(cluster)
    async with client:
        before = await counters(c, list(c.ids))
        # 100 +- 30 ms each way on every peer link: a ping's round trip (at most 260 ms
        # and the processing) stays well below the 500 ms probe timeout, and an ack has
        # the whole 1 s period; nobody may even be suspected
        await c.nemesis.latency(100, jitter_ms=30)
        await wait_until(_slept(client, 15), 30)
        await c.nemesis.clear_toxics()
        during = await counters(c, list(c.ids))
        assert during["suspicions"] == before["suspicions"], (before, during)
        # SIGSTOP until someone suspects it (a few seconds at most, below the 4.8 s
        # suspicion timeout at 16 members, which starts with the suspicion), then resume
        paused = "n6"
        others = [n for n in c.ids if n != paused]
        c.pause(paused)
        suspicions: list[int] = []  # the incarnations it was suspected at

        async def suspected() -> bool:
            suspicions.extend(v.members[paused][1] for v in (await client.views(others)).values()
                              if v is not None and v.state(paused) == State.SUSPECT)
            return bool(suspicions)

        await wait_until(suspected, 20, describe=lambda: f"{paused} not suspected yet")
        c.resume(paused)
        await converged(c, client, list(c.ids), deadline_s=30)
        # §4.2: only an Alive of a higher incarnation overrides a suspicion (a view that
        # held an older incarnation may have suspected that one: the newest is the bar),
        # so the refutation spreads until every view holds it; a view that never
        # suspected may show the member alive at its old incarnation meanwhile
        bar = max(suspicions)
        views: dict[str, View | None] = {}

        async def refuted_everywhere() -> bool:
            nonlocal views
            views = await client.views(list(c.ids))
            return all(v is not None and v.state(paused) == State.ALIVE
                       and v.members[paused][1] > bar for v in views.values())

        await wait_until(refuted_everywhere, 30, describe=lambda: {
            n: v.members[paused] if v else None for n, v in views.items()},
            what=f"every view holding {paused} alive above its suspicion at {bar}")
        after = await counters(c, list(c.ids))
        assert after["deaths"] == during["deaths"], "nobody declared the paused member dead"


def _slept(client: MembershipClient, seconds: float) -> Callable[[], Awaitable[bool]]:
    """A predicate true once ``seconds`` passed (wait_until polls it; the cluster keeps
    being asked for views meanwhile, which is the point: it must stay converged)."""
    import time
    until = time.monotonic() + seconds

    async def done() -> bool:
        await client.views(["n1"])
        return time.monotonic() >= until
    return done


# 15 s on processes: the slow suite (suite time); healed partitions converge by default in
# the simulator's SWIM tests
@pytest.mark.slow
async def test_a_partition_into_halves_converges_after_it_heals(cluster: Factory) -> None:
    c, client = await start(cluster)
    async with client:
        halves = [list(c.ids[:8]), list(c.ids[8:])]
        await c.nemesis.partition(halves)

        async def split() -> bool:  # each half declared the other dead
            views = await client.views(list(c.ids))
            return all(v is not None and all(
                v.state(m) in (State.DEAD, State.SUSPECT) for m in
                (halves[1] if n in halves[0] else halves[0])) for n, v in views.items())

        await wait_until(split, 60, describe=lambda: "each half seeing the other failed")
        await c.nemesis.heal()
        await converged(c, client, list(c.ids), deadline_s=60)
        # a graceful leave: answered once disseminated, and every member records it
        await client.leave("n2")
        rest = [n for n in c.ids if n != "n2"]
        views = await converged(c, client, rest, failed=("n2",), deadline_s=30)
        assert {v.state("n2") for v in views.values()} == {State.LEFT}
