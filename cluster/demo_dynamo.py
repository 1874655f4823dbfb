"""The Dynamo demo: a leaderless store on six real processes; an owner of the clients'
keys killed, writes acknowledged through hinted stand-ins meanwhile, handed back when it
returns, anti-entropy converging, and no acknowledged write lost.

``scripts/demo dynamo`` runs this (about 35 s; ``--seconds`` is the clients' time):

1. ``LocalCluster`` starts the proxy server and six ``dynamo`` processes (``python -m
   cluster up dynamo -n 6``), each a coordinator and a SWIM member; N=3, R=2, W=2;
   clients run Jepsen's set-full (``cluster.workload_dynamo``): blind adds of unique
   elements to three keys at random nodes (every add a sibling) and reads, recorded. A
   live table shows each node as SWIM sees it, its keys, hinted versions, keys moving,
   anti-entropy exchanges and keys repaired, and the clients' operations there;
2. kill -9 the node owning most of the clients' keys: SWIM suspects it, then declares it
   dead; the coordinators skip it (sloppy quorum, §4.6) and puts keep being acknowledged
   by W replicas, the next healthy node of the preference list keeping the version for
   it under a hint: the hinted counts rise;
3. restart it: SWIM holds it alive again, the stand-ins hand the hinted versions over
   and drop them once it acknowledged (hinted back to 0), and anti-entropy (Merkle trees
   per peer, §4.7) brings every replica to the same siblings;
4. the clients stop; the workload waits until the store has converged (nothing hinted or
   moving, N copies of each key, every node reading the same siblings) and says how long
   that took, then reads each key with R = N; the set-full checker
   (``protocols.check.setfull``) says whether an acknowledged add is missing (*lost*);
5. teardown, no process left; the run is drawn as a space-time diagram with the kill
   and restart shaded (``spacetime.html``). ``dynamo-demo.json`` in the run's directory
   keeps the numbers (the highest hinted count, the verdict, the time to converge).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.live import Live
from rich.table import Table

from cluster.diagrams import wall_operations, write_diagrams
from cluster.report import finish_demo
from cluster.runner import LocalCluster, cluster_processes
from cluster.waiting import wait_until
from cluster.workload_dynamo import SetFullWorkload
from protocols.check.record import Judgement
from protocols.check.setfull import check_set_full
from protocols.hashing import Ring

console = Console()

N, VNODES, KEYS = 3, 64, 3
OPTIONS = {"n": N, "r": 2, "w": 2, "vnodes": VNODES, "handoff_interval_ms": 200,
           "aae_interval_ms": 500, "failure_memory_ms": 1000,
           "swim": {"probe_interval_ms": 300, "probe_timeout_ms": 150}}


def owners(nodes: list[str], key: str) -> list[str]:
    """``key``'s N owners on the ring the nodes build (§4.2-4.3)."""
    ring = Ring(VNODES)
    for n in sorted(nodes):
        ring.add(n)
    return ring.nodes_for(key, N)


