"""``scripts/bench txnkv``: the CockroachDB-style store on real processes, each figure
beside a baseline measured in the same run.

Every measurement runs on a fresh cluster in a temporary directory: ``LocalCluster("txnkv",
nodes=3, direct=True)`` with ``splits=["f", "m", "t"]``: four ranges, each a Raft group of
the three processes (fsync on), peers connected directly. ``--clients`` (8) closed-loop
clients, each sending every transaction to a node in turn, run for ``--seconds`` each
after a ``--warmup`` that is not counted.

1. **Parallel commits against the two-round commit**, at 1, 2 and 4 ranges per
   transaction. Each transaction writes one fresh key in each of its ranges (no two touch
   the same key: no conflicts): a blind write, so the whole transaction is its commit
   path. Parallel commits answer after one consensus round (the intents and the STAGING
   record together); the two-round commit after two (the intents and a PENDING record,
   then COMMITTED). Latency at 1 client, paced (a transaction every 50 ms, so the work a
   commit leaves behind, its explicit commit and resolution, is done before the next:
   the rounds show, not the queueing of 3 processes on 2 cores), and transactions/s at
   ``--clients`` closed-loop; the two-round rows as ratios to the parallel ones. Beside
   them, in the same run: a put to this project's Raft KV (3 members, fsync on, direct)
   at the same loads, one consensus round with no transaction around it.
2. **The cost of the uncertainty interval** as ``max_offset_ms`` grows (0, 10, 100, 500):
   writers on every node keep writing four hot keys (one each, blindly), readers on
   every node read all four (``r k1..k4``): a read meets values written an instant ago on
   another node, and one above its timestamp but within ``max_offset`` restarts it.
   Reported: the readers' transactions/s and p50, and their restarts per read (the
   coordinators' own count), beside the offset-0 row.

A plot of both goes to ``--plot`` (default ``docs/img/txnkv-commits.png``; ``--no-plot``
for none).

Run: ``scripts/bench txnkv [--seconds S] [--clients N] [--json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import _plots  # scripts/ is on sys.path
from bench_twopc import Load, closed_loop, kv_load, p50_p99
from rich.console import Console
from rich.table import Table

from cluster.runner import LocalCluster
from cluster.waiting import wait_until
from protocols.common.errors import ProtocolError
from protocols.kv.client import KvChannels, KvClient
from protocols.progress import progress_bar
from protocols.twopc.client import TwoPcClient
from protocols.txnkv.core import serving_ranges
from protocols.txnkv.ranges import static_split

console = Console(width=None if sys.stdout.isatty() else 120)
NODES = ("n1", "n2", "n3")
SPLITS = ["f", "m", "t"]
RANGES = static_split(NODES, SPLITS, 3)
OFFSETS = (0, 10, 100, 500)


async def serving(c: LocalCluster) -> bool:
    return serving_ranges((await c.statuses()).values()) == {r.range_id for r in RANGES}


async def txnkv_cluster(tmp: str, options: dict[str, Any]) -> LocalCluster:
    c = LocalCluster("txnkv", nodes=len(NODES), data_dir=Path(tmp) / "c", direct=True,
                     options={"splits": SPLITS, **options})
    await c.start()
    await wait_until(lambda: serving(c), 30, what="every range serving")
    return c


async def commit_load(commit: str, ranges: int, clients: int, seconds: float,
                      warmup: float) -> Load:
    """Blind writes of a fresh key in each of ``ranges`` ranges. One client is paced (a
    transaction every ``PACE_S``), so that what a commit does after answering (the
    explicit commit, the intents' resolution) is done before the next one starts: its
    latency is the commit path's alone; ``clients`` > 1 run closed-loop (throughput)."""
    load = Load(f"{commit} x{ranges} c{clients}", ranges, clients, {"commit": commit})
    with tempfile.TemporaryDirectory(prefix="bench-txnkv-") as tmp:
        c = await txnkv_cluster(tmp, {"commit": commit})
        try:
            async with TwoPcClient(c.client_addresses, timeout_s=10) as client:
                async def txn(i: int, seq: int) -> Any:
                    ops = [["w", RANGES[(i + j) % len(RANGES)].key_in(f"c{i}.{seq}.{j}"),
                            seq] for j in range(ranges)]
                    return await client.txn(ops, NODES[(i + seq) % len(NODES)])

                if clients == 1:
                    await paced(txn, load, seconds, warmup)
                else:
                    await closed_loop(txn, load, seconds, warmup)
        finally:
            await c.stop()
    return load


PACE_S = 0.05


async def paced(op: Any, load: Load, seconds: float, warmup: float) -> Load:
    """One client, one operation every ``PACE_S``: the latency of each, and no queueing
    behind the work the previous one left."""
    start = time.monotonic()
    counted_from, end = start + warmup, start + warmup + seconds
    latencies: list[float] = []
    seq = 0
    while (now := time.monotonic()) < end:
        seq += 1
        t = time.perf_counter()
        try:
            await op(0, seq)
        except ProtocolError as e:
            if now >= counted_from and len(load.errors) < 3:
                load.errors.append(f"{type(e).__name__}: {e}")
        else:
            if now >= counted_from:
                latencies.append(time.perf_counter() - t)
        await asyncio.sleep(max(0.0, PACE_S - (time.perf_counter() - t)))
    load.txns = len(latencies)
    load.txn_per_s = len(latencies) / max(1e-9, time.monotonic() - counted_from)
    load.p50_ms, load.p99_ms = p50_p99(latencies)
    load.max_ms = max(latencies, default=0.0) * 1000
    return load


async def kv_paced(seconds: float, warmup: float) -> Load:
    """The Raft KV's put (3 members, fsync on, direct), paced like the 1-client rows."""
    load = Load("raft kv put", 0, 1, {})
    with tempfile.TemporaryDirectory(prefix="bench-txnkv-kv-") as tmp:
        async with LocalCluster("raft", 3, data_dir=Path(tmp) / "c", direct=True) as c, \
                KvChannels(c.client_addresses) as channels:
            await c.wait_for_leader(deadline_s=20)
            kv = KvClient(channels, deadline_s=10)

            async def put(_i: int, seq: int) -> Any:
                return await kv.put("k", str(seq))

            await paced(put, load, seconds, warmup)
    return load


async def uncertainty_load(offset: int, clients: int, seconds: float, warmup: float
                           ) -> tuple[Load, int]:
    """Readers of four hot keys beside writers of them; returns the readers' load and
    the coordinators' count of reads restarted by an uncertain value."""
    load = Load(f"max_offset {offset} ms", 4, clients, {"max_offset_ms": offset})
    keys = [RANGES[j % len(RANGES)].key_in(f"hot{j}") for j in range(4)]
    with tempfile.TemporaryDirectory(prefix="bench-txnkv-") as tmp:
        c = await txnkv_cluster(tmp, {"max_offset_ms": offset})
        try:
            async with TwoPcClient(c.client_addresses, timeout_s=10) as client:
                stop = time.monotonic() + warmup + seconds

                async def writer(j: int) -> None:
                    seq = 0
                    while time.monotonic() < stop:
                        seq += 1
                        try:
                            await client.txn([["w", keys[j], seq]], NODES[j % len(NODES)])
                        except ProtocolError:  # a writer only makes values: go on
                            await asyncio.sleep(0.01)

                async def read(i: int, seq: int) -> Any:
                    return await client.txn([["r", k, None] for k in keys],
                                            NODES[(i + 1) % len(NODES)])

                writers = [asyncio.create_task(writer(j)) for j in range(len(keys))]
                await closed_loop(read, load, seconds, warmup)
                await asyncio.gather(*writers)
            restarts = 0
            for n in c.ids:
                status = await c.status(n)
                if status is not None:
                    restarts += int(status.details.get("txn.uncertain", "0"))
        finally:
            await c.stop()
    return load, restarts


async def run_all(args: argparse.Namespace) -> dict[str, Any]:
    """Every run in turn (a progress bar over them on a terminal's stderr)."""
    s, w, n = args.seconds, args.warmup, args.clients
    loads: dict[str, Load] = {}
    client_counts, commits, range_counts = (1, n), ("parallel", "two-round"), (1, 2, 4)
    runs = len(client_counts) * (len(commits) * len(range_counts) + 1) + len(OFFSETS)
    with progress_bar("txnkv runs", total=runs) as bar:
        for clients in client_counts:
            for commit in commits:
                for ranges in range_counts:
                    key = f"{commit} x{ranges} c{clients}"
                    console.print(f"  {key} ...")
                    loads[key] = await commit_load(commit, ranges, clients, s, w)
                    bar.advance(note=f"{key}: done")
            console.print(f"  raft kv put c{clients} ...")
            loads[f"raft kv put c{clients}"] = await (kv_paced(s, w) if clients == 1
                                                      else kv_load(clients, s, w))
            bar.advance(note=f"raft kv put c{clients}: done")
        uncertain: dict[int, dict[str, Any]] = {}
        for offset in OFFSETS:
            console.print(f"  max_offset {offset} ms ...")
            load, restarts = await uncertainty_load(offset, n, s, w)
            loads[f"offset {offset}"] = load
            uncertain[offset] = {"restarts": restarts,
                                 "per_read": restarts / max(1, load.txns)}
            bar.advance(note=f"max_offset {offset} ms: done")
    return {"loads": {k: asdict(v) for k, v in loads.items()}, "clients": n,
            "uncertainty": uncertain, "argv": args.argv}


def report(res: dict[str, Any], took: float) -> None:
    loads, n = res["loads"], res["clients"]
    table = Table(title="txnkv: parallel commits against the two-round commit "
                        "(blind writes, one fresh key per range)")
    for col in ("ranges / txn", "parallel p50 ms", "p99 ms", f"txn/s at {n}",
                "two-round p50", "two-round p99", f"two-round txn/s at {n}"):
        table.add_column(col, justify="right")
    for r in (1, 2, 4):
        p, t = loads[f"parallel x{r} c1"], loads[f"two-round x{r} c1"]
        pn, tn = loads[f"parallel x{r} c{n}"], loads[f"two-round x{r} c{n}"]
        table.add_row(str(r), f"{p['p50_ms']:.1f}", f"{p['p99_ms']:.1f}",
                      f"{pn['txn_per_s']:.0f}", _ratio(t["p50_ms"], p["p50_ms"]),
                      _ratio(t["p99_ms"], p["p99_ms"]),
                      _ratio(tn["txn_per_s"], pn["txn_per_s"]))
    console.print(table)
    kv1, kvn, p1 = loads["raft kv put c1"], loads[f"raft kv put c{n}"], loads["parallel x1 c1"]
    console.print(f"baseline, same run: a Raft KV put, p50 {kv1['p50_ms']:.1f} ms at 1 "
                  f"client, {kvn['txn_per_s']:.0f}/s at {n}; a 1-range parallel commit's "
                  f"p50 is {_ratio(p1['p50_ms'], kv1['p50_ms'])} of it, its txn/s at {n} "
                  f"{_ratio(loads[f'parallel x1 c{n}']['txn_per_s'], kvn['txn_per_s'])}")
    table = Table(title="txnkv: the uncertainty interval's cost (readers of 4 hot keys "
                        "beside their writers, on every node)")
    for col in ("max_offset ms", "reads/s", "p50 ms", "restarts / read", "reads/s vs 0",
                "p50 vs 0"):
        table.add_column(col, justify="right")
    base = loads["offset 0"]
    for offset in OFFSETS:
        row, u = loads[f"offset {offset}"], res["uncertainty"][offset]
        table.add_row(str(offset), f"{row['txn_per_s']:.0f}", f"{row['p50_ms']:.1f}",
                      f"{u['per_read']:.3f}", _ratio(row["txn_per_s"], base["txn_per_s"]),
                      _ratio(row["p50_ms"], base["p50_ms"]))
    console.print(table)
    errors = {k: v["errors"] for k, v in loads.items() if v["errors"]}
    if errors:
        console.print(f"errors (first few): {errors}")
    console.print(f"took {took:.0f} s; load {res['load_before']:.1f} -> "
                  f"{res['load_after']:.1f} on {res['cores']} cores")


def plot(path: Path, res: dict[str, Any]) -> int:
    """Three panels from the run (``res``): the commit's p50/p99 at 1 client and its
    txn/s at ``clients`` per ranges a transaction, parallel beside two-round, the Raft KV
    put as a line; and the readers' restarts per read per ``max_offset``. The PNG's
    bytes."""
    loads, n = res["loads"], res["clients"]
    fig, (latency, rate, offsets) = _plots.figure(3, 14, 3.8)
    groups = [f"{r} range{'s' if r > 1 else ''}" for r in (1, 2, 4)]

    def of(commit: str, clients: int, key: str) -> list[float]:
        return [loads[f"{commit} x{r} c{clients}"][key] for r in (1, 2, 4)]

    _plots.grouped_bars(latency, groups, {
        "parallel p50": of("parallel", 1, "p50_ms"), "two-round p50": of("two-round", 1,
                                                                         "p50_ms"),
        "parallel p99": of("parallel", 1, "p99_ms"), "two-round p99": of("two-round", 1,
                                                                         "p99_ms")},
        colors=(_plots.BLUE, _plots.RED, _plots.LIGHT_BLUE, _plots.LIGHT_RED), fontsize=7)
    kv1, kvn = loads["raft kv put c1"], loads[f"raft kv put c{n}"]
    latency.axhline(kv1["p50_ms"], color=_plots.GREY, linestyle="--", linewidth=1,
                    label=f"Raft KV put p50 ({kv1['p50_ms']:.1f})")
    latency.set_ylabel("latency, ms", fontsize=9)
    latency.set_title("1 client, a transaction every 50 ms", fontsize=10)
    _plots.grouped_bars(rate, groups, {"parallel": of("parallel", n, "txn_per_s"),
                                       "two-round": of("two-round", n, "txn_per_s")},
                        colors=(_plots.BLUE, _plots.RED), digits=0)
    rate.axhline(kvn["txn_per_s"], color=_plots.GREY, linestyle="--", linewidth=1,
                 label=f"Raft KV put ({kvn['txn_per_s']:,.0f}/s)")
    rate.set_ylabel("transactions / s", fontsize=9)
    rate.set_title(f"{n} clients, closed loop", fontsize=10)
    _plots.grouped_bars(offsets, [f"{o} ms\n{loads[f'offset {o}']['txn_per_s']:,.0f}/s"
                                  for o in OFFSETS],
                        {"restarts / read": [res["uncertainty"][o]["per_read"]
                                             for o in OFFSETS]},
                        colors=(_plots.ORANGE,), digits=2)
    offsets.set_ylabel("uncertainty restarts / read", fontsize=9)
    offsets.set_xlabel("max_offset (reads/s under each)", fontsize=9)
    offsets.set_title(f"readers of 4 hot keys beside writers, {n} clients", fontsize=10)
    latency.legend(fontsize=7, loc="upper left")  # the bars grow to the right
    rate.legend(fontsize=7, loc="upper right")  # and shrink here
    fig.suptitle("txnkv, 3 processes, 4 ranges (Raft groups), fsync on: parallel commits "
                 "against the two-round commit, blind writes of one fresh key per range",
                 fontsize=10)
    return _plots.save(fig, path)


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else "n/a"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0,
                        help="measured seconds per run (default 3)")
    parser.add_argument("--warmup", type=float, default=1.0,
                        help="seconds of each run not counted (default 1)")
    parser.add_argument("--clients", type=int, default=8,
                        help="closed-loop clients (default 8)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    _plots.add_arguments(parser, "txnkv-commits", "the commits and the offsets")
    raw = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(raw)
    args.argv = raw
    t, load_before = time.monotonic(), os.getloadavg()[0]
    res = asyncio.run(run_all(args))
    took = time.monotonic() - t
    res["load_before"], res["load_after"] = load_before, os.getloadavg()[0]
    res["cores"] = os.cpu_count()
    if args.json:
        print(json.dumps(res, indent=2))
    report(res, took)
    png = _plots.target(args)
    if png is not None:
        console.print(_plots.wrote(png, plot(png, res)))
    bad = [k for k, v in res["loads"].items() if v["txns"] == 0]
    if bad:
        console.print(f"[red]no transaction committed in {bad}[/red]")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
