"""``scripts/bench kv``: this project's Raft KV and Multi-Paxos KV beside etcd, in the
same run.

All are 3-member clusters on this machine with their data on disk (fsync on), peers
connected directly (``cluster up --direct``: no proxies), and each is driven by the same
kind of Python client: one grpc.aio channel to the leader, raw unary calls
(etcd's ``/etcdserverpb.KV/Put`` and ``/Range``; our ``/protocols.kv.v1.Kv/Put`` and
``/Get``, sessionless like etcd's). Workloads, each for ``--seconds``, median of
``--runs``:

* put, 1 in flight: ops/s, p50, p99;
* put, 64 in flight: ops/s, p50, p99;
* linearizable get, 1 in flight: ops/s, p50 (etcd: a Range without ``serializable``);
* server CPU per put at 64 in flight: utime + stime of the 3 server processes over the
  window (from /proc), divided by the puts done;
* the floor under both, in the same run: a bare grpc.aio unary round trip to a server that
  does nothing (p50, and client + server CPU per call; and calls/s at 64 in flight, the
  most a put at 64 could reach over grpc.aio with this client), a frame echoed on a bare
  bidirectional stream (one replication round trip), and an ``os.fsync`` of a small
  append on the disk the data lives on (p50);
* failover: after kill -9 of the leader, the time until a put commits again (Raft and
  Paxos, several runs);
* protocol economy, in the simulator (deterministic, no faults): messages and fsyncs per
  committed command, Raft beside Paxos, 1 and 64 commands in flight;
* a get, 1 in flight, with ``read_mode=lease`` (Raft thesis §6.4.1, and the Paxos
  leader's lease: the leader answers alone inside its lease; see the README for the
  clock assumption).

etcd comes from Debian's ``etcd-server`` package, installed by this script with apt when
it is missing; where apt is not available the etcd column is skipped with a message.

Beside the table, the latency CDF of every put and get (1 and 64 in flight; all runs
pooled) of each system goes to ``--plot`` (default ``docs/img/kv-latency.png``;
``--no-plot`` for none).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import IO, Any

import _plots  # scripts/ is on sys.path
import grpc.aio
from _grpc_echo_server import running as echo_server
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cluster.ports import allocate_ports
from cluster.runner import LocalCluster
from protocols._pb import kv_pb2, peer_pb2
from protocols.kv.client import KvClient
from protocols.progress import progress_bar

console = Console(width=None if sys.stdout.isatty() else 120)  # a log keeps whole rows
CLK_TCK = os.sysconf("SC_CLK_TCK")
VALUE = "v" * 16


# ----------------------------------------------------------------------------- measuring
def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of ``pids`` so far (and of their threads), from /proc."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / CLK_TCK


async def closed_loop(call: Callable[[int], Awaitable[Any]], in_flight: int,
                      seconds: float, keep: list[float] | None = None) -> dict[str, float]:
    """``in_flight`` workers calling ``call`` back to back for ``seconds``: ops/s, p50, p99;
    each call's latency in ms is also appended to ``keep`` (for the CDF), if given."""
    latencies: list[float] = []
    end = time.monotonic() + seconds
    counter = iter(range(1 << 62))

    async def worker() -> None:
        while time.monotonic() < end:
            t = time.perf_counter()
            await call(next(counter))
            latencies.append(time.perf_counter() - t)

    t0 = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    elapsed = time.monotonic() - t0
    if keep is not None:
        keep.extend(x * 1000 for x in latencies)
    latencies.sort()
    n = len(latencies)
    return {"ops_per_s": n / elapsed, "p50_ms": latencies[n // 2] * 1000,
            "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000, "ops": float(n)}


Samples = dict[str, list[float]]  # workload ("put1", "put64", "get1") -> latencies, ms


async def workloads(put: Callable[[int], Awaitable[Any]], get: Callable[[int], Awaitable[Any]],
                    pids: list[int], seconds: float, samples: Samples | None = None
                    ) -> dict[str, float]:
    """The three workloads on one cluster; every latency also into ``samples``."""
    def keep(name: str) -> list[float] | None:
        return None if samples is None else samples.setdefault(name, [])

    for i in range(200):  # warm up channels, connections, caches
        await put(i)
    one = await closed_loop(put, 1, seconds, keep("put1"))
    cpu0 = cpu_seconds(pids)
    many = await closed_loop(put, 64, seconds, keep("put64"))
    cpu = cpu_seconds(pids) - cpu0
    reads = await closed_loop(get, 1, seconds, keep("get1"))
    return {"put1_ops": one["ops_per_s"], "put1_p50_ms": one["p50_ms"],
            "put1_p99_ms": one["p99_ms"], "put64_ops": many["ops_per_s"],
            "put64_p50_ms": many["p50_ms"], "put64_p99_ms": many["p99_ms"],
            "put64_cpu_ms_per_op": cpu / many["ops"] * 1000,
            "get1_ops": reads["ops_per_s"], "get1_p50_ms": reads["p50_ms"]}


# ----------------------------------------------------------------------------- ours
async def ours(seconds: float, options: dict[str, Any] | None = None,
               protocol: str = "raft", samples: Samples | None = None) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix=f"bench-kv-{protocol}-") as tmp:
        async with LocalCluster(protocol, 3, data_dir=Path(tmp) / "c", direct=True,
                                options=options) as c:
            leader = await c.wait_for_leader(deadline_s=20)
            async with grpc.aio.insecure_channel(c.node(leader).client_address) as ch:
                put_rpc = ch.unary_unary("/protocols.kv.v1.Kv/Put",
                                         request_serializer=lambda m: m.SerializeToString(),
                                         response_deserializer=kv_pb2.PutReply.FromString)
                get_rpc = ch.unary_unary("/protocols.kv.v1.Kv/Get",
                                         request_serializer=lambda m: m.SerializeToString(),
                                         response_deserializer=kv_pb2.GetReply.FromString)

                async def put(i: int) -> Any:
                    return await put_rpc(kv_pb2.PutRequest(key=f"k{i % 1000}", value=VALUE),
                                         timeout=10)

                async def get(i: int) -> Any:
                    return await get_rpc(kv_pb2.GetRequest(key=f"k{i % 1000}"), timeout=10)

                pids = [info.pid for info in c.nodes.values()]
                return await workloads(put, get, pids, seconds, samples)


# ----------------------------------------------------------------------------- floors
async def bare_unary(seconds: float) -> dict[str, float]:
    """A grpc.aio unary call to a server that does nothing: the cost of one hop, at 1 and
    at 64 in flight (the most a put at 64 could reach if the server did nothing); a frame
    echoed on a bidirectional stream (one replication round trip); and a frame written to
    two such servers until the first echo comes back (a leader's round to two followers,
    of which it needs one: what a ReadIndex confirmation costs at the least)."""
    with echo_server() as (port, pid), echo_server() as (port2, _):
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch, \
                grpc.aio.insecure_channel(f"127.0.0.1:{port2}") as ch2:
            ping = ch.unary_unary("/protocols.admin.v1.Probe/Ping")
            request = b"\x0a\x01b"  # PingRequest(from_id="b")

            async def call(i: int) -> Any:
                return await ping(request, timeout=10)

            for i in range(200):
                await call(i)
            cpu0, me0 = cpu_seconds([pid]), time.process_time()
            one = await closed_loop(call, 1, seconds)
            cpu = cpu_seconds([pid]) - cpu0 + time.process_time() - me0
            many = await closed_loop(call, 64, seconds)
            stream = ch.stream_stream("/protocols.peer.v1.Peer/Stream")()
            frame = peer_pb2.Frame(id=1, body=b"x" * 40).SerializeToString()

            async def echo(i: int) -> Any:
                await stream.write(frame)
                return await stream.read()

            for i in range(200):
                await echo(i)
            echoed = await closed_loop(echo, 1, seconds)
            stream2 = ch2.stream_stream("/protocols.peer.v1.Peer/Stream")()
            two = await first_of_two(stream, stream2, frame, seconds)
            stream.cancel()
            stream2.cancel()
    return {"bare_unary_p50_ms": one["p50_ms"], "bare_unary_cpu_ms": cpu / one["ops"] * 1000,
            "bare_unary64_ops": many["ops_per_s"], "bare_stream_rtt_p50_ms": echoed["p50_ms"],
            "bare_round2_p50_ms": two}


async def first_of_two(a: Any, b: Any, frame: bytes, seconds: float) -> float:
    """p50 ms from writing ``frame`` on streams ``a`` and ``b`` until the first echo;
    the second is read before the next round, so rounds never overlap."""

    async def one_round() -> float:
        reads = [asyncio.ensure_future(s.read()) for s in (a, b)]
        t = time.perf_counter()
        await a.write(frame)
        await b.write(frame)
        await asyncio.wait(reads, return_when=asyncio.FIRST_COMPLETED)
        took = time.perf_counter() - t
        await asyncio.gather(*reads)
        return took

    for _ in range(200):  # warm up
        await one_round()
    latencies: list[float] = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        latencies.append(await one_round())
    return statistics.median(latencies) * 1000


def fsync_p50_ms(directory: str, count: int = 300) -> float:
    """An append of 100 bytes and its fsync, on the disk benchmarks write to."""
    path = os.path.join(directory, "fsync-probe")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        samples = []
        for _ in range(count):
            t = time.perf_counter()
            os.write(fd, b"x" * 100)
            os.fsync(fd)
            samples.append(time.perf_counter() - t)
    finally:
        os.close(fd)
        os.unlink(path)
    samples.sort()
    return samples[len(samples) // 2] * 1000


# ----------------------------------------------------------------------------- etcd
def etcd_binary() -> tuple[str | None, str]:
    """etcd from Debian's etcd-server package, installed with apt if missing: its path,
    or None and why not."""
    found = shutil.which("etcd") or ("/usr/bin/etcd" if os.path.exists("/usr/bin/etcd")
                                     else None)
    if found:
        return found, ""
    if shutil.which("apt-get") is None:
        return None, "etcd is not installed and apt-get is not available"
    console.print("installing etcd-server with apt-get (once) ...")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "etcd-server"]
    done = subprocess.run(install, env=env, capture_output=True, text=True)
    if done.returncode != 0:  # the package lists may be missing or stale
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True)
        done = subprocess.run(install, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return None, ("apt-get could not install etcd-server (exit "
                      f"{done.returncode}): " + " | ".join(tail))
    path = shutil.which("etcd")
    return path, "" if path else "etcd-server installed, but no etcd on PATH"


def _field(number: int, data: bytes) -> bytes:
    """One length-delimited protobuf field (enough for etcd's Put and Range)."""
    tag = (number << 3) | 2
    size, length = bytearray(), len(data)
    while True:
        byte, length = length & 0x7F, length >> 7
        size.append(byte | (0x80 if length else 0))
        if not length:
            break
    return bytes([tag]) + bytes(size) + data


async def etcd(binary: str, seconds: float, samples: Samples | None = None
               ) -> dict[str, float]:
    lease = allocate_ports(6)
    ports = list(lease.ports)
    lease.release()  # etcd binds them itself
    names = ["e1", "e2", "e3"]
    peers = {n: f"http://127.0.0.1:{ports[i]}" for i, n in enumerate(names)}
    clients = {n: f"http://127.0.0.1:{ports[3 + i]}" for i, n in enumerate(names)}
    initial = ",".join(f"{n}={peers[n]}" for n in names)
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[IO[bytes]] = []
    with tempfile.TemporaryDirectory(prefix="bench-kv-etcd-") as tmp:
        try:
            for n in names:
                log = open(Path(tmp) / f"{n}.log", "wb")  # noqa: SIM115 (closed below)
                logs.append(log)
                procs.append(subprocess.Popen(
                    [binary, "--name", n, "--data-dir", f"{tmp}/{n}",
                     "--listen-peer-urls", peers[n], "--initial-advertise-peer-urls", peers[n],
                     "--listen-client-urls", clients[n], "--advertise-client-urls", clients[n],
                     "--initial-cluster", initial, "--initial-cluster-state", "new",
                     "--initial-cluster-token", "bench"],
                    stdout=log, stderr=subprocess.STDOUT, start_new_session=True))
            leader = await etcd_leader(clients)
            target = clients[leader].removeprefix("http://")
            async with grpc.aio.insecure_channel(target) as ch:
                put_rpc = ch.unary_unary("/etcdserverpb.KV/Put")
                get_rpc = ch.unary_unary("/etcdserverpb.KV/Range")

                async def put(i: int) -> Any:
                    key = f"k{i % 1000}".encode()
                    return await put_rpc(_field(1, key) + _field(2, VALUE.encode()), timeout=10)

                async def get(i: int) -> Any:
                    return await get_rpc(_field(1, f"k{i % 1000}".encode()), timeout=10)

                return await workloads(put, get, [p.pid for p in procs], seconds, samples)
        finally:
            for p in procs:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait()
            for handle in logs:
                handle.close()


async def etcd_leader(clients: dict[str, str], deadline_s: float = 30) -> str:
    """The member that reports itself leader (etcd's JSON gateway, /v3/maintenance/status)."""
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        for name, url in clients.items():
            try:
                status = await asyncio.to_thread(_post_json, f"{url}/v3/maintenance/status")
            except OSError:
                continue
            if status.get("leader") and status["leader"] == status["header"]["member_id"]:
                return name
        await asyncio.sleep(0.1)
    raise SystemExit("etcd elected no leader")


def _post_json(url: str) -> dict[str, Any]:
    request = urllib.request.Request(url, data=b"{}", method="POST")
    with urllib.request.urlopen(request, timeout=1) as response:
        result: dict[str, Any] = json.loads(response.read())
        return result


# ----------------------------------------------------------------------------- report
async def main_async(args: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Samples]]:
    """The figures (medians over the runs), and every latency of every run by system."""
    binary, why = etcd_binary()
    if binary is None:
        console.print(f"[yellow]{escape(why)}: the etcd column is skipped[/yellow]")
    runs: dict[str, list[dict[str, float]]] = {"raft": [], "paxos": [], "etcd": []}
    samples: dict[str, Samples] = {name: {} for name in runs}
    systems = 2 + (binary is not None)
    with progress_bar("kv runs", total=args.runs * systems) as bar:
        for r in range(args.runs):
            for protocol in ("raft", "paxos"):
                console.print(f"run {r + 1}/{args.runs}: {protocol} ...")
                run = await ours(args.seconds, protocol=protocol, samples=samples[protocol])
                leased: Samples = {}
                lease = await ours(args.seconds, {"read_mode": "lease"}, protocol=protocol,
                                   samples=leased)
                samples[protocol].setdefault("get1_lease", []).extend(leased["get1"])
                run["get1_lease_p50_ms"] = lease["get1_p50_ms"]
                run["get1_lease_ops"] = lease["get1_ops"]
                runs[protocol].append(run)
                bar.advance(note=f"run {r + 1}: {protocol}")
            if binary is not None:
                console.print(f"run {r + 1}/{args.runs}: etcd ...")
                runs["etcd"].append(await etcd(binary, args.seconds, samples["etcd"]))
                bar.advance(note=f"run {r + 1}: etcd")
    floors = await bare_unary(args.seconds)
    with tempfile.TemporaryDirectory(prefix="bench-kv-fsync-") as tmp:
        floors["fsync_p50_ms"] = fsync_p50_ms(tmp)
    result: dict[str, dict[str, float]] = {
        system: {k: statistics.median(one[k] for one in rs) for k in rs[0]}
        for system, rs in runs.items() if rs}
    result["floor"] = floors
    for protocol in ("raft", "paxos"):
        console.print(f"failover, {protocol} ...")
        times = await failover(protocol, args.failovers)
        result[protocol]["failover_p50_s"] = statistics.median(times)
        result[protocol]["failover_max_s"] = max(times)
        result[protocol].update(economy(protocol))
    return result, {name: s for name, s in samples.items() if s}


