"""Benchmark the Toxiproxy-compatible proxy (run via ``scripts/bench proxy``).

1. Bulk TCP: a stream pushed through one proxy with no toxic and with a 100 ms latency
   toxic, beside the same stream sent directly — MB/s and the ratio to direct. Toxiproxy's
   own test (TestLatencyToxicBandwidth) requires >= 100 MB/s through a latency toxic.
2. gRPC unary round trip (grpc.aio, server in a separate process): direct vs through
   the proxy — p50/p99 and the latency one proxy hop adds, as a ratio to direct.

The proxy server runs as its own process (``python -m cluster.toxiproxy``), as in a
real cluster. Every figure is measured in this run; absolute numbers drift between
machines, the ratios are the result.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
from _grpc_echo_server import running as echo_server  # scripts/ is on sys.path
from rich.console import Console
from rich.table import Table

from cluster.toxi import ToxiproxyClient
from protocols._pb import admin_pb2, admin_pb2_grpc

console = Console()


def start_proxy_server(tmp: Path) -> tuple[subprocess.Popen[bytes], ToxiproxyClient]:
    ready = tmp / "ready.json"
    proc = subprocess.Popen([sys.executable, "-m", "cluster.toxiproxy", "--port", "0",
                             "--ready-file", str(ready)], stdout=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + 30
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the proxy server did not start")
        time.sleep(0.02)
    port = json.loads(ready.read_text())["port"]
    return proc, ToxiproxyClient(f"http://127.0.0.1:{port}")


# ----------------------------------------------------------------------------- bulk TCP
async def bulk(address: tuple[str, int], total: int, sink_done: asyncio.Queue[int]) -> float:
    _, writer = await asyncio.open_connection(*address)
    block = b"x" * (1 << 20)
    started = time.monotonic()
    for _ in range(total >> 20):
        writer.write(block)
        await writer.drain()
    writer.close()
    received = await sink_done.get()
    elapsed = time.monotonic() - started
    assert received == total, f"sink got {received} of {total} bytes"
    return total / elapsed / 1e6


async def bulk_bench(client: ToxiproxyClient, total_mb: int) -> list[dict[str, Any]]:
    done: asyncio.Queue[int] = asyncio.Queue()

    async def sink(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        n = 0
        while data := await reader.read(1 << 20):
            n += len(data)
        writer.close()
        await done.put(n)

    server = await asyncio.start_server(sink, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    proxy = await asyncio.to_thread(client.create_proxy, "bench_bulk", f"127.0.0.1:{port}")
    target = ("127.0.0.1", proxy.port)
    total = total_mb << 20
    rows = []
    direct = await bulk(("127.0.0.1", port), total, done)
    rows.append({"path": "direct", "MB/s": direct, "ratio": 1.0})
    plain = await bulk(target, total, done)
    rows.append({"path": "proxy, no toxic", "MB/s": plain, "ratio": plain / direct})
    await asyncio.to_thread(client.add_toxic, "bench_bulk", "latency", "upstream",
                            attributes={"latency": 100})
    slow = await bulk(target, total, done)
    rows.append({"path": "proxy, latency 100 ms", "MB/s": slow, "ratio": slow / direct})
    await asyncio.to_thread(client.delete_proxy, "bench_bulk")
    server.close()
    return rows


# ----------------------------------------------------------------------------- gRPC RTT
async def rtts(address: str, seconds: float) -> list[float]:
    async with grpc.aio.insecure_channel(address) as ch:
        stub = admin_pb2_grpc.ProbeStub(ch)
        request = admin_pb2.PingRequest(from_id="bench", payload=b"x" * 32)
        for _ in range(200):  # warm up the connection and the interpreter
            await stub.Ping(request, timeout=5)
        out = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t = time.perf_counter()
            await stub.Ping(request, timeout=5)
            out.append(time.perf_counter() - t)
        return out


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


async def grpc_bench(client: ToxiproxyClient, seconds: float) -> list[dict[str, Any]]:
    with echo_server() as (port, _):
        proxy = await asyncio.to_thread(client.create_proxy, "bench_grpc", f"127.0.0.1:{port}")
        rounds: dict[str, list[float]] = {"direct": [], "proxy": []}
        for _ in range(3):  # interleave, so machine noise hits both alike
            rounds["direct"] += await rtts(f"127.0.0.1:{port}", seconds / 6)
            rounds["proxy"] += await rtts(proxy.listen, seconds / 6)
        await asyncio.to_thread(client.delete_proxy, "bench_grpc")
    d50 = statistics.median(rounds["direct"]) * 1000
    rows = []
    for path, values in rounds.items():
        p50 = statistics.median(values) * 1000
        rows.append({"path": path, "calls": len(values), "p50_ms": p50,
                     "p99_ms": pct(values, 0.99), "p50_ratio": p50 / d50,
                     "added_ms": p50 - d50})
    return rows


def show(title: str, rows: list[dict[str, Any]]) -> None:
    table = Table(title=title)
    for key in rows[0]:
        table.add_column(key)
    for row in rows:
        table.add_row(*(f"{v:.3f}" if isinstance(v, float) else str(v) for v in row.values()))
    console.print(table)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        proc, client = start_proxy_server(Path(tmp))
        try:
            client.wait_ready()
            bulk_rows = await bulk_bench(client, args.megabytes)
            grpc_rows = await grpc_bench(client, args.seconds)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=15)
    return {"bulk": bulk_rows, "grpc_unary": grpc_rows}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--megabytes", type=int, default=512, help="bulk stream size")
    parser.add_argument("--seconds", type=float, default=6.0, help="gRPC RTT sampling time")
    parser.add_argument("--json", action="store_true", help="print a JSON summary too")
    args = parser.parse_args()
    result = asyncio.run(main_async(args))
    show(f"bulk TCP, {args.megabytes} MiB (target >= 100 MB/s through a latency toxic)",
         result["bulk"])
    show("gRPC unary round trip, direct vs one proxy hop", result["grpc_unary"])
    if args.json:
        print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