class Board:
    """The live table: every node's status, polled in the background."""

    def __init__(self, c: LocalCluster, workload: SetFullWorkload) -> None:
        self.c, self.workload = c, workload
        self.details: dict[str, dict[str, str] | None] = {}
        self.step = "starting"
        self.max_hinted = 0  # the most versions held under hints at once, cluster-wide
        self.hinted = 0
        self._task: asyncio.Task[None] | None = None

    async def poll(self) -> None:
        statuses = await self.c.statuses(timeout_s=1.0)
        self.details = {n: dict(st.details) if st is not None else None
                        for n, st in statuses.items()}
        self.hinted = sum(int(d.get("hinted", "0")) for d in self.details.values() if d)
        self.max_hinted = max(self.max_hinted, self.hinted)

    async def _loop(self) -> None:
        while True:
            await self.poll()
            await asyncio.sleep(0.3)

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass

    def swim(self, node: str) -> str:
        """How the other members see ``node``: the worst state any holds, and how many."""
        seen: dict[str, int] = {}
        for n, d in self.details.items():
            if n != node and d is not None and f"member.{node}" in d:
                state = d[f"member.{node}"].split("/")[0]
                seen[state] = seen.get(state, 0) + 1
        for state in ("dead", "left", "suspect"):
            if state in seen:
                return f"{state} ({seen[state]}/{sum(seen.values())})"
        return "alive" if seen else "?"

    def table(self) -> Table:
        stats = self.workload.stats
        t = Table(title=f"{self.step}: {self.hinted} hinted now, {self.max_hinted} at most",
                  caption=f"clients: {stats.ok} ok, {stats.fail} failed, {stats.info} "
                          "unknown; SWIM: how the other members see the node")
        t.add_column("node", no_wrap=True)
        t.add_column("SWIM", no_wrap=True)
        for col in ("keys", "hinted", "moving", "aae\nexchanges", "aae keys\nrepaired",
                    "ops\nok", "ops\nfailed"):
            t.add_column(col, justify="right")
        for n in self.c.ids:
            d = self.details.get(n)
            ops = self.workload.per_node.get(n)
            ok, failed = (str(ops.ok), str(ops.failed)) if ops else ("0", "0")
            swim = self.swim(n)
            if d is None:
                t.add_row(n, swim, "[red]down[/red]", "", "", "", "", ok, failed,
                          style="red")
                continue
            hinted = int(d.get("hinted", "0"))
            t.add_row(n, swim, d.get("keys", ""), d.get("hinted", ""), d.get("moving", ""),
                      d.get("aae_exchanges", ""), d.get("aae_keys_repaired", ""), ok, failed,
                      style="bold yellow" if hinted else "")
        return t

    def snapshot(self) -> None:
        """Print the table as it is now, where no live display refreshes (a pipe, a log
        file): the live one shows only its last state there."""
        if not console.is_terminal:
            console.print(self.table())


