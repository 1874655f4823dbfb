"""The txnkv demo: a bank across three ranges (each a Raft group of the three node
processes), the coordinator of a transfer killed in the middle of its parallel commit, and
another node finishing it by status recovery, drawn in the space-time diagram.

``scripts/demo txnkv`` runs this (about 40 s):

1. ``LocalCluster`` starts the proxy server and three ``txnkv`` processes
   (``python -m cluster up txnkv -n 3``): ranges r1 ``["", h)``, r2 ``[h, p)``, r3
   ``[p, ...)``, each with a leaseholder;
2. six accounts of 100, two per range; clients transfer money between random accounts
   and read the whole bank through every node, every operation recorded;
3. n1 is restarted with the fault-injection option ``explicit_commit_delay_ms=2000``
   (``LocalCluster.set_node_options``): it makes each commit explicit 2 s after
   answering its client (the window between the implicit and the explicit commit,
   widened); four clients send their transfers to n1 alone, and n1 is killed with SIGKILL
   in the middle of them, so the transfers it answered last are left with STAGING
   records and intents (the table counts them). Clients reading the bank through
   the other nodes meet the intents, find the records abandoned (no heartbeat), query
   each in-flight write, find them all and commit the record: status recovery (RFC
   "Parallel Commits"). A client told "committed" sees its transfer;
4. the node restarts from its Raft logs, without the fault; the clients go on while
   another node is killed with SIGKILL and restarted;
5. the history is checked by the bank checker (``protocols.check.bank``): every read
   sums to the same total, no balance below zero, no transfer half-applied or lost;
6. teardown, no process left; the TLA+ model's properties of parallel commits are
   checked over the records every node noted in its event log (``txnkv.observed``: no
   finalized record changed, no acknowledged transaction aborted, each ended
   COMMITTED); the run is drawn as a space-time diagram with the recovery window shaded
   (``spacetime.html``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from pathlib import Path

from rich.console import Console
from rich.table import Table

from cluster.diagrams import write_diagrams
from cluster.report import finish_demo
from cluster.runner import LocalCluster, cluster_processes
from cluster.waiting import wait_until
from cluster.workload_twopc import BankWorkload, kept_total
from protocols.check.bank import check_bank
from protocols.check.record import Judgement
from protocols.check.spacetime import load_events
from protocols.twopc.client import TwoPcClient
from protocols.txnkv.core import serving_ranges
from protocols.txnkv.observed import violations
from protocols.txnkv.ranges import range_of, spread, static_split

console = Console()
NODES = ("n1", "n2", "n3")
RANGES = static_split(NODES, ("h", "p"), 3)


async def status_table(c: LocalCluster, title: str) -> Table:
    table = Table(title=title)
    for col in ("node", "clock", "leases held", "STAGING records", "intents",
                "txns ok", "recoveries"):
        table.add_column(col, no_wrap=True)
    for n in c.ids:
        st = await c.status(n, timeout_s=1.0)
        if st is None:
            table.add_row(n, "[red]down[/red]", *[""] * 5)
            continue
        d = st.details
        held = [r.range_id for r in RANGES if d.get(f"{r.range_id}.serving") == "True"]
        staging = sum(_staging(d.get(f"{r.range_id}.records", "")) for r in RANGES)
        intents = sum(int(d.get(f"{r.range_id}.intents", "0") or 0) for r in RANGES)
        table.add_row(n, d.get("clock", ""), ",".join(held) or "-", str(staging),
                      str(intents), d.get("txn.committed", ""), d.get("txn.recoveries", ""),
                      style="bold yellow" if staging else "")
    return table


def _staging(records: str) -> int:
    """The STAGING count of a ``<range>.records`` detail ("3 pending, 1 staging, ...")."""
    for part in records.split(", "):
        count, _, status = part.partition(" ")
        if status == "staging":
            return int(count)
    return 0


async def left_staging(c: LocalCluster, dead: str) -> int:
    """STAGING records in the ranges, as each range's leaseholder has them (it has
    applied everything committed; a follower may lag behind an explicit commit)."""
    total = 0
    for n, st in (await c.statuses(timeout_s=1.0)).items():
        if n != dead and st is not None:
            total += sum(_staging(st.details.get(f"{r.range_id}.records", ""))
                         for r in RANGES if st.details.get(f"{r.range_id}.serving") == "True")
    return total


async def serving(c: LocalCluster) -> bool:
    statuses = (await c.statuses(timeout_s=1.0)).values()
    return serving_ranges(statuses) == {r.range_id for r in RANGES}


async def recoveries(c: LocalCluster) -> int:
    return sum(int(st.details.get("txn.recoveries", "0"))
               for st in (await c.statuses(timeout_s=1.0)).values() if st is not None)


async def run(directory: Path, seconds: float, seed: int = 1) -> int:
    console.rule("[bold]1. start three nodes: three ranges, each a Raft group of all three")
    async with LocalCluster("txnkv", len(NODES), data_dir=directory, event_log=True) as c:
        await wait_until(lambda: serving(c), 30, what="every range serving")
        clients = BankWorkload(c.client_addresses, clients=4, seed=seed, accounts=6,
                               balance=100, place=lambda names: spread(RANGES, names))
        async with TwoPcClient(c.client_addresses, timeout_s=5.0) as tpc:
            await clients.setup(tpc)
        bank = clients.bank
        assert bank is not None
        console.print("accounts " + ", ".join(f"{a} in {range_of(RANGES, a).range_id}"
                                              for a in bank.accounts)
                      + f"; total {bank.total}")
        console.print(await status_table(c, "ranges, leaseholders and records"))

        console.rule("[bold]2. clients transfer money and read the bank (recorded)")
        stop = asyncio.Event()
        running = asyncio.create_task(clients.run(3600, stop))
        await asyncio.sleep(seconds * 0.25)  # the workload's own duration, not a wait
        stop.set()
        await running

        console.rule("[bold]3. kill a coordinator in the middle of its commits")
        victim = "n1"
        # the fault to inject: n1 makes each commit explicit 2 s after answering its
        # client, so the transfers it answered last are still STAGING when it dies
        c.set_node_options(victim, {"explicit_commit_delay_ms": 2000})
        await c.restart(victim)
        await wait_until(lambda: serving(c), 30, what="every range serving")
        console.print(f"{victim} restarted with explicit_commit_delay_ms=2000")
        before = await recoveries(c)
        to_victim = BankWorkload(c.client_addresses, clients=4, coordinator=victim,
                                 seed=seed, accounts=6, balance=100,
                                 place=lambda names: spread(RANGES, names),
                                 op_timeout_s=2.0, history=clients.history,
                                 stats=clients.stats)
        # the same bank, history and clock as the other clients; transfer ids apart
        to_victim.bank, to_victim._tid, to_victim._t0 = bank, 10_000, clients.t0
        acked = await _acked(c, victim)
        stop = asyncio.Event()
        hammering = asyncio.create_task(to_victim.run(3600, stop))
        # two more transfers answered (writes, not reads): their explicit commits are 2 s
        # away yet
        await wait_until(lambda: _more(_acked(c, victim), acked + 1), 30,
                         what=f"{victim} answering transfers")
        await c.kill(victim)
        killed_at = time.time()
        stop.set()
        await hammering
        # the survivors apply what was committed once each range has a new leaseholder
        await wait_until(lambda: serving(c), 30, what="every range serving")
        caught = await left_staging(c, victim)
        console.print(f"{victim} was killed (SIGKILL) under its clients' transfers: "
                      f"{caught} STAGING record(s) left behind, their coordinator gone")
        console.print(await status_table(
            c, f"{victim} down: records STAGING and intents in place, nobody to finish "
               "them"))
        stop = asyncio.Event()
        reading = asyncio.create_task(clients.run(3600, stop))
        await wait_until(lambda: _more(recoveries(c), before), 30,
                         what="a reader recovered an abandoned transaction")
        recovered_at = time.time()
        console.print(f"readers met the intents, found the records abandoned, queried each "
                      f"in-flight write, and committed or aborted them: status recovery, "
                      f"{recovered_at - killed_at:.2f}s after the kill")
        c.set_node_options(victim, {})  # the fault is over
        await c.restart(victim)
        console.print(await status_table(c, f"{victim} restarted from its Raft logs"))

        other = "n3"
        console.rule(f"[bold]4. kill -9 {other} under traffic, then restart it")
        await asyncio.sleep(seconds * 0.2)
        await c.nemesis.kill(other)
        await asyncio.sleep(seconds * 0.1)  # the fault's length
        await c.nemesis.restart(other)
        await asyncio.sleep(seconds * 0.2)
        stop.set()
        await reading
        await wait_until(lambda: serving(c), 30, what="every range serving")
        await clients.final_reads()
        console.print(await status_table(c, "after the faults"))
        faults = [*c.nemesis.intervals(),
                  (killed_at, recovered_at, f"{victim} killed mid-commit; readers "
                                            "recover its transactions")]

        console.rule("[bold]5. is the bank consistent?")
        result = check_bank(clients.history, bank.initial)
        final = clients.history.events[-1].value
        total = sum(v["balance"] for v in final.values())
        stats = clients.stats
        console.print(f"{stats.ok} ok, {stats.fail} refused, {stats.info} unknown; final "
                      "balances " + ", ".join(f"{a}={v['balance']}" for a, v in final.items())
                      + f": total {total} (started at {bank.total})")
        colour = "green" if result.valid and total == bank.total else "red"
        console.print(f"[bold {colour}]bank checker: {result.summary()}[/bold {colour}]")
        console.rule("[bold]6. teardown")
    # the TLA+ model's properties over what every node noted (after the cluster stopped)
    problems = violations(load_events(directory), final=True)
    colour = "green" if not problems else "red"
    console.print(f"[bold {colour}]parallel commits' TLA+ properties over every node's "
                  f"records: {'hold' if not problems else '; '.join(problems[:3])}"
                  f"[/bold {colour}]")
    title = ("txnkv: a bank on 3 ranges, a coordinator killed mid-commit and its "
             "transactions recovered")
    diagrams = write_diagrams(directory, faults=faults, title=title)
    if diagrams is not None:
        console.print(f"space-time diagram (the recovery window shaded): {diagrams[0]}")
    left = cluster_processes(directory)
    console.print(f"processes left running: {left or 'none'}")
    console.print(f"node logs and nemesis log: {directory}")
    tla = Judgement.holds("parallel commits (TLA+ properties)", not problems,
                          "hold over every node's records" if not problems
                          else "\n".join(problems))
    recovered = Judgement.holds("recovery exercised", bool(caught),
                                f"{caught} STAGING record(s) of the killed coordinator "
                                "left to the readers' status recovery")
    page = finish_demo(directory, title=title, protocol="txnkv", faults=faults, left=left,
                       verdicts=[Judgement.of("bank", result),
                                 kept_total(total, bank.total), tla, recovered],
                       command=f"scripts/demo txnkv --seconds {seconds:g}")
    console.print(f"the run's page (verdict, diagram, faults, logs): {page}")
    return 0 if (result.valid and total == bank.total and caught and not left
                 and not problems) else 1


async def _more(count: Awaitable[int], than: int) -> bool:
    return await count > than


async def _acked(c: LocalCluster, node: str) -> int:
    st = await c.status(node, timeout_s=1.0)
    return int(st.details.get("txn.writes_committed", "0")) if st is not None else 0