async def failover(protocol: str, runs: int) -> list[float]:
    """kill -9 of the leader; the time until a put commits again (through KvClient)."""
    out = []
    with tempfile.TemporaryDirectory(prefix=f"bench-failover-{protocol}-") as tmp:
        async with LocalCluster(protocol, 3, data_dir=Path(tmp) / "c", direct=True) as c, \
                KvClient(c.client_addresses, deadline_s=30, attempt_timeout_s=0.3) as kv:
            for r in range(runs):
                await kv.put("f", f"before{r}")
                leader = await c.wait_for_leader(deadline_s=20)
                t = time.monotonic()
                await c.kill(leader)
                await kv.put("f", f"after{r}")
                out.append(time.monotonic() - t)
                await c.restart(leader)
                await c.wait_healthy(leader)
    return out


def economy(protocol: str) -> dict[str, float]:
    """Messages and fsyncs per committed command, in the simulator (no faults)."""
    out: dict[str, float] = {}
    for in_flight in (1, 64):
        msgs, fsyncs = _economy_run(protocol, in_flight, total=2000)
        out[f"msgs_per_cmd_{in_flight}"] = msgs
        out[f"fsyncs_per_cmd_{in_flight}"] = fsyncs
    return out


def _economy_run(protocol: str, in_flight: int, total: int) -> tuple[float, float]:
    from protocols.kv.commands import KvCommand
    from protocols.registry import load_sim
    from protocols.sim import World

    w = World(load_sim(protocol), 3, seed=1)
    leader = w.run_until(w.leader, 10_000)
    w.run_for(500)
    msgs0 = sum(w.rpc_count.values())
    fsyncs0 = sum(node.fs.fsyncs for node in w.nodes.values())
    pending: set[Any] = set()
    sent = done = 0
    while done < total:
        while len(pending) < in_flight and sent < total:  # keep in_flight commands going
            pending.add(w.submit(leader, KvCommand("put", f"k{sent % 100}", "v")))
            sent += 1
        w.step()
        finished = {r for r in pending if r in w.answers}
        done += len(finished)
        pending -= finished
    msgs = sum(w.rpc_count.values()) - msgs0
    fsyncs = sum(node.fs.fsyncs for node in w.nodes.values()) - fsyncs0
    return msgs / total, fsyncs / total


