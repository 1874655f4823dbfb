"""``scripts/bench twopc``: two-phase commit on real processes, each figure beside a
baseline measured in the same run.

Every measurement runs on a fresh cluster in a temporary directory: ``LocalCluster("twopc",
nodes=5, direct=True)`` (n1 coordinates, n2-n5 are four shards; peers connected directly,
no fault proxies), driven by ``--clients`` (8) closed-loop clients through one
``TwoPcClient`` channel to n1, for ``--seconds`` each after a ``--warmup`` that is not
counted. Each transaction writes one fresh key on each of its shards (``bank.key_on``),
the shards chosen per client in turn, so no two transactions ever touch the same key: no
lock waits, no conflict aborts; aborts and unknown outcomes are counted anyway.

1. Transactions/s, p50 and p99 with 1, 2 and 4 shards per transaction. One shard skips
   the protocol (one-phase commit: one PREPARE that commits at once) and should cost
   about one KV write; beside it, in the same run: a gRPC unary round trip to n1 (the
   ``Routing`` call, which does no IO) plus one fsync'd append to a
   ``protocols.common.wal.WriteAheadLog`` in a temporary directory (each measured at 1 in
   flight, their p50s summed and compared with the 1-shard transaction at 1 client), and
   a put to this project's Raft KV (3 members, fsync on, direct) at 1 and 8 clients. The
   2- and 4-shard rows are given as ratios to the 1-shard row.
2. 2PC against 3PC (``commit_protocol=3pc``: PRECOMMIT and its acks, one more forced
   write and round) at 2 and 4 shards.
3. Presumed abort against presumed commit at 2 shards, every transaction committing.
4. The forced writes: fsync on against off at 1 and 2 shards.
5. The checkers against the size of the history: ``protocols.check.elle`` on
   strict-serializable list-append + register histories from ``bench_checker``'s
   generator, and ``protocols.check.bank.check_bank`` on a bank history of as many
   transfers (8 accounts, 50 reads of every balance and ledger spread over the run), at
   1k, 10k and 100k transactions.

A plot of (1) and (2), p50 and p99 per shard count, goes to ``--plot`` (default
``docs/img/twopc-latency.png``; ``--no-plot`` for none).

Run: ``scripts/bench twopc [--seconds S] [--clients N] [--sizes N,N] [--json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import _plots  # scripts/ is on sys.path
from bench_checker import make_txn_history
from rich.console import Console
from rich.table import Table

from cluster.runner import LocalCluster
from protocols._pb import twopc_pb2
from protocols.check import History, check_transactions
from protocols.check.bank import check_bank
from protocols.check.history import EventType
from protocols.common.errors import Aborted, ProtocolError, Timeout, Unavailable
from protocols.common.fs import OsFileSystem
from protocols.common.wal import SyncPolicy, WriteAheadLog
from protocols.kv.client import KvChannels, KvClient
from protocols.progress import progress_bar
from protocols.twopc.bank import key_on
from protocols.twopc.client import TwoPcClient
from protocols.twopc.core import TwoPcOptions

console = Console(width=None if sys.stdout.isatty() else 120)  # a log keeps whole rows
NODES = 5  # n1 coordinates, n2-n5 are the shards
SIZES = (1_000, 10_000, 100_000)
BANK_ACCOUNTS = 8
BANK_READS = 50


def has_3pc() -> bool:
    """Whether this tree's 2PC has the 3PC option (``TwoPcOptions.commit_protocol``)."""
    return any(f.name == "commit_protocol" for f in dataclasses.fields(TwoPcOptions))


# ----------------------------------------------------------------------------- measuring
def p50_p99(latencies: Sequence[float]) -> tuple[float, float]:
    """p50 and p99 in ms (``statistics.quantiles``, inclusive: within the samples)."""
    if not latencies:
        return float("nan"), float("nan")
    if len(latencies) == 1:
        return latencies[0] * 1000, latencies[0] * 1000
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return cuts[49] * 1000, cuts[98] * 1000


@dataclass
class Load:
    """One closed-loop run: what was measured after the warm-up."""

    label: str
    shards: int
    clients: int
    options: dict[str, Any]
    txns: int = 0  # committed in the window
    txn_per_s: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    aborts: int = 0
    unknown: int = 0  # Unavailable / Timeout: the outcome is not known
    errors: list[str] = field(default_factory=list)  # anything else, first few