async def run(directory: Path, seconds: float, nodes: int = 6, seed: int = 1) -> int:
    console.rule(f"[bold]1. start {nodes} Dynamo nodes on the embedded fault proxy; "
                 "clients run set-full")
    async with LocalCluster("dynamo", nodes, data_dir=directory, event_log=True,
                            options=OPTIONS, seed=seed) as c:
        ids = [str(n) for n in c.ids]
        workload = SetFullWorkload(c.client_addresses, clients=4, keys=KEYS, seed=seed, n=N,
                                   converge_s=30.0)
        keys = {f"k{k}": owners(ids, f"k{k}") for k in range(KEYS)}
        victim = max(ids, key=lambda n: sum(n in o for o in keys.values()))
        console.print(f"N=3 R=2 W=2 on {nodes} nodes; proxies on {c.toxiproxy_url}; keys: "
                      + "; ".join(f"{k} on {','.join(o)}" for k, o in keys.items()))
        board = Board(c, workload)
        await board.poll()
        board.start()
        live = Live(get_renderable=board.table, console=console, refresh_per_second=4,
                    transient=False)
        stop = asyncio.Event()
        with live:
            board.step = "1. steady load"
            clients = asyncio.create_task(workload.run(3600, stop))
            await asyncio.sleep(seconds * 0.25)  # the steady load's length, not a wait
            board.snapshot()

            board.step = f"2. {victim} killed"
            owned = [k for k, o in keys.items() if victim in o]
            console.rule(f"[bold]2. kill -9 {victim}, an owner of {', '.join(owned)}: "
                         "writes go through hinted stand-ins")
            await c.nemesis.kill(victim)
            killed = time.monotonic()
            live_ids = [n for n in ids if n != victim]
            await wait_until(lambda: _suspected(c, live_ids, victim), 20,
                             what=f"{victim} suspected by everyone")
            console.print(f"every live node suspects {victim} after "
                          f"{time.monotonic() - killed:.2f}s: coordinators skip it")
            await wait_until(lambda: board.hinted > 0, 20 + seconds,
                             what="a put acknowledged through a hinted stand-in")
            await asyncio.sleep(seconds * 0.25)  # the outage's length
            console.print(f"during the outage: {board.max_hinted} versions held under "
                          f"hints for {victim}, at most")
            board.snapshot()

            board.step = f"3. {victim} restarted"
            console.rule(f"[bold]3. restart {victim}: hinted handoff and anti-entropy")
            await c.nemesis.restart(victim)
            restarted = time.monotonic()
            await wait_until(lambda: board.hinted == 0 and _all_up(board), 30,
                             what="every hint handed over")
            console.print(f"{victim} back (pid {c.node(victim).pid}); every hint handed "
                          f"over {time.monotonic() - restarted:.2f}s after the restart")
            board.snapshot()
            await asyncio.sleep(seconds * 0.25)

            board.step = "4. clients stopped: converging"
            console.rule("[bold]4. the clients stop: wait for convergence, read every "
                         f"key with R={N}, check")
            stop.set()
            await clients
            await workload.final_reads()
            await board.poll()
            board.step = "4. converged" if workload.converged_after_s is not None \
                else "4. NOT converged"
        if not console.is_terminal:
            console.line()  # the live display's last state ends without one there
        await board.stop()
        result = check_set_full(workload.history)
        stats = workload.stats
        console.print(f"{stats.ok} ok, {stats.fail} failed, {stats.info} unknown "
                      f"operations; by kind {stats.by_f}")
        lost = len(result.lost)
        colour = "green" if result.valid and lost == 0 else "red"
        console.print(f"[bold {colour}]set-full checker: {result.summary()}[/bold {colour}]")
        converged = workload.converged_after_s
        if converged is not None:
            console.print(f"[bold green]converged {converged:.2f}s after the clients "
                          "stopped[/bold green] (nothing hinted or moving, N copies of "
                          "each key, every node reading the same siblings)")
        else:
            console.print(f"[bold red]not converged within {workload.converge_s}s: "
                          f"{workload.last_seen}[/bold red]")
        console.print(f"[bold]verdict: {lost} acknowledged adds lost of "
                      f"{len(stats.acked_writes)}; hinted rose to {board.max_hinted} and "
                      f"fell to {board.hinted}[/bold]")
        faults = c.nemesis.intervals()
        console.rule("[bold]5. teardown")
    summary: dict[str, Any] = {
        "victim": victim, "max_hinted": board.max_hinted, "final_hinted": board.hinted,
        "acknowledged": len(stats.acked_writes), "lost": lost, "valid": result.valid,
        "verdict": result.verdict, "converged_after_s": converged,
        "counts": result.counts()}
    (directory / "dynamo-demo.json").write_text(json.dumps(summary, indent=1) + "\n")
    title = (f"Dynamo: {nodes} nodes, {victim} killed (-9) and restarted, hinted handoff, "
             "anti-entropy")
    diagrams = write_diagrams(directory, faults=faults,
                              operations=wall_operations(workload.history, workload.t0),
                              title=title)
    if diagrams is not None:
        console.print(f"space-time diagram (the kill shaded): {diagrams[0]}\nShiViz log: "
                      f"{diagrams[1]}")
    left = cluster_processes(directory)
    console.print(f"processes left running: {left or 'none'}")
    console.print(f"node logs, nemesis log, dynamo-demo.json: {directory}")
    ok = (result.valid and lost == 0 and converged is not None and board.max_hinted > 0
          and board.hinted == 0)
    verdicts = [
        Judgement.of("set-full", result),
        Judgement.holds("convergence", converged is not None,
                        f"converged {converged:.2f}s after the clients stopped"
                        if converged is not None else f"not converged: {workload.last_seen}"),
        Judgement.holds("hinted handoff", board.max_hinted > 0 and board.hinted == 0,
                        f"hinted versions rose to {board.max_hinted} and fell to "
                        f"{board.hinted}")]
    page = finish_demo(directory, title=title, protocol="dynamo", faults=faults, left=left,
                       verdicts=verdicts,
                       command=f"scripts/demo dynamo -n {nodes} --seconds {seconds:g}")
    console.print(f"the run's page (verdict, diagram, faults, logs): {page}")
    return 0 if ok and not left else 1


async def _suspected(c: LocalCluster, nodes: list[str], victim: str) -> bool:
    statuses = await c.statuses(timeout_s=1.0)
    return all((st := statuses.get(n)) is not None
               and victim in st.details.get("suspects", "").split(",") for n in nodes)


def _all_up(board: Board) -> bool:
    return all(d is not None for d in board.details.values())