TARGETS = {"put1_p50_ms": ("<=", 1.5), "get1_p50_ms": ("<=", 1.5), "put64_ops": (">=", 0.5)}


def report(res: dict[str, Any]) -> None:
    floor = res.pop("floor")
    console.print("floor, same run: " + ", ".join(f"{k} {v:.3f}" for k, v in floor.items()))
    t = Table(title="KV, 3 members, fsync on, one grpc.aio channel to the leader (medians)")
    t.add_column("metric", no_wrap=True)  # names are keys of the --json output
    for system in res:
        t.add_column(system)
    t.add_column("raft / etcd")
    t.add_column("target")
    t.add_column("paxos / raft")
    for key in res["raft"]:
        row = [key, *(f"{res[s][key]:.2f}" if key in res[s] else "" for s in res)]
        base = res.get("etcd", {}).get(key.replace("_lease", ""), 0.0)
        target = TARGETS.get(key)
        row.append(f"{res['raft'][key] / base:.2f}x" if base else "")
        row.append(f"{target[0]} {target[1]}x" if target and base else "")
        paxos = res.get("paxos", {}).get(key)
        row.append(f"{paxos / res['raft'][key]:.2f}x" if paxos and res["raft"][key] else "")
        t.add_row(*row)
    console.print(t)
    etcd = res.get("etcd")
    if etcd:
        get_floor = floor["bare_unary_p50_ms"] + floor["bare_round2_p50_ms"]
        console.print(
            f"floors under the targets, same run: a linearizable get needs at least the "
            f"client's call plus a round to the followers, {get_floor:.2f} ms = "
            f"{get_floor / etcd['get1_p50_ms']:.2f}x etcd's get (target <= 1.5x); a put at "
            f"64 in flight at most what the client gets from a server doing nothing, "
            f"{floor['bare_unary64_ops']:.0f}/s = "
            f"{floor['bare_unary64_ops'] / etcd['put64_ops']:.2f}x etcd's (target >= 0.5x)")