async def closed_loop(op: Callable[[int, int], Awaitable[Any]], load: Load, seconds: float,
                      warmup: float) -> Load:
    """``load.clients`` workers each run ``op(client, seq)`` back to back for ``warmup +
    seconds``; operations started in the warm-up are not counted."""
    start = time.monotonic()
    counted_from, end = start + warmup, start + warmup + seconds
    latencies: list[float] = []

    async def worker(i: int) -> None:
        seq = 0
        while (now := time.monotonic()) < end:
            seq += 1
            counted = now >= counted_from
            t = time.perf_counter()
            try:
                await op(i, seq)
            except Aborted:
                load.aborts += counted
                continue
            except (Unavailable, Timeout) as e:
                load.unknown += counted
                if counted and len(load.errors) < 3:
                    load.errors.append(f"{type(e).__name__}: {e}")
                continue
            except ProtocolError as e:
                if counted and len(load.errors) < 5:
                    load.errors.append(f"{type(e).__name__}: {e}")
                continue
            if counted:
                latencies.append(time.perf_counter() - t)

    await asyncio.gather(*(worker(i) for i in range(load.clients)))
    elapsed = time.monotonic() - counted_from
    load.txns = len(latencies)
    load.txn_per_s = len(latencies) / elapsed
    load.p50_ms, load.p99_ms = p50_p99(latencies)
    load.max_ms = max(latencies, default=0.0) * 1000
    return load


def twopc_options(fsync: bool = True, presume: str = "abort", protocol: str = "2pc"
                  ) -> dict[str, Any]:
    options: dict[str, Any] = {"fsync": fsync, "presume": presume}
    if protocol != "2pc":
        options["commit_protocol"] = protocol
    return options


async def twopc_load(label: str, shards: int, clients: int, options: dict[str, Any],
                     seconds: float, warmup: float, baseline: dict[str, float] | None = None
                     ) -> Load:
    """Transactions of one write on each of ``shards`` shards, on a fresh cluster; with
    ``baseline``, also the floor under a 1-shard transaction, measured on that cluster."""
    load = Load(label, shards, clients, options)
    with tempfile.TemporaryDirectory(prefix="bench-twopc-") as tmp:
        async with LocalCluster("twopc", nodes=NODES, data_dir=Path(tmp) / "c",
                                options=options, direct=True) as c, \
                TwoPcClient(c.client_addresses) as client:
            routing = await client.routing()
            parts = routing.participants
            order = sorted(parts)
            coordinator = routing.coordinators[0]

            async def txn(i: int, seq: int) -> Any:
                ops = [["w", key_on(f"c{i}.{seq}.{j}", order[(i + j) % len(order)], parts),
                        seq] for j in range(shards)]
                return await client.txn(ops, coordinator)

            await closed_loop(txn, load, seconds, warmup)
            if load.txns == 0:  # say why: the end of each node's log
                for n in c.ids:
                    tail = (c.dir / f"{n}.log").read_text(errors="replace").splitlines()[-3:]
                    load.errors.append(f"{n}.log: " + " | ".join(tail))
            if baseline is not None:
                baseline.update(await floor(client, coordinator, Path(tmp), seconds, warmup))
    return load


async def floor(client: TwoPcClient, node: str, tmp: Path, seconds: float, warmup: float
                ) -> dict[str, float]:
    """A unary round trip to ``node`` that does no IO (``Routing``) at 1 and at 8 in
    flight, and an fsync'd append of a 100-byte record to a WriteAheadLog in ``tmp``."""
    stub = client.stub(node)
    request = twopc_pb2.RoutingRequest()

    async def call(_i: int, _seq: int) -> Any:
        return await stub.Routing(request, timeout=10)

    one = await closed_loop(call, Load("unary", 0, 1, {}), seconds / 2, warmup / 2)
    many = await closed_loop(call, Load("unary", 0, 8, {}), seconds / 2, warmup / 2)
    wal, _ = WriteAheadLog.open(OsFileSystem(), str(tmp / "probe.wal"),
                                sync=SyncPolicy.ALWAYS)
    record, samples = b"x" * 100, []
    try:
        for _ in range(20):  # warm-up
            wal.append([record])
        end = time.monotonic() + seconds / 2
        while time.monotonic() < end:
            t = time.perf_counter()
            wal.append([record])
            samples.append(time.perf_counter() - t)
    finally:
        wal.close()
    wal_p50, wal_p99 = p50_p99(samples)
    return {"unary_p50_ms": one.p50_ms, "unary_p99_ms": one.p99_ms,
            "unary8_per_s": many.txn_per_s, "unary8_p50_ms": many.p50_ms,
            "wal_append_p50_ms": wal_p50, "wal_append_p99_ms": wal_p99,
            "wal_appends": float(len(samples)),
            "unary_plus_wal_p50_ms": one.p50_ms + wal_p50}


