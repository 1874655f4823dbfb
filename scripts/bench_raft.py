"""Raft benchmarks (run via ``scripts/bench raft``), each beside a baseline from the same run.

1. Proposals issued at the leader, 3 nodes, committed ops/s and p50/p99 at several
   offered loads (calls in flight): ours with fsync on (and off, labelled) through
   ``Admin.Load`` (proposals generated inside the leader process), peers connected
   directly (``cluster up --direct``) as PySyncObj's are, beside PySyncObj (3 processes,
   batching on and off), driven the same way (closed loop at its leader). With the floor
   under a proposal at 1 in flight, in the same run: a frame written to two bare
   grpc.aio stream echo servers until the first echo, plus an fsync.
2. End to end through gRPC and the proxies, 3 nodes: sequential put latency with a
   KvClient, and throughput with 64 concurrent clients — as ratios to a bare grpc.aio
   unary round trip / 64-in-flight unary throughput measured in the same run.
3. Failover: after kill -9 of the leader, the time until a put commits again, over
   several runs, against the configured election timeout.

A plot of (1), proposals/s and p50 against the calls in flight (``--loads``), goes to
``--plot`` (default ``docs/img/raft-throughput.png``; ``--no-plot`` for none).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _plots  # scripts/ is on sys.path
import grpc.aio
from _grpc_echo_server import running as echo_server
from bench_kv import first_of_two, fsync_p50_ms
from rich.console import Console
from rich.table import Table

from cluster.ports import allocate_ports
from cluster.runner import LocalCluster
from protocols._pb import admin_pb2, admin_pb2_grpc, peer_pb2
from protocols.kv.client import KvChannels, KvClient
from protocols.progress import progress_bar

console = Console()
HERE = Path(__file__).resolve().parent


# ----------------------------------------------------------------------------- helpers
def pysyncobj_run(in_flight: int, seconds: float, batch: bool) -> dict[str, Any]:
    lease = allocate_ports(3)
    addrs = [f"127.0.0.1:{p}" for p in lease.ports]
    lease.release()  # PySyncObj binds them itself
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        procs = []
        for a in addrs:
            others = ",".join(x for x in addrs if x != a)
            procs.append(subprocess.Popen(
                [sys.executable, str(HERE / "_pysyncobj_node.py"), "--self", a, "--partners",
                 others, "--in-flight", str(in_flight), "--seconds", str(seconds),
                 "--batch", "on" if batch else "off", "--out", str(out)],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True))
        try:
            for p in procs:
                p.wait(timeout=seconds + 90)
        finally:
            for p in procs:
                if p.poll() is None:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
        result: dict[str, Any] = json.loads(out.read_text()) if out.exists() else {}
        return result


async def ours_load(c: LocalCluster, in_flight: int, seconds: float) -> dict[str, Any]:
    leader = await c.wait_for_leader(deadline_s=20)
    reply = await c.admin_call(leader, "Load", admin_pb2.LoadRequest(
        in_flight=in_flight, seconds=seconds, payload_bytes=16), timeout_s=seconds + 60)
    return {"ops_per_s": reply.ok / reply.elapsed_s, "p50_ms": reply.p50_ms,
            "p99_ms": reply.p99_ms, "failed": reply.failed}


async def bare_unary(seconds: float) -> dict[str, float]:
    with echo_server() as (port, _):
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
            stub = admin_pb2_grpc.ProbeStub(ch)
            req = admin_pb2.PingRequest(from_id="b", payload=b"x" * 32)
            for _ in range(200):
                await stub.Ping(req)
            lat = []
            end = time.monotonic() + seconds
            while time.monotonic() < end:
                t = time.perf_counter()
                await stub.Ping(req)
                lat.append(time.perf_counter() - t)
            done = 0
            end = time.monotonic() + seconds

            async def worker() -> None:
                nonlocal done
                while time.monotonic() < end:
                    await stub.Ping(req)
                    done += 1

            t0 = time.monotonic()
            await asyncio.gather(*(worker() for _ in range(64)))
            rate = done / (time.monotonic() - t0)
    lat.sort()
    return {"p50_ms": lat[len(lat) // 2] * 1000, "p99_ms": lat[int(len(lat) * 0.99)] * 1000,
            "seq_per_s": len(lat) / seconds, "conc64_per_s": rate}


async def proposal_floor(seconds: float) -> dict[str, float]:
    """What a proposal at 1 in flight costs at the least: the leader's round to two
    followers until the first answers (bare grpc.aio streams) and an fsync."""
    with echo_server() as (p1, _), echo_server() as (p2, _):
        async with grpc.aio.insecure_channel(f"127.0.0.1:{p1}") as c1, \
                grpc.aio.insecure_channel(f"127.0.0.1:{p2}") as c2:
            a = c1.stream_stream("/protocols.peer.v1.Peer/Stream")()
            b = c2.stream_stream("/protocols.peer.v1.Peer/Stream")()
            frame = peer_pb2.Frame(id=1, body=b"x" * 40).SerializeToString()
            round2 = await first_of_two(a, b, frame, seconds)
            a.cancel()
            b.cancel()
    with tempfile.TemporaryDirectory(prefix="bench-raft-fsync-") as tmp:
        fsync = fsync_p50_ms(tmp)
    return {"round2_p50_ms": round2, "fsync_p50_ms": fsync, "total_ms": round2 + fsync}


async def kv_e2e(c: LocalCluster, seconds: float) -> dict[str, float]:
    channels = KvChannels(c.client_addresses)
    try:
        kv = KvClient(channels, deadline_s=10)
        for i in range(100):
            await kv.put("warm", str(i))
        lat = []
        end = time.monotonic() + seconds
        i = 0
        while time.monotonic() < end:
            t = time.perf_counter()
            await kv.put(f"s{i % 100}", str(i))
            lat.append(time.perf_counter() - t)
            i += 1
        done = 0
        end = time.monotonic() + seconds

        async def worker(w: int) -> None:
            nonlocal done
            client = KvClient(channels, client_id=f"bench{w}", deadline_s=10)
            client.leader = kv.leader
            while time.monotonic() < end:
                await client.put(f"c{w}", str(done))
                done += 1

        t0 = time.monotonic()
        await asyncio.gather(*(worker(w) for w in range(64)))
        rate = done / (time.monotonic() - t0)
    finally:
        await channels.close()
    lat.sort()
    return {"p50_ms": lat[len(lat) // 2] * 1000, "p99_ms": lat[int(len(lat) * 0.99)] * 1000,
            "seq_per_s": len(lat) / seconds, "conc64_per_s": rate}


async def failover(c: LocalCluster, runs: int) -> list[float]:
    out = []
    async with KvClient(c.client_addresses, deadline_s=30, attempt_timeout_s=0.3) as kv:
        for r in range(runs):
            await kv.put("f", f"before{r}")
            leader = await c.wait_for_leader(deadline_s=20)
            t = time.monotonic()
            await c.kill(leader)
            await kv.put("f", f"after{r}")
            out.append(time.monotonic() - t)
            await c.restart(leader)
            await asyncio.sleep(1.0)
    return out


def table(title: str, rows: list[dict[str, Any]]) -> None:
    t = Table(title=title)
    for key in rows[0]:
        t.add_column(key)
    for row in rows:
        t.add_row(*(f"{v:.2f}" if isinstance(v, float) else str(v) for v in row.values()))
    console.print(t)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement in turn (a progress bar over the load points on a terminal's
    stderr: each system at each in-flight count is one step)."""
    results: dict[str, Any] = {"leader_proposals": [], "e2e": {}, "failover_s": []}
    loads = [int(x) for x in args.loads.split(",")]
    with progress_bar("raft load points", total=4 * len(loads)) as bar:
        for fsync in (True, False):
            with tempfile.TemporaryDirectory() as tmp:
                async with LocalCluster("raft", 3, data_dir=Path(tmp) / "c", direct=True,
                                        options={"fsync": fsync}) as c:
                    await c.wait_for_leader(deadline_s=20)
                    for n in loads:
                        r = await ours_load(c, n, args.seconds)
                        results["leader_proposals"].append(
                            {"system": f"ours, fsync {'on' if fsync else 'OFF'}",
                             "in_flight": n, **r})
                        bar.advance(note=f"ours, fsync {fsync}, {n} in flight")
        for batch in (True, False):
            for n in loads:
                r = pysyncobj_run(n, args.seconds, batch)
                results["leader_proposals"].append(
                    {"system": f"PySyncObj, batch {'on' if batch else 'off'}", "in_flight": n,
                     "ops_per_s": r.get("ops_per_s", 0.0), "p50_ms": r.get("p50_ms", 0.0),
                     "p99_ms": r.get("p99_ms", 0.0), "failed": 0})
                bar.advance(note=f"PySyncObj, batch {batch}, {n} in flight")
    bare = await bare_unary(args.seconds)
    results["proposal_floor_ms"] = await proposal_floor(args.seconds)
    with tempfile.TemporaryDirectory() as tmp:
        async with LocalCluster("raft", 3, data_dir=Path(tmp) / "c") as c:
            await c.wait_for_leader(deadline_s=20)
            e2e = await kv_e2e(c, args.seconds)
            results["failover_s"] = await failover(c, args.failovers)
    results["e2e"] = {
        "bare_unary": bare, "kv_put": e2e,
        "seq_p50_ratio_to_bare_rtt": e2e["p50_ms"] / bare["p50_ms"],
        "conc64_throughput_ratio_to_bare": e2e["conc64_per_s"] / bare["conc64_per_s"],
    }
    return results


