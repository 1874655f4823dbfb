"""The demo: a local cluster on the embedded fault proxy — look at it, break it, stop it.

``scripts/demo`` runs this. Today the cluster is made of *bare* nodes (the shared node
shell with no algorithm: health, reflection, Admin, Probe); once Raft lands the demo
becomes the Raft demo. What it shows, narrated:

1. ``LocalCluster`` starts the embedded Toxiproxy-compatible proxy server, one proxy per
   directed link and per client link, and N node processes; it waits until each is
   SERVING on the standard gRPC health service;
2. every node pings every peer through its transport and the proxies (Admin.ProbePeers);
3. a partition through the proxies (blackhole): n1 is cut off, the others are not;
4. message faults: n2 drops 50% of its messages (seeded), through its Admin hook;
5. kill -9 of a node, then a restart on the same address and data dir;
6. teardown: every process stops, and the OS shows none left.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

from rich.console import Console
from rich.table import Table

from cluster.runner import LocalCluster, cluster_processes
from protocols._pb import admin_pb2

console = Console()


async def probe_table(c: LocalCluster, title: str, count: int = 5) -> Table:
    table = Table(title=title)
    for col in ("from", "to", "ok", "failed", "mean rtt ms", "last error"):
        table.add_column(col)
    for node in c.ids:
        if c.node(node).proc is not None and c.node(node).proc.poll() is not None:  # type: ignore[union-attr]
            continue
        reply = await c.admin_call(node, "ProbePeers", admin_pb2.ProbeRequest(
            count=count, deadline_ms=300), timeout_s=60)
        for p in reply.peers:
            style = "" if p.failed == 0 else "red"
            table.add_row(node, p.peer, str(p.ok), str(p.failed), f"{p.mean_rtt_ms:.2f}",
                          p.last_error[:40], style=style)
    return table


async def run(nodes: int, directory: Path) -> int:
    console.rule("[bold]1. start the cluster on the embedded proxy")
    async with LocalCluster("bare", nodes, data_dir=directory, rpc_deadline_ms=300) as c:
        table = Table(title=f"{nodes} bare nodes SERVING (proxy server {c.toxiproxy_url})")
        for col in ("node", "pid", "admin (direct)", "clients (via proxy)"):
            table.add_column(col)
        for n, info in sorted(c.nodes.items()):
            table.add_row(n, str(info.pid), info.address, info.client_address)
        console.print(table)

        console.rule("[bold]2. every node reaches every peer through the proxies")
        console.print(await probe_table(c, "Admin.ProbePeers"))

        console.rule("[bold]3. partition: n1 | the rest (blackhole toxics on the proxies)")
        await c.nemesis.isolate("n1")
        console.print(await probe_table(c, "n1's links fail both ways, the rest are fine", 2))
        await c.nemesis.heal()
        console.print("healed")

        console.rule("[bold]4. message faults: n2 drops 50% of its requests (seed 7)")
        await c.nemesis.drop(0.5, nodes=["n2"], seed=7)
        console.print(await probe_table(c, "only n2's outgoing messages are lost", 20))
        await c.nemesis.clear_message_faults()

        victim = c.ids[-1]
        console.rule(f"[bold]5. kill -9 {victim}, then restart it")
        await c.nemesis.kill(victim)
        console.print(await probe_table(c, f"{victim} is down: its links fail", 2))
        await c.nemesis.restart(victim)
        console.print(await probe_table(c, f"{victim} is back (new pid {c.node(victim).pid})",
                                        2))
        console.rule("[bold]6. teardown")
    left = cluster_processes(directory)
    console.print(f"processes left running: {left or 'none'}")
    console.print(f"logs, config and nemesis log: {directory}")
    return 1 if left else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cluster.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--nodes", type=int, default=5)
    parser.add_argument("--dir", help="where logs go (default: a new temporary directory)")
    args = parser.parse_args(argv)
    if args.nodes < 3:
        parser.error("--nodes must be at least 3")
    directory = Path(args.dir or tempfile.mkdtemp(prefix="protocols-demo-"))
    return asyncio.run(run(args.nodes, directory))


if __name__ == "__main__":
    sys.exit(main())