PANELS = (("put1", "put, 1 in flight"), ("put64", "put, 64 in flight"),
          ("get1", "linearizable get, 1 in flight"))
SYSTEMS = (("raft", "Raft KV", _plots.BLUE), ("paxos", "Multi-Paxos KV", _plots.GREEN),
           ("etcd", "etcd", _plots.RED))


def plot(path: Path, samples: dict[str, Samples], runs: int, seconds: float) -> int:
    """The latency CDF of each workload, one panel each, every system that ran it beside
    the others (``samples``: system -> workload -> latencies, ms); lease gets dashed in
    the get panel. The PNG's bytes."""
    fig, axes = _plots.figure(len(PANELS), 12, 3.6, sharey=True)
    for ax, (workload, title) in zip(axes, PANELS, strict=True):
        for system, label, color in SYSTEMS:
            got = samples.get(system, {})
            if workload in got:
                _plots.cdf(ax, got[workload], label, color)
            if workload == "get1" and "get1_lease" in got:
                _plots.cdf(ax, got["get1_lease"], f"{label}, lease read", color,
                           linestyle="--")
        for q in (0.5, 0.99):
            ax.axhline(q, color=_plots.GREY, linewidth=0.5, linestyle=":")
        _plots.log_ms(ax)
        ax.set_xlabel("latency, ms (log)", fontsize=9)
        ax.set_title(title, fontsize=10)
        ax.tick_params(labelsize=8)
        ax.grid(True, which="major", axis="x", linewidth=0.3)
    axes[0].set_ylabel("fraction of operations", fontsize=9)
    axes[0].set_yticks([0, 0.25, 0.5, 0.75, 0.99])
    axes[-1].legend(fontsize=8, loc="lower right")
    fig.suptitle(f"KV latency CDFs, 3 members, fsync on, one grpc.aio channel to the leader; "
                 f"{runs} run(s) of {seconds:g} s per workload pooled", fontsize=10)
    return _plots.save(fig, path)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--failovers", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    _plots.add_arguments(parser, "kv-latency", "the latency CDFs")
    args = parser.parse_args()
    res, samples = asyncio.run(main_async(args))
    if args.json:
        print(json.dumps(res, indent=2))
    report(res)
    png = _plots.target(args)
    if png is not None:
        console.print(_plots.wrote(png, plot(png, samples, args.runs, args.seconds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
