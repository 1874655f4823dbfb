"""The SWIM demo: 16 members on the embedded fault proxy, a membership that agrees with no
coordinator, failures found and spread, a pause refuted, a partition healed.

``scripts/demo swim`` runs this (about a minute and a half):

1. ``LocalCluster`` starts the proxy server, a proxy per directed link (240 of them) and
   16 ``swim`` processes; each joins through its seeds, and the group converges;
2. clients add to the PN-counter at random members, set metadata and broadcast a user
   event: every member ends up with the exact total, the metadata and the event;
3. a member is killed with SIGKILL: how long until someone suspects it, and until every
   member holds it dead (SWIM §3.1, §4.2);
4. a member is paused (SIGSTOP) for 2 s, less than the suspicion timeout, and resumed:
   it refutes any suspicion with a higher incarnation and nobody declares it dead;
5. the group is cut into halves: each declares the other dead; the partition heals and
   reconnecting anti-entropy merges them back;
6. the killed member restarts: a new life (incarnation + 1) that rejoins with its durable
   share of the counter; then teardown, and the OS shows no process left; the run is
   drawn as a space-time diagram (``spacetime.html``) and a ShiViz log.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

from rich.console import Console

from cluster.diagrams import write_diagrams
from cluster.membership import membership_matrix, views_of
from cluster.report import finish_demo
from cluster.runner import LocalCluster, cluster_processes
from cluster.waiting import wait_until
from protocols.check.record import Judgement
from protocols.swim.client import MembershipClient, View
from protocols.swim.messages import State

console = Console()


async def matrix(c: LocalCluster, title: str) -> None:
    statuses = await c.statuses(timeout_s=2.0)
    console.print(membership_matrix(views_of({n: st.details for n, st in statuses.items()
                                              if st is not None}), title))


async def agree(client: MembershipClient, live: list[str], failed: tuple[str, ...] = (),
                deadline_s: float = 60) -> dict[str, View]:
    """Wait until every live member sees the live ones alive and the failed ones dead."""
    views: dict[str, View | None] = {}

    async def check() -> bool:
        nonlocal views
        views = await client.views(live)
        return all(v is not None and all(v.state(m) == State.ALIVE for m in live)
                   and all(v.state(f) in (State.DEAD, State.LEFT) for f in failed)
                   for v in views.values())

    await wait_until(check, deadline_s, describe=lambda: "members still disagree")
    return {n: v for n, v in views.items() if v is not None}


async def first_time(client: MembershipClient, nodes: list[str], members: list[str],
                     states: tuple[State, ...], everyone: bool, deadline_s: float) -> float:
    """Seconds until one (or every) node of ``nodes`` holds all ``members`` in ``states``."""
    started = time.monotonic()

    async def check() -> bool:
        seen = [v is not None and all(v.state(m) in states for m in members)
                for v in (await client.views(nodes)).values()]
        return all(seen) if everyone else any(seen)

    await wait_until(check, deadline_s, interval_s=0.02)
    return time.monotonic() - started


async def run(nodes: int, directory: Path) -> int:
    console.rule(f"[bold]1. start {nodes} SWIM members on the embedded fault proxy")
    async with LocalCluster("swim", nodes, data_dir=directory, tick_ms=50,
                            event_log=True) as c, \
            MembershipClient(c.client_addresses) as client:
        ids = [str(n) for n in c.ids]
        t = time.monotonic()
        await agree(client, ids)
        console.print(f"joined through seeds n1, n2 and converged in "
                      f"{time.monotonic() - t:.1f}s; proxies on {c.toxiproxy_url}")
        await matrix(c, "every member alive in every view")

        console.rule("[bold]2. clients write to the members' replicated state")
        rng, total = random.Random(1), 0
        for _ in range(80):
            delta = rng.choice([1, 2, 3, -1])
            await client.incr(rng.choice(ids), delta)
            total += delta
        await client.set_meta("n3", "role", "web")
        await client.broadcast("n5", "deploy", b"v2")
        await wait_until(lambda: _same_total(client, ids, total), 30,
                         describe=lambda: "totals still differ")
        console.print(f"80 increments at random members: every member counts [bold]{total}"
                      f"[/bold]; n3's metadata and n5's event reached all {nodes}")

        victim = ids[-4]
        console.rule(f"[bold]3. kill -9 {victim}")
        life = (await client.view("n1")).members[victim][1]
        await c.nemesis.kill(victim)
        live = [n for n in ids if n != victim]
        suspected = await first_time(client, live, [victim], (State.SUSPECT, State.DEAD),
                                     False, 30)
        dead = await first_time(client, live, [victim], (State.DEAD,), True, 60)
        console.print(f"first suspected after {suspected:.2f}s, dead in every view after "
                      f"{suspected + dead:.2f}s")
        await matrix(c, f"{victim} declared dead")

        paused = live[-1]  # neither n1, whose view is printed, nor the dead one
        console.rule(f"[bold]4. pause {paused} (SIGSTOP) for 2 s, then resume it")
        c.pause(paused)
        await asyncio.sleep(2.0)  # the fault itself: how long the process is stopped
        c.resume(paused)
        views = await agree(client, live, (victim,))
        console.print(f"{paused} is alive in every view at incarnation "
                      f"{views['n1'].members[paused][1]} (it refuted any suspicion)")

        console.rule("[bold]5. partition into halves, then heal")
        halves = [live[: len(live) // 2], live[len(live) // 2:]]
        await c.nemesis.partition(halves)
        t = time.monotonic()
        await first_time(client, halves[0], halves[1], (State.DEAD,), True, 90)
        await first_time(client, halves[1], halves[0], (State.DEAD,), True, 90)
        console.print(f"each half declared the other dead after {time.monotonic() - t:.1f}s")
        await matrix(c, "split in two")
        await c.nemesis.heal()
        t = time.monotonic()
        await agree(client, live, (victim,))
        console.print(f"healed: one group again after {time.monotonic() - t:.1f}s")

        console.rule(f"[bold]6. restart {victim}: a new life")
        await c.nemesis.restart(victim)
        views = await agree(client, ids)
        counters = {v.counter for v in views.values()}
        console.print(f"{victim} rejoined at incarnation {views['n1'].members[victim][1]} "
                      f"(was {life}); counters {counters}")
        await matrix(c, "after the faults")
        ok = counters == {total}
        faults = c.nemesis.intervals()
        console.rule("[bold]7. teardown")
    title = f"SWIM: {nodes} members, kill -9, pause, partition"
    diagrams = write_diagrams(directory, faults=faults, title=title)
    if diagrams is not None:
        console.print(f"space-time diagram: {diagrams[0]}\nShiViz log: {diagrams[1]}")
    left = cluster_processes(directory)
    console.print(f"processes left running: {left or 'none'}")
    console.print(f"node logs and nemesis log: {directory}")
    counted = Judgement.holds("replicated counter", ok, f"every member counts {total}" if ok
                              else f"the members count {sorted(counters)}, not {total}")
    page = finish_demo(directory, title=title, protocol="swim", faults=faults, left=left,
                       verdicts=[counted], command=f"scripts/demo swim -n {nodes}")
    console.print(f"the run's page (verdict, diagram, faults, logs): {page}")
    return 0 if ok and not left else 1


async def _same_total(client: MembershipClient, nodes: list[str], total: int) -> bool:
    return all(v is not None and v.counter == total
               for v in (await client.views(nodes)).values())