STYLES = {"ours, fsync on": (_plots.BLUE, "-"), "ours, fsync OFF": (_plots.BLUE, "--"),
          "PySyncObj, batch on": (_plots.RED, "-"), "PySyncObj, batch off": (_plots.RED, "--")}


def plot(path: Path, rows: list[dict[str, Any]], seconds: float) -> int:
    """Committed proposals/s and their p50 against the calls in flight, a line per system
    (``rows``: the ``leader_proposals`` of the run); the PNG's bytes."""
    fig, (rate, p50) = _plots.figure(2, 10, 3.6)
    for system in dict.fromkeys(r["system"] for r in rows):  # in the table's order
        mine = sorted((r for r in rows if r["system"] == system and r["ops_per_s"] > 0),
                      key=lambda r: r["in_flight"])
        color, line = STYLES.get(system, (_plots.GREY, ":"))
        xs = [r["in_flight"] for r in mine]
        rate.plot(xs, [r["ops_per_s"] for r in mine], marker="o", markersize=4, color=color,
                  linestyle=line, label=system)
        p50.plot(xs, [r["p50_ms"] for r in mine], marker="o", markersize=4, color=color,
                 linestyle=line, label=system)
    for ax, ylabel in ((rate, "committed proposals / s"), (p50, "p50 latency, ms (log)")):
        ax.set_xscale("log")
        ax.set_xlabel("calls in flight at the leader (log)", fontsize=9)
        ax.set_ylabel(ylabel, fontsize=9)
        ax.tick_params(labelsize=8)
        ax.grid(True, which="major", linewidth=0.3)
    p50.set_yscale("log")
    rate.set_ylim(bottom=0)
    rate.legend(fontsize=8)
    fig.suptitle(f"Raft proposals issued at the leader, 3 processes, direct peers, {seconds:g} s "
                 "a point; PySyncObj beside it (no fsync)", fontsize=10)
    return _plots.save(fig, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--loads", default="1,64,1000,3000",
                        help="calls in flight at the leader")
    parser.add_argument("--failovers", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    _plots.add_arguments(parser, "raft-throughput", "proposals/s against calls in flight")
    args = parser.parse_args()
    res = asyncio.run(main_async(args))
    table("committed proposals issued at the leader, 3 nodes", res["leader_proposals"])
    for n in sorted({r["in_flight"] for r in res["leader_proposals"]}):
        ours = next(r for r in res["leader_proposals"]
                    if r["in_flight"] == n and r["system"] == "ours, fsync on")
        pso = next(r for r in res["leader_proposals"]
                   if r["in_flight"] == n and r["system"] == "PySyncObj, batch on")
        ratio = ours["ops_per_s"] / pso["ops_per_s"] if pso["ops_per_s"] else float("inf")
        console.print(f"in flight {n}: ours (fsync on) / PySyncObj (batch on) = {ratio:.2f}x")
    one = next((r for r in res["leader_proposals"]
                if r["in_flight"] == 1 and r["system"] == "ours, fsync on"), None)
    off = next((r for r in res["leader_proposals"]
                if r["in_flight"] == 1 and r["system"] == "PySyncObj, batch off"), None)
    fl = res["proposal_floor_ms"]
    if one and off and off["p50_ms"]:
        console.print(
            f"in flight 1: ours p50 / PySyncObj (batch off) p50 = "
            f"{one['p50_ms'] / off['p50_ms']:.2f}x (target <= 1.5x); the floor under ours, "
            f"same run: a round to two bare stream echo servers {fl['round2_p50_ms']:.2f} ms "
            f"+ an fsync {fl['fsync_p50_ms']:.2f} ms = {fl['total_ms']:.2f} ms = "
            f"{fl['total_ms'] / off['p50_ms']:.2f}x")
    e = res["e2e"]
    table("end to end through gRPC + proxies, 3 nodes", [
        {"path": "bare grpc.aio unary", **e["bare_unary"]},
        {"path": "KvClient put", **e["kv_put"]}])
    console.print(f"sequential put p50 = {e['seq_p50_ratio_to_bare_rtt']:.2f} x bare RTT "
                  f"(target <= 4); 64-client throughput = "
                  f"{e['conc64_throughput_ratio_to_bare']:.2f} x bare unary (target >= 0.4)")
    f = res["failover_s"]
    console.print(f"failover after kill -9 of the leader: p50 {statistics.median(f):.2f}s, "
                  f"max {max(f):.2f}s over {len(f)} runs (election timeout 0.30-0.60 s)")
    png = _plots.target(args)
    if png is not None:
        console.print(_plots.wrote(png, plot(png, res["leader_proposals"], args.seconds)))
    if args.json:
        print(json.dumps(res, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