async def kv_load(clients: int, seconds: float, warmup: float) -> Load:
    """Puts to the Raft KV (3 members, fsync on, direct), ``clients`` sessions, one key
    each: "one KV write"."""
    load = Load("raft kv put", 0, clients, {})
    with tempfile.TemporaryDirectory(prefix="bench-twopc-kv-") as tmp:
        async with LocalCluster("raft", 3, data_dir=Path(tmp) / "c", direct=True) as c, \
                KvChannels(c.client_addresses) as channels:
            await c.wait_for_leader(deadline_s=20)
            kvs = [KvClient(channels, deadline_s=10) for _ in range(clients)]

            async def put(i: int, seq: int) -> Any:
                return await kvs[i].put(f"k{i}", str(seq))

            await closed_loop(put, load, seconds, warmup)
    return load


# ----------------------------------------------------------------------------- checkers
def make_bank_history(transfers: int, clients: int, seed: int) -> tuple[History, dict[str, int]]:
    """A valid bank history: ``transfers`` transfers between ``BANK_ACCOUNTS`` accounts
    from ``clients`` clients, each atomic at a random point inside its interval (a
    transfer the source cannot cover fails; 1% end ``info``, half of those applied), and
    ``BANK_READS`` reads of every balance and ledger spread over the run."""
    rng = random.Random(seed)
    accounts = [f"a{i}" for i in range(BANK_ACCOUNTS)]
    initial = {a: 100 for a in accounts}
    every = max(1, transfers // BANK_READS)
    clock = [0.0] * clients
    plans: list[tuple[float, int, int, float, float, dict[str, Any] | None]] = []
    for i in range(transfers + transfers // every):
        c = i % clients
        call = clock[c] + rng.uniform(0, 0.5)
        lin = call + rng.uniform(0, 2)
        ret = lin + rng.uniform(0, 2)
        clock[c] = ret
        if i % (every + 1) == every:
            plans.append((lin, i, c, call, ret, None))  # a read
        else:
            source, target = rng.sample(accounts, 2)
            plans.append((lin, i, c, call, ret, {"id": i, "from": source, "to": target,
                                                  "amount": rng.randint(1, 20)}))
    balance = dict(initial)
    ledger: dict[str, list[int]] = {a: [] for a in accounts}
    outcome: dict[int, tuple[EventType, Any]] = {}
    for _lin, i, _c, _call, _ret, v in sorted(plans, key=lambda p: (p[0], p[1])):
        if v is None:
            outcome[i] = ("ok", {a: {"balance": balance[a], "applied": list(ledger[a])}
                                 for a in accounts})
            continue
        status: EventType = "info" if rng.random() < 0.01 else "ok"
        if balance[v["from"]] < v["amount"]:
            outcome[i] = ("fail", None)
            continue
        if status == "ok" or rng.random() < 0.5:
            balance[v["from"]] -= v["amount"]
            balance[v["to"]] += v["amount"]
            ledger[v["from"]].append(i)
            ledger[v["to"]].append(i)
        outcome[i] = (status, None)
    moments = sorted([(p[3], 0, p) for p in plans] + [(p[4], 1, p) for p in plans],
                     key=lambda m: (m[0], m[1]))
    h = History()
    open_inv = {}
    for t, done, (_lin, i, c, _call, _ret, v) in moments:
        if not done:
            open_inv[i] = h.invoke(c, "read" if v is None else "transfer", None, v, t)
        else:
            status, value = outcome[i]
            h.complete(open_inv.pop(i), status, value, t)
    return h, initial


@dataclass
class CheckSpeed:
    txns: int
    elle_events: int
    elle_s: float
    elle_us_per_txn: float
    elle_valid: bool
    bank_reads: int
    bank_s: float
    bank_us_per_txn: float
    bank_valid: bool


def checker_speed(sizes: Sequence[int], clients: int, seed: int) -> list[CheckSpeed]:
    out = []
    for n in sizes:
        history = make_txn_history(n, clients, seed)
        t = time.perf_counter()
        elle = check_transactions(history, level="strict-serializable")
        elle_s = time.perf_counter() - t
        bank_history, initial = make_bank_history(n, clients, seed)
        t = time.perf_counter()
        bank = check_bank(bank_history, initial)
        bank_s = time.perf_counter() - t
        out.append(CheckSpeed(n, len(history.events), elle_s, elle_s / n * 1e6, elle.valid,
                              bank.reads, bank_s, bank_s / n * 1e6, bank.valid))
    return out


# ----------------------------------------------------------------------------- the run
async def run_all(args: argparse.Namespace) -> dict[str, Any]:
    """Every run in turn (a progress bar over them on a terminal's stderr)."""
    s, w, n = args.seconds, args.warmup, args.clients
    on = twopc_options()
    loads: dict[str, Load] = {}
    baseline: dict[str, float] = {}
    checks: list[CheckSpeed] = []
    steps: list[tuple[str, Callable[[], Awaitable[None]]]] = []  # planned, then run

    def measure(key: str, shards: int, clients: int, options: dict[str, Any],
                base: dict[str, float] | None = None) -> None:
        async def step() -> None:
            console.print(f"  {key} ...")
            loads[key] = await twopc_load(key, shards, clients, options, s, w, base)
        steps.append((key, step))

    def kv(key: str, clients: int, say: bool) -> None:
        async def step() -> None:
            if say:
                console.print("  raft kv put ...")
            loads[key] = await kv_load(clients, s, w)
        steps.append((key, step))

    async def checkers() -> None:
        console.print("  checkers ...")
        checks.extend(checker_speed(args.sizes, 10, args.seed))

    measure("1 shard", 1, n, on)
    measure("2 shards", 2, n, on)
    measure("4 shards", 4, n, on)
    measure("1 shard, 1 client", 1, 1, on, baseline)
    measure("2 shards, 1 client", 2, 1, on)
    measure("4 shards, 1 client", 4, 1, on)
    kv("kv put", n, say=True)
    kv("kv put, 1 client", 1, say=False)
    three = has_3pc()
    if three:
        for k in (2, 4):
            measure(f"3pc {k} shards", k, n, twopc_options(protocol="3pc"))
            measure(f"3pc {k} shards, 1 client", k, 1, twopc_options(protocol="3pc"))
    measure("presumed commit 2 shards", 2, n, twopc_options(presume="commit"))
    measure("presumed commit 2 shards, 1 client", 2, 1, twopc_options(presume="commit"))
    measure("fsync off 1 shard", 1, n, twopc_options(fsync=False))
    measure("fsync off 2 shards", 2, n, twopc_options(fsync=False))
    steps.append(("checkers", checkers))
    with progress_bar("twopc runs", total=len(steps)) as bar:
        for key, step in steps:
            await step()
            bar.advance(note=f"{key}: done")
    return {"loads": {k: asdict(v) for k, v in loads.items()}, "baseline": baseline,
            "three_pc": three, "checkers": [asdict(c) for c in checks]}


# ----------------------------------------------------------------------------- report
def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else ""


def _load_table(title: str, rows: Sequence[tuple[str, dict[str, Any], dict[str, Any] | None]],
                base_name: str, caption: str | None = None) -> Table:
    t = Table(title=title, caption=caption)
    for col in ("run", "clients", "txn/s", "p50 ms", "p99 ms", "max ms", "aborts",
                "unknown", f"txn/s / {base_name}", f"p50 / {base_name}"):
        t.add_column(col, justify="left" if col == "run" else "right", no_wrap=col == "run")
    for name, r, base in rows:
        t.add_row(name, str(r["clients"]), f"{r['txn_per_s']:,.0f}", f"{r['p50_ms']:.2f}",
                  f"{r['p99_ms']:.2f}", f"{r['max_ms']:.1f}", str(r["aborts"]),
                  str(r["unknown"]),
                  _ratio(r["txn_per_s"], base["txn_per_s"]) if base else "",
                  _ratio(r["p50_ms"], base["p50_ms"]) if base else "")
    return t


def report(res: dict[str, Any], args: argparse.Namespace, took_s: float) -> None:
    loads, base = res["loads"], res["baseline"]
    one, single = loads["1 shard"], loads["1 shard, 1 client"]
    console.print(_load_table(
        f"2PC, {NODES} nodes (n1 coordinates, 4 shards), fsync on, presumed abort: "
        "one write per shard",
        [("1 shard (one-phase)", one, one), ("2 shards", loads["2 shards"], one),
         ("4 shards", loads["4 shards"], one),
         ("raft kv put (3 members)", loads["kv put"], one),
         ("1 shard (one-phase)", single, single),
         ("2 shards", loads["2 shards, 1 client"], single),
         ("4 shards", loads["4 shards, 1 client"], single),
         ("raft kv put (3 members)", loads["kv put, 1 client"], single)],
        "1 shard", caption="ratios against the 1-shard row with as many clients"))
    t = Table(title="1-shard transaction at 1 client against its floor, same run")
    for col in ("measure", "p50 ms", "p99 ms", "txn p50 / this"):
        t.add_column(col, justify="left" if col == "measure" else "right", no_wrap=True)
    t.add_row("1-shard txn, 1 client", f"{single['p50_ms']:.2f}", f"{single['p99_ms']:.2f}",
              "1.00x")
    t.add_row("unary gRPC round trip to n1 (Routing)", f"{base['unary_p50_ms']:.2f}",
              f"{base['unary_p99_ms']:.2f}", _ratio(single["p50_ms"], base["unary_p50_ms"]))
    t.add_row("WriteAheadLog append + fsync (100 B)", f"{base['wal_append_p50_ms']:.2f}",
              f"{base['wal_append_p99_ms']:.2f}",
              _ratio(single["p50_ms"], base["wal_append_p50_ms"]))
    t.add_row("unary + WAL append (sum of p50s)", f"{base['unary_plus_wal_p50_ms']:.2f}", "",
              _ratio(single["p50_ms"], base["unary_plus_wal_p50_ms"]))
    kv1 = loads["kv put, 1 client"]
    t.add_row("raft kv put, 1 client (3 members)", f"{kv1['p50_ms']:.2f}",
              f"{kv1['p99_ms']:.2f}", _ratio(single["p50_ms"], kv1["p50_ms"]))
    console.print(t)
    console.print(f"unary round trip at 8 in flight, same cluster: "
                  f"{base['unary8_per_s']:,.0f}/s, p50 {base['unary8_p50_ms']:.2f} ms")
    if res["three_pc"]:
        rows = []
        for k in (2, 4):
            for tail in ("", ", 1 client"):
                two = loads[f"{k} shards{tail}"]
                rows += [(f"2pc {k} shards", two, two),
                         (f"3pc {k} shards", loads[f"3pc {k} shards{tail}"], two)]
        console.print(_load_table("2PC vs 3PC (fsync on, presumed abort)", rows, "2pc",
                                  caption="3PC: PRECOMMIT, its forced record and its acks "
                                          "before COMMIT"))
    else:
        console.print("[yellow]3PC: TwoPcOptions has no commit_protocol in this tree; not "
                      "measured[/yellow]")
    two, two1 = loads["2 shards"], loads["2 shards, 1 client"]
    console.print(_load_table(
        "Presumed abort vs presumed commit, 2 shards, every transaction commits",
        [("presumed abort", two, two),
         ("presumed commit", loads["presumed commit 2 shards"], two),
         ("presumed abort", two1, two1),
         ("presumed commit", loads["presumed commit 2 shards, 1 client"], two1)], "abort",
        caption="presumed commit: COLLECTING forced before PREPARE; commits not "
                "acknowledged, END in the decision's write"))
    console.print(_load_table(
        "The forced writes: fsync on vs off",
        [("1 shard, fsync on", one, one),
         ("1 shard, fsync off", loads["fsync off 1 shard"], one),
         ("2 shards, fsync on", two, two),
         ("2 shards, fsync off", loads["fsync off 2 shards"], two)], "on"))
    t = Table(title="Checkers against the size of the history",
              caption="elle: bench_checker's list-append + register history, 1-4 micro-ops "
                      "a txn, strict-serializable; bank: transfers among 8 accounts, 50 "
                      "reads of every balance and ledger")
    for col in ("txns", "elle s", "elle us/txn", "elle valid", "bank s", "bank us/txn",
                "bank valid", "elle us/txn / 1k's"):
        t.add_column(col, justify="right")
    first = res["checkers"][0]
    for c in res["checkers"]:
        t.add_row(f"{c['txns']:,}", f"{c['elle_s']:.3f}", f"{c['elle_us_per_txn']:.1f}",
                  str(c["elle_valid"]), f"{c['bank_s']:.3f}", f"{c['bank_us_per_txn']:.1f}",
                  str(c["bank_valid"]),
                  _ratio(c["elle_us_per_txn"], first["elle_us_per_txn"]))
    console.print(t)
    errors = {k: v["errors"] for k, v in loads.items() if v["errors"]}
    for k, v in errors.items():
        console.print(f"[red]{k}: {'; '.join(v)}[/red]")
    console.print(f"machine: {os.cpu_count()} cores, {NODES} node processes and the "
                  f"clients share them; load average (1 min) {res['load_before']:.1f} at "
                  f"the start, {res['load_after']:.1f} at the end; run took {took_s:.0f} s")
    console.print("command: scripts/bench twopc " + " ".join(args.argv))


def plot(path: Path, loads: dict[str, dict[str, Any]], clients: int) -> int:
    """p50 and p99 per shard count (2PC, and 3PC where measured) beside the Raft KV put,
    at ``clients`` and at 1 client, txn/s under each label (``loads``: the run's loads by
    key); the PNG's bytes."""
    runs = [("1 shard", "1 shard\n(one-phase)"), ("2 shards", "2 shards"),
            ("4 shards", "4 shards"), ("3pc 2 shards", "3PC\n2 shards"),
            ("3pc 4 shards", "3PC\n4 shards"), ("kv put", "Raft KV\nput")]
    fig, axes = _plots.figure(2, 12, 3.8)
    for ax, tail, title in ((axes[0], "", f"{clients} clients, closed loop"),
                            (axes[1], ", 1 client", "1 client")):
        shown = [(loads[key + tail], label) for key, label in runs if key + tail in loads]
        _plots.grouped_bars(ax, [f"{label}\n{r['txn_per_s']:,.0f}/s" for r, label in shown],
                            {p: [r[f"{p}_ms"] for r, _ in shown] for p in ("p50", "p99")},
                            colors=(_plots.BLUE, _plots.RED))
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("latency, ms", fontsize=9)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"2PC on {NODES} processes (n1 coordinates), fsync on, presumed abort, one "
                 "fresh key per shard; the Raft KV (3 members) beside it", fontsize=10)
    return _plots.save(fig, path)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="measured seconds per run (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0,
                        help="seconds of each run not counted (default 1)")
    parser.add_argument("--clients", type=int, default=8,
                        help="closed-loop clients (default 8)")
    parser.add_argument("--sizes", type=lambda v: [int(x) for x in v.split(",")],
                        default=list(SIZES), help="checker history sizes (default "
                        "1000,10000,100000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    _plots.add_arguments(parser, "twopc-latency", "p50/p99 per shard count")
    raw = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(raw)
    args.argv = raw
    t, load_before = time.monotonic(), os.getloadavg()[0]
    res = asyncio.run(run_all(args))
    took = time.monotonic() - t
    res["load_before"], res["load_after"] = load_before, os.getloadavg()[0]
    res["seconds_taken"] = took
    res["cores"] = os.cpu_count()
    if args.json:
        print(json.dumps(res, indent=2))
    report(res, args, took)
    png = _plots.target(args)
    if png is not None:
        console.print(_plots.wrote(png, plot(png, res["loads"], args.clients)))
    bad = [k for k, v in res["loads"].items() if v["txns"] == 0]
    invalid = [c["txns"] for c in res["checkers"] if not (c["elle_valid"] and c["bank_valid"])]
    if bad or invalid:
        console.print(f"[red]no transaction committed in {bad}; checker said invalid at "
                      f"{invalid}[/red]")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
