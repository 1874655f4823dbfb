"""Many cores per process (run via ``scripts/bench groups``): what idle Raft groups cost.

Three node processes host 1, then ``--groups`` Raft groups (the cluster's own group
plus the rest from the cluster file's ``groups``: every process a member of every
group). Once every group has a leader, the processes' CPU time (user + system, from
/proc) is measured over ``--seconds`` of idleness: only ticks and heartbeats. The figure
is the ratio of the many-group run to the one-group run, measured in the same run; the
target (issue #32) is under 10x for 100 groups. What makes it hold: one ticker for all
of a process's cores, and the frames every core sends one peer process in one loop turn
coalesced into one write (CockroachDB's coalesced heartbeats; runtime/transport.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from cluster.runner import LocalCluster
from protocols.common.fs import OsFileSystem
from protocols.common.wal import WriteAheadLog

console = Console()
TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (its threads included: gRPC's too)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S


async def all_led(c: LocalCluster, groups: int) -> bool:
    """Every group has exactly one node that says it leads."""
    statuses = await c.statuses()
    leaders: dict[str, int] = {}
    for st in statuses.values():
        if st is None:
            return False
        if st.leading:
            leaders[""] = leaders.get("", 0) + 1
        for g in st.groups:
            if g.leading:
                leaders[g.group] = leaders.get(g.group, 0) + 1
    return len(leaders) == groups and all(v == 1 for v in leaders.values())


async def measure(groups: int, seconds: float, settle_s: float) -> dict[str, Any]:
    extra = {f"r{i}": {"protocol": "raft"} for i in range(1, groups)}
    with tempfile.TemporaryDirectory() as tmp:
        async with LocalCluster("raft", 3, data_dir=tmp, direct=True,
                                groups=extra, start_deadline_s=120) as c:
            deadline = time.monotonic() + 120
            while not await all_led(c, groups):
                if time.monotonic() > deadline:
                    raise SystemExit(f"{groups} groups: not every group elected a leader")
                await asyncio.sleep(0.5)
            await asyncio.sleep(settle_s)  # elections' aftermath (catch-up) is done
            pids = [c.node(n).pid for n in c.ids]
            before = [cpu_seconds(p) for p in pids]
            started = time.monotonic()
            await asyncio.sleep(seconds)
            elapsed = time.monotonic() - started
            used = [cpu_seconds(p) - b for p, b in zip(pids, before, strict=True)]
    return {"groups": groups, "cpu_s": sum(used), "elapsed_s": elapsed,
            "cpu_pct_per_process": [round(100 * u / elapsed, 1) for u in used]}


def wal_choice(groups: int, rounds: int, record: bytes) -> dict[str, float]:
    """One WAL directory per group (what the host does) against one WAL shared by every
    group (CockroachDB's one engine per store): the time to make one record of each of
    ``groups`` groups durable, all groups writing at once (the worst case for separate
    WALs: one fsync each, where a shared WAL commits them in one)."""
    fs = OsFileSystem()
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(groups):
            fs.makedirs(f"{tmp}/g{i}")
        fs.makedirs(f"{tmp}/shared")
        own = [WriteAheadLog.open(fs, f"{tmp}/g{i}/log")[0] for i in range(groups)]
        shared, _ = WriteAheadLog.open(fs, f"{tmp}/shared/log")
        started = time.perf_counter()
        for _ in range(rounds):
            for wal in own:
                wal.append([record])
        per_group = (time.perf_counter() - started) / rounds
        started = time.perf_counter()
        for _ in range(rounds):
            shared.append([record] * groups)  # each record would carry its group's id
        one = (time.perf_counter() - started) / rounds
        for wal in [*own, shared]:
            wal.close()
    return {"per_group_ms": per_group * 1000, "shared_ms": one * 1000}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--groups", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--settle", type=float, default=3.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    one = await measure(1, args.seconds, args.settle)
    many = await measure(args.groups, args.seconds, args.settle)
    ratio = many["cpu_s"] / one["cpu_s"] if one["cpu_s"] else float("inf")
    if args.json:
        print(json.dumps({"one": one, "many": many, "ratio": ratio}))
        return
    table = Table(title="idle Raft groups on 3 processes: CPU over "
                        f"{args.seconds:.0f} s (user + system, all threads)")
    for col in ("groups", "CPU s (3 processes)", "CPU % per process", "vs 1 group"):
        table.add_column(col, justify="right")
    for run in (one, many):
        table.add_row(str(run["groups"]), f"{run['cpu_s']:.2f}",
                      " / ".join(map(str, run["cpu_pct_per_process"])),
                      f"{run['cpu_s'] / one['cpu_s']:.1f}x")
    console.print(table)
    console.print(f"{args.groups} groups cost {ratio:.1f}x one group's CPU "
                  f"(target: under 10x)")
    for n in (1, 10, args.groups):
        w = wal_choice(n, 20, b"x" * 100)
        console.print(f"one durable write in each of {n} groups at once: a WAL per group "
                      f"{w['per_group_ms']:.2f} ms, one shared WAL {w['shared_ms']:.2f} ms "
                      f"({w['per_group_ms'] / w['shared_ms']:.1f}x)")


if __name__ == "__main__":
    asyncio.run(main())
