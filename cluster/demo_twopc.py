"""The 2PC demo: a bank across three shards on real processes, transfers under crashes,
the total shown to stay constant, and 2PC's blocking window drawn.

``scripts/demo twopc`` runs this (about 40 s):

1. ``LocalCluster`` starts the proxy server and four ``twopc`` processes: n1 coordinates,
   n2-n4 each own a shard of the KV store (``python -m cluster up twopc -n 4``);
2. six accounts of 100, two per shard; clients transfer money between random accounts
   (each transfer one transaction over two shards) and read the whole bank, every
   operation recorded;
3. the coordinator is crashed the moment its next decision is durable (a crash point:
   ``after_persist:Decided``), before any COMMIT left: the shards that voted yes are *in
   doubt*, holding their locks; they ask the coordinator and each other, and none can
   guess (BHG §7.4). The table shows them blocked; then the coordinator restarts, reads
   its decision from its log, and they finish;
4. a shard is killed with SIGKILL and restarted: transactions it was part of abort or
   finish from its PREPARED records;
5. the history is checked by the bank checker (``protocols.check.bank``): every read
   sums to the same total, no balance below zero, no transfer half-applied or lost;
6. teardown, no process left; the run is drawn as a space-time diagram with the blocked
   window shaded (``spacetime.html``).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from cluster.diagrams import write_diagrams
from cluster.report import finish_demo
from cluster.runner import LocalCluster, cluster_processes
from cluster.waiting import wait_until
from cluster.workload_twopc import BankWorkload, kept_total
from protocols.check.bank import check_bank
from protocols.check.record import Judgement
from protocols.twopc.client import TwoPcClient

console = Console()
INQUIRY_TICKS = 20


async def status_table(c: LocalCluster, title: str) -> Table:
    table = Table(title=title)
    for col in ("node", "role", "in doubt", "locks", "ticks in doubt", "commits",
                "aborts"):
        table.add_column(col, no_wrap=True)
    for n in c.ids:
        st = await c.status(n, timeout_s=1.0)
        if st is None:
            table.add_row(n, "[red]down[/red]", *[""] * 5)
            continue
        d = st.details
        doubt = [t for t in d.get("in_doubt", "").split(",") if t]
        table.add_row(n, st.role, f"{doubt[0]} (+{len(doubt) - 1})" if doubt else "",
                      d.get("locked", ""), d.get("blocked_ticks", ""),
                      d.get("committed", ""), d.get("aborted", ""),
                      style="bold yellow" if doubt else "")
    return table


async def in_doubt(c: LocalCluster, shards: list[str]) -> list[str]:
    """The shards holding a transaction in doubt (voted yes, outcome unknown)."""
    statuses = await c.statuses(timeout_s=1.0)
    return [n for n in shards if (st := statuses.get(n)) is not None
            and st.details.get("in_doubt")]


async def run(directory: Path, seconds: float, seed: int = 1) -> int:
    console.rule("[bold]1. start a coordinator and three shards on the embedded proxy")
    async with LocalCluster("twopc", 4, data_dir=directory, event_log=True,
                            options={"inquiry_ticks": INQUIRY_TICKS}) as c, \
            TwoPcClient(c.client_addresses, timeout_s=5.0) as tpc:
        routing = await tpc.routing()
        shards = list(routing.participants)
        clients = BankWorkload(c.client_addresses, clients=4, seed=seed, accounts=6,
                               balance=100)
        await clients.setup(tpc)
        bank = clients.bank
        assert bank is not None
        console.print(f"coordinator {', '.join(routing.coordinators)}; shards "
                      f"{', '.join(shards)}; accounts "
                      + ", ".join(f"{a} on {routing.shard(a)}" for a in bank.accounts)
                      + f"; total {bank.total}")

        console.rule("[bold]2. clients transfer money and read the bank (recorded)")
        stop = asyncio.Event()
        running = asyncio.create_task(clients.run(3600, stop))
        await asyncio.sleep(seconds * 0.2)  # the workload's own duration, not a wait

        console.rule("[bold]3. crash the coordinator the moment a transfer's decision is "
                     "durable")
        stop.set()  # the clients pause: one transfer, alone, meets the crash
        await running
        await wait_until(lambda: _none(in_doubt(c, shards)), 30, what="in doubt resolved")
        before = await tpc.transact(reads=bank.accounts)
        src = max(bank.accounts, key=lambda a: before[a] or 0)
        dst = next(a for a in bank.accounts if routing.shard(a) != routing.shard(src))
        await c.crash_at("n1", "after_persist:Decided")
        f, value, ops = clients.transfer(src, dst, 1)
        heard = await clients.call(tpc, 0, f, value, ops)
        await wait_until(lambda: not c.running("n1"), 20)
        blocked_from = time.time()
        stuck = sorted({routing.shard(src), routing.shard(dst)})
        await wait_until(lambda: _asked(c, stuck, 3 * INQUIRY_TICKS), 20,
                         what=f"{stuck} asked three times")
        console.print(f"transfer {value['id']}: 1 from {src} to {dst}; the client heard "
                      f"'{heard}' (outcome unknown: the coordinator died before answering)")
        console.print(await status_table(
            c, f"coordinator down: {' and '.join(stuck)} voted yes and hold their locks; "
               f"they ask the coordinator and each other every {INQUIRY_TICKS} ticks, "
               "neither knows, and neither guesses"))
        await c.restart("n1")
        await wait_until(lambda: _none(in_doubt(c, shards)), 30, what="in doubt resolved")
        blocked_to = time.time()
        after = await tpc.transact(reads=[src, dst])
        console.print(f"coordinator restarted: it read its decision from its log; the shards "
                      f"finished after [bold]{blocked_to - blocked_from:.2f}s[/bold] blocked. "
                      f"The transfer committed: {src} {before[src]} -> {after[src]}, {dst} "
                      f"{before[dst]} -> {after[dst]}")
        stop = asyncio.Event()
        running = asyncio.create_task(clients.run(3600, stop))
        await asyncio.sleep(seconds * 0.2)

        victim = shards[1]
        console.rule(f"[bold]4. kill -9 shard {victim}, then restart it from its log")
        await c.nemesis.kill(victim)
        await asyncio.sleep(seconds * 0.1)  # the fault's length
        await c.nemesis.restart(victim)
        await asyncio.sleep(seconds * 0.2)
        stop.set()
        await running
        await wait_until(lambda: _none(in_doubt(c, shards)), 30, what="in doubt resolved")
        await clients.final_reads()
        console.print(await status_table(c, "after the faults"))
        faults = [*c.nemesis.intervals(),
                  (blocked_from, blocked_to, f"blocked: {' and '.join(stuck)} in doubt, "
                                             "locks held")]

        console.rule("[bold]5. is the bank consistent?")
        result = check_bank(clients.history, bank.initial)
        final = clients.history.events[-1].value
        total = sum(v["balance"] for v in final.values())
        why = ", ".join(f"{n} {r}" for r, n in sorted(clients.why.items(),
                                                       key=lambda kv: -kv[1]))
        stats = clients.stats
        console.print(f"{stats.ok} ok, {stats.fail} aborted ({why}), "
                      f"{stats.info} unknown; final balances "
                      + ", ".join(f"{a}={v['balance']}" for a, v in final.items())
                      + f": total {total} (started at {bank.total})")
        colour = "green" if result.valid and total == bank.total else "red"
        console.print(f"[bold {colour}]bank checker: {result.summary()}[/bold {colour}]")
        console.rule("[bold]6. teardown")
    title = ("2PC: a bank on 3 shards, the coordinator crashed after its decision, a shard "
             "killed")
    diagrams = write_diagrams(directory, faults=faults, title=title)
    if diagrams is not None:
        console.print(f"space-time diagram (the blocked window shaded): {diagrams[0]}")
    left = cluster_processes(directory)
    console.print(f"processes left running: {left or 'none'}")
    console.print(f"node logs and nemesis log: {directory}")
    page = finish_demo(directory, title=title, protocol="twopc", faults=faults, left=left,
                       verdicts=[Judgement.of("bank", result), kept_total(total, bank.total)],
                       command=f"scripts/demo twopc --seconds {seconds:g}")
    console.print(f"the run's page (verdict, diagram, faults, logs): {page}")
    return 0 if result.valid and total == bank.total and not left else 1


async def _asked(c: LocalCluster, nodes: list[str], ticks: int) -> bool:
    statuses = await c.statuses(timeout_s=1.0)
    return all((st := statuses.get(n)) is not None
               and int(st.details.get("blocked_ticks", "0")) >= ticks for n in nodes)


async def _none(x: Any) -> bool:
    return not await x
