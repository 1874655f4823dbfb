"""The demo: a 5-node replicated KV store on the embedded fault proxy — run it, break
it, and prove what the clients saw was correct. Raft by default; ``scripts/demo paxos``
runs the same demo on Multi-Paxos (the same Kv service, clients, faults and checks);
``scripts/demo swim`` runs the membership demo of ``cluster/demo_swim.py``, ``scripts/demo
twopc`` the bank over 2PC of ``cluster/demo_twopc.py``, ``scripts/demo dynamo`` the
leaderless store of ``cluster/demo_dynamo.py`` (an owner killed, writes through hinted
stand-ins, handoff and anti-entropy, no acknowledged write lost).

``scripts/demo`` runs this (about a minute):

1. ``LocalCluster`` starts the embedded Toxiproxy-compatible proxy server, a proxy per
   directed link and per client link, and five node processes;
2. concurrent KvClients write and read (get / put / cas) for the whole run, every
   operation recorded in a history;
3. the leader is partitioned away (blackhole): the majority elects a new leader and
   keeps serving, the old leader steps down (it hears from no majority); then the
   partition heals and the old leader rejoins as a follower;
4. a follower is killed with SIGKILL and restarted from its disk (snapshot + WAL); what
   it missed was compacted away meanwhile (snapshots every 300 entries or slots), so it
   is sent a snapshot (Raft's InstallSnapshot, Paxos's catch-up) before the rest;
5. the history is checked linearizable (protocols.check) and an HTML timeline of it is
   written, with the fault intervals shaded;
6. teardown: every process stops, and the OS shows none left; the nodes' event logs
   (every message stamped with a vector clock) become a space-time diagram
   (``spacetime.html``: lanes, arrows, roles, faults, the clients' operations per key)
   and a ShiViz log; the verdicts and faults go to ``verdict.json``, and ``index.html``
   puts the run on one page (``cluster/report.py``; every demo ends with it).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from cluster.diagrams import wall_operations, write_diagrams
from cluster.report import finish_demo
from cluster.runner import LocalCluster, cluster_processes
from cluster.workload import KvWorkload
from protocols.check import check_history, render_timeline
from protocols.check.record import Judgement

console = Console()


async def status_table(c: LocalCluster, title: str) -> Table:
    table = Table(title=title)
    for col in ("node", "pid", "role", "epoch", "leader", "commit", "snapshot"):
        table.add_column(col)
    for n in c.ids:
        st = await c.status(n, timeout_s=1.0)
        if st is None:
            table.add_row(n, str(c.node(n).pid), "[red]down / unreachable[/red]", "", "", "",
                          "")
            continue
        style = "bold green" if st.leading else ""
        table.add_row(n, str(st.pid), st.role, str(st.epoch), st.leader_id,
                      st.details.get("commit_index", ""),
                      st.details.get("snapshot_index", st.details.get("snapshot_slot", "")),
                      style=style)
    return table


NAMES = {"raft": "Raft", "paxos": "Multi-Paxos", "swim": "SWIM", "twopc": "2PC",
         "dynamo": "Dynamo", "txnkv": "txnkv"}


async def run(protocol: str, nodes: int, directory: Path, seconds: float) -> int:
    name = NAMES[protocol]
    console.rule(f"[bold]1. start a {name} cluster on the embedded fault proxy")
    async with LocalCluster(protocol, nodes, data_dir=directory, event_log=True,
                            options={"snapshot_threshold": 300}) as c:
        leader = await c.wait_for_leader(deadline_s=20)
        console.print(await status_table(c, f"{nodes} {name} nodes; proxies on "
                                            f"{c.toxiproxy_url}"))

        console.rule("[bold]2. clients start writing and reading (recorded)")
        workload = KvWorkload(c.client_addresses, clients=5, keys=5, seed=1, pause_s=0.01,
                              op_deadline_s=5.0, attempt_timeout_s=0.5)
        started = time.time()
        clients = asyncio.create_task(workload.run(seconds))
        await asyncio.sleep(seconds * 0.15)

        console.rule(f"[bold]3. partition the leader {leader} away from the others")
        await c.nemesis.isolate(leader)
        rest = [n for n in c.ids if n != leader]
        t = time.monotonic()
        new_leader = await c.wait_for_leader(among=rest, deadline_s=20)
        console.print(f"new leader [bold]{new_leader}[/bold] elected in the majority "
                      f"after {time.monotonic() - t:.2f}s")
        await asyncio.sleep(seconds * 0.15)
        console.print(await status_table(c, "during the partition (the old leader has "
                                            "stepped down: it hears from no majority)"))
        await c.nemesis.heal()
        console.print("partition healed: the old leader rejoins as a follower")
        await asyncio.sleep(seconds * 0.15)

        victim = next(n for n in c.ids if n not in (leader, new_leader))
        console.rule(f"[bold]4. kill -9 {victim}, then restart it from its disk "
                     "(snapshot + WAL)")
        await c.nemesis.kill(victim)
        await asyncio.sleep(seconds * 0.1)
        await c.nemesis.restart(victim)
        console.print(f"{victim} restarted (pid {c.node(victim).pid})")

        await clients
        console.print(await status_table(c, "after the faults"))

        console.rule("[bold]5. is what the clients saw linearizable?")
        result = check_history(workload.history, timeout_s=60)
        stats = workload.stats
        console.print(f"{len(workload.history.events) // 2} operations: {stats.ok} ok, "
                      f"{stats.fail} failed (surely not applied), {stats.info} unknown "
                      f"(timed out); by kind {stats.by_f}")
        shade = [(s - started, e - started, label) for s, e, label in c.nemesis.intervals()]
        timeline = render_timeline(workload.history, result, directory / "timeline.html",
                                   shade)
        colour = "green" if result.verdict == "ok" else "red"
        console.print(f"[bold {colour}]linearizability: {result.summary()}[/bold {colour}]")
        console.print(f"timeline: {timeline}")
        faults = c.nemesis.intervals()
        console.rule("[bold]6. teardown")
    # the nodes flushed their event logs as they stopped: draw the whole run
    title = f"{name}: {nodes} nodes, partition, kill -9, restart"
    diagrams = write_diagrams(directory, faults=faults, result=result,
                              operations=wall_operations(workload.history, workload.t0),
                              title=title)
    if diagrams is not None:
        console.print(f"space-time diagram: {diagrams[0]}\nShiViz log: {diagrams[1]} "
                      f"(load it at https://bestchai.bitbucket.io/shiviz/)")
    left = cluster_processes(directory)
    console.print(f"processes left running: {left or 'none'}")
    console.print(f"node logs, nemesis log, history timeline: {directory}")
    page = finish_demo(directory, title=title, protocol=protocol, faults=faults, left=left,
                       verdicts=[Judgement.of("linearizability", result)],
                       command=f"scripts/demo {protocol} -n {nodes} --seconds {seconds:g}")
    console.print(f"the run's page (verdict, timeline, diagram, faults, logs): {page}")
    return 0 if result.verdict == "ok" and not left else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cluster.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("protocol", nargs="?", default="raft", choices=sorted(NAMES),
                        help="raft or paxos (a replicated KV store), swim (membership "
                             "and failure detection; see cluster/demo_swim.py), twopc "
                             "(a bank over 2PC's shards; cluster/demo_twopc.py), or dynamo "
                             "(a leaderless store: a node killed, hinted handoff, "
                             "anti-entropy; cluster/demo_dynamo.py), or txnkv (a bank over "
                             "ranges, a coordinator killed mid-commit and its transfer "
                             "recovered; cluster/demo_txnkv.py)")
    parser.add_argument("-n", "--nodes", type=int,
                        help="default: 5 (swim: 16, dynamo: 6; twopc: always 4, txnkv: 3)")
    parser.add_argument("--seconds", type=float, default=20.0, help="workload duration")
    parser.add_argument("--dir", help="where logs go (default: a new temporary directory)")
    args = parser.parse_args(argv)
    nodes = args.nodes or {"swim": 16, "dynamo": 6}.get(args.protocol, 5)
    # dynamo: with a node down, a key of N=3 needs a fourth node as its stand-in; swim:
    # n5 broadcasts, and one member is killed while another is paused
    least = {"swim": 5, "dynamo": 4}.get(args.protocol, 3)
    if nodes < least:
        parser.error(f"--nodes must be at least {least} for {args.protocol} (swim: 5, "
                     "dynamo: 4, the others: 3)")
    directory = Path(args.dir or tempfile.mkdtemp(prefix="protocols-demo-"))
    if args.protocol == "swim":
        from cluster.demo_swim import run as run_swim
        return asyncio.run(run_swim(nodes, directory))
    if args.protocol == "twopc":
        from cluster.demo_twopc import run as run_twopc
        return asyncio.run(run_twopc(directory, args.seconds))
    if args.protocol == "dynamo":
        from cluster.demo_dynamo import run as run_dynamo
        return asyncio.run(run_dynamo(directory, args.seconds, nodes))
    if args.protocol == "txnkv":
        from cluster.demo_txnkv import run as run_txnkv
        return asyncio.run(run_txnkv(directory, args.seconds))
    return asyncio.run(run(args.protocol, nodes, directory, args.seconds))


if __name__ == "__main__":
    sys.exit(main())
