"""The demo: start a cluster of real node processes, look at it, break it, stop it.

``scripts/demo`` runs this. Today the cluster is made of *bare* nodes (the shared shell
with no algorithm: health, reflection, Admin, Probe); once Raft lands the demo becomes the
Raft demo. What it shows, narrated:

1. N node processes start, each a grpc.aio server; we wait until every one reports
   SERVING through the standard gRPC health service;
2. every node pings every peer through its transport (Admin.ProbePeers);
3. message faults: node n1 drops 50% of its messages to n2 (seeded) — the probe shows
   about half lost, the others untouched;
4. SIGKILL of one node: the others report it unreachable; it is restarted;
5. SIGTERM to all: every process exits 0 and nothing is left running.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from rich.console import Console
from rich.table import Table

from protocols._pb import admin_pb2, admin_pb2_grpc

console = Console()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class DemoCluster:
    def __init__(self, directory: Path, nodes: int) -> None:
        self.dir = directory
        self.ids = [f"n{i}" for i in range(1, nodes + 1)]
        self.addresses = {n: f"127.0.0.1:{_free_port()}" for n in self.ids}
        self.config = directory / "cluster.json"
        self.config.write_text(json.dumps({
            "protocol": "bare",
            "nodes": {n: {"address": a, "data_dir": str(directory / n)}
                      for n, a in self.addresses.items()},
            "tick_ms": 50,
            "rpc_deadline_ms": 300,
        }, indent=2))
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, node: str) -> None:
        log = (self.dir / f"{node}.log").open("ab")
        self.procs[node] = subprocess.Popen(
            [sys.executable, "-m", "protocols", "--config", str(self.config), "--node-id", node],
            stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def wait_serving(self, node: str, deadline_s: float = 30.0) -> None:
        end = time.monotonic() + deadline_s
        with grpc.insecure_channel(self.addresses[node]) as ch:
            stub = health_pb2_grpc.HealthStub(ch)
            while time.monotonic() < end:
                if self.procs[node].poll() is not None:
                    tail = (self.dir / f"{node}.log").read_text()[-1500:]
                    raise SystemExit(f"{node} exited with {self.procs[node].returncode}:\n{tail}")
                try:
                    reply = stub.Check(health_pb2.HealthCheckRequest(), timeout=0.5)
                    if reply.status == health_pb2.HealthCheckResponse.SERVING:
                        return
                except grpc.RpcError:
                    pass
                time.sleep(0.05)
        raise SystemExit(f"{node} did not become SERVING within {deadline_s}s")

    def admin(self, node: str) -> admin_pb2_grpc.AdminStub:
        return admin_pb2_grpc.AdminStub(grpc.insecure_channel(self.addresses[node]))

    def stop_all(self) -> dict[str, int | None]:
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        codes: dict[str, int | None] = {}
        for node, p in self.procs.items():
            try:
                codes[node] = p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                codes[node] = p.wait()
        return codes


def _probe_table(cluster: DemoCluster, title: str, count: int = 10) -> Table:
    table = Table(title=title)
    for col in ("from", "to", "ok", "failed", "mean rtt ms", "last error"):
        table.add_column(col)
    for node in cluster.ids:
        if cluster.procs[node].poll() is not None:
            continue
        reply = cluster.admin(node).ProbePeers(admin_pb2.ProbeRequest(count=count), timeout=30)
        for p in reply.peers:
            table.add_row(node, p.peer, str(p.ok), str(p.failed), f"{p.mean_rtt_ms:.2f}",
                          p.last_error[:50])
    return table


def run(nodes: int, directory: Path) -> int:
    cluster = DemoCluster(directory, nodes)
    console.rule("[bold]1. start the cluster")
    for node in cluster.ids:
        cluster.start(node)
    try:
        for node in cluster.ids:
            cluster.wait_serving(node)
        table = Table(title=f"{nodes} bare nodes SERVING")
        for col in ("node", "address", "pid", "role"):
            table.add_column(col)
        for node in cluster.ids:
            st = cluster.admin(node).Status(admin_pb2.StatusRequest(), timeout=5)
            table.add_row(node, cluster.addresses[node], str(st.pid), st.role)
        console.print(table)

        console.rule("[bold]2. every node reaches every peer")
        console.print(_probe_table(cluster, "Admin.ProbePeers, 10 pings per link"))

        console.rule("[bold]3. message faults: n1 drops 50% of its requests to n2 (seed 7)")
        cluster.admin("n1").SetMessageFaults(admin_pb2.SetMessageFaultsRequest(
            links=[admin_pb2.LinkFaults(peer="n2", drop_rate=0.5)], seed=7), timeout=5)
        console.print(_probe_table(cluster, "n1 -> n2 loses about half; nothing else changes",
                                   count=20))
        cluster.admin("n1").SetMessageFaults(admin_pb2.SetMessageFaultsRequest(), timeout=5)

        victim = cluster.ids[-1]
        console.rule(f"[bold]4. kill -9 {victim}, then restart it")
        os.killpg(cluster.procs[victim].pid, signal.SIGKILL)
        cluster.procs[victim].wait()
        console.print(_probe_table(cluster, f"{victim} is gone: its links fail", count=2))
        cluster.start(victim)
        cluster.wait_serving(victim)
        console.print(_probe_table(cluster, f"{victim} restarted: all links ok", count=2))
    finally:
        console.rule("[bold]5. SIGTERM every node")
        codes = cluster.stop_all()
    console.print(f"exit codes: {codes}")
    ok = all(code == 0 for code in codes.values())
    console.print("[green]demo finished: every node stopped cleanly[/green]" if ok
                  else "[red]a node did not stop cleanly[/red]")
    console.print(f"logs and config: {directory}")
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cluster.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", "--nodes", type=int, default=5)
    parser.add_argument("--dir", help="where logs go (default: a new temporary directory)")
    args = parser.parse_args(argv)
    if args.nodes < 2:
        parser.error("--nodes must be at least 2")
    directory = Path(args.dir or tempfile.mkdtemp(prefix="protocols-demo-"))
    directory.mkdir(parents=True, exist_ok=True)
    return run(args.nodes, directory)


if __name__ == "__main__":
    sys.exit(main())
