"""scripts/bench swim: SWIM's cost and speed, and ours beside the PyPI ``swim-protocol``.

1. **Scaling, in the simulator** (``protocols.swim.sim``): at N = 16, 64, 256 and 1 000,
   messages and bytes each member sends per protocol period in a quiet group (flat in N
   is SWIM's claim), then how many periods an update and a join take to reach everyone
   (as c in c*log2 N), how long until a killed member is first suspected and until every
   member holds it dead, and the simulator's own speed in events per second.
2. **Against swim-protocol, on real processes** (3 and 16 members, no proxies: it speaks
   UDP directly): kill -9 one member, and time, for each survivor, how long until it
   reports the victim suspect and dead. Both run the same probe interval and timeouts
   ("equal settings"); ours also runs with shorter timeouts, kept only if the quiet
   group shows the same false-positive count (none) before the kill. swim-protocol is
   installed into its own virtualenv by ``bench_swim_baseline.ensure_swim_protocol``.

Every figure of ours is reported beside swim-protocol's from the same run, as a ratio.
A plot of (1) against N goes to ``--plot`` (default ``docs/img/swim-scaling.png``;
``--no-plot`` for none).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import _plots  # scripts/ is on sys.path
from bench_swim_baseline import measure_swim_protocol
from rich.console import Console
from rich.table import Table

from cluster.runner import LocalCluster
from protocols.progress import Bar, progress_bar
from protocols.swim.client import MembershipClient
from protocols.swim.messages import State
from protocols.swim.options import SwimOptions
from protocols.swim.sim import (
    detect_failure,
    disseminate_join,
    disseminate_update,
    swim_world,
)

console = Console(stderr=True, width=150)

# swim-protocol's defaults, and ours set to match them (its suspect_timeout is 5 s; ours
# is suspicion_mult * max(1, log10 N) periods: 4 s at 3 members, 4.8 s at 16)
THEIRS = {"ping_interval": 1.0, "ping_timeout": 0.3, "ping_req_count": 1,
          "ping_req_timeout": 0.9, "suspect_timeout": 5.0}
EQUAL = {"probe_interval_ms": 1000, "probe_timeout_ms": 300, "indirect_checks": 1,
         "suspicion_mult": 4}
FAST = {"probe_interval_ms": 500, "probe_timeout_ms": 200, "indirect_checks": 3,
        "suspicion_mult": 2}


# ====================================================================== 1. the simulator
ANTI_ENTROPY = ("DigestSyn", "DigestAck2")  # (DigestAck is its reply: not counted)


def scaling(n: int, seed: int, window: int = 60) -> dict[str, Any]:
    """Requests each member sends per period (replies mirror them), split into probing
    with its piggybacked gossip (flat in N) and anti-entropy (O(N) each, rarer past 32
    members), over ``window`` periods of a quiet group; then spread and detection."""
    period = SwimOptions().probe_interval_ms
    w = swim_world(n, seed, tick_ms=50 if n <= 64 else 100)
    w.run_for(5000)
    count0, bytes0 = dict(w.rpc_count), dict(w.rpc_bytes)
    events0, wall0 = w.events, time.perf_counter()
    w.run_for(window * period)
    wall = time.perf_counter() - wall0

    def per_member(now: dict[str, int], before: dict[str, int], kinds: Any) -> float:
        return sum(now.get(k, 0) - before.get(k, 0) for k in kinds) / n / window

    probing = [k for k in w.rpc_count if k not in ANTI_ENTROPY]
    row: dict[str, Any] = {
        "n": n,
        "probe_requests_per_member_period": per_member(w.rpc_count, count0, probing),
        "probe_bytes_per_member_period": per_member(w.rpc_bytes, bytes0, probing),
        "anti_entropy_requests_per_member_period": per_member(w.rpc_count, count0,
                                                              ANTI_ENTROPY),
        "anti_entropy_bytes_per_member_period": per_member(w.rpc_bytes, bytes0,
                                                           ANTI_ENTROPY),
        "events_per_s": (w.events - events0) / wall,
    }
    log_n = math.log2(n)
    row["update_c"] = disseminate_update(w, "n3") / period / log_n
    row["join_c"] = disseminate_join(w, "n4") / period / log_n
    d = detect_failure(w, "n5")
    row["first_suspicion_periods"] = d.first_suspicion_ms / period
    row["all_dead_periods"] = d.all_dead_ms / period
    return row


# ====================================================================== 2. real processes
async def ours(nodes: int, runs: int, options: dict[str, Any], bar: Bar,
               settle_s: float = 10.0) -> dict[str, Any]:
    """kill -9 the last member; per survivor, seconds until it reports it suspect, dead."""
    per_run = []
    for run in range(runs):
        with tempfile.TemporaryDirectory(prefix="bench-swim-") as d:
            async with LocalCluster("swim", nodes, data_dir=Path(d), direct=True,
                                    tick_ms=20, options=options) as c, \
                    MembershipClient(c.client_addresses) as client:
                ids = [str(n) for n in c.ids]
                await _converged(client, ids, 60)
                quiet = await _suspicions(c)
                await asyncio.sleep(settle_s)  # a quiet group: any suspicion is false
                false_positives = await _suspicions(c) - quiet
                victim, survivors = ids[-1], ids[:-1]
                killed = time.monotonic()
                await c.nemesis.kill(victim)
                suspect, dead = await _watch(client, survivors, victim, killed, 120)
                per_run.append({"suspect": suspect, "dead": dead,
                                "false_positives": false_positives})
                console.print(f"  ours n={nodes} run {run + 1}: suspect median "
                              f"{statistics.median(suspect.values()):.2f}s, dead median "
                              f"{statistics.median(dead.values()):.2f}s, false positives "
                              f"{false_positives}")
                bar.advance(note=f"ours n={nodes} run {run + 1}")
    return _summary(per_run)


async def _converged(client: MembershipClient, ids: list[str], deadline_s: float) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        views = await client.views(ids)
        if all(v is not None and all(v.state(m) == State.ALIVE for m in ids)
               for v in views.values()):
            return
        await asyncio.sleep(0.1)
    raise RuntimeError(f"the {len(ids)} members did not converge within {deadline_s}s")


async def _suspicions(c: LocalCluster) -> int:
    return sum(int(st.details["suspicions"]) for st in (await c.statuses()).values()
               if st is not None)


async def _watch(client: MembershipClient, survivors: list[str], victim: str, since: float,
                 deadline_s: float) -> tuple[dict[str, float], dict[str, float]]:
    """Poll every survivor's view (concurrently, every 20 ms) until all hold it dead."""
    suspect: dict[str, float] = {}
    dead: dict[str, float] = {}
    while len(dead) < len(survivors):
        if time.monotonic() - since > deadline_s:
            raise RuntimeError(f"{victim} not dead everywhere within {deadline_s}s")
        views = await asyncio.gather(*(client.view(n) for n in survivors))
        now = time.monotonic() - since
        for n, v in zip(survivors, views, strict=True):
            state = v.state(victim)
            if state in (State.SUSPECT, State.DEAD):
                suspect.setdefault(n, now)
            if state == State.DEAD:
                dead.setdefault(n, now)
        await asyncio.sleep(0.02)
    return suspect, dead


def _summary(per_run: list[dict[str, Any]]) -> dict[str, Any]:
    med = statistics.median
    return {"suspect_median_s": med(med(r["suspect"].values()) for r in per_run),
            "suspect_max_s": med(max(r["suspect"].values()) for r in per_run),
            "dead_median_s": med(med(r["dead"].values()) for r in per_run),
            "dead_max_s": med(max(r["dead"].values()) for r in per_run),
            "false_positives": sum(r["false_positives"] for r in per_run)}


# ====================================================================== report
def scaling_table(rows: list[dict[str, Any]]) -> Table:
    t = Table(title="SWIM in the simulator (a quiet group for 60 periods, then one update, "
                    "one join, one kill; default options)")
    for col in ("N", "probe requests/member/period", "probe+gossip bytes/member/period",
                "anti-entropy bytes/member/period", "update c", "join c", "first suspicion",
                "dead everywhere", "sim events/s"):
        t.add_column(col, justify="right")
    for r in rows:
        t.add_row(str(r["n"]), f"{r['probe_requests_per_member_period']:.2f}",
                  f"{r['probe_bytes_per_member_period']:.0f}",
                  f"{r['anti_entropy_bytes_per_member_period']:.0f}",
                  f"{r['update_c']:.2f}", f"{r['join_c']:.2f}",
                  f"{r['first_suspicion_periods']:.1f} periods",
                  f"{r['all_dead_periods']:.1f} periods", f"{r['events_per_s']:,.0f}")
    return t


def versus_table(results: dict[str, Any]) -> Table:
    t = Table(title="kill -9 of one member: seconds until survivors report it "
                    "(median over runs of the median / max over survivors)")
    for col in ("members", "implementation", "suspect median", "suspect max", "dead median",
                "dead max", "false positives before", "ratio (suspect, dead medians)"):
        t.add_column(col, justify="right")
    for n, r in results.items():
        base = r["swim-protocol"]
        for name, fig in r.items():
            ratio = "" if name == "swim-protocol" else (
                f"{fig['suspect_median_s'] / base['suspect_median_s']:.2f}x, "
                f"{fig['dead_median_s'] / base['dead_median_s']:.2f}x")
            t.add_row(str(n), name, f"{fig['suspect_median_s']:.2f}",
                      f"{fig['suspect_max_s']:.2f}", f"{fig['dead_median_s']:.2f}",
                      f"{fig['dead_max_s']:.2f}", str(fig["false_positives"]), ratio)
    return t


# ====================================================================== plot
def plot(path: Path, rows: list[dict[str, Any]]) -> int:
    """From the simulator's rows (``scaling``), against N: periods until a change is
    known everywhere (spread, suspicion, death), requests and bytes each member sends per
    period. The PNG's bytes."""
    fig, (times, msgs, size) = _plots.figure(3, 13, 3.6)
    ns = [r["n"] for r in rows]
    log_n = [math.log2(n) for n in ns]
    for label, ys, color in (
            ("first suspicion", [r["first_suspicion_periods"] for r in rows], _plots.ORANGE),
            ("dead in every view", [r["all_dead_periods"] for r in rows], _plots.RED),
            ("update everywhere", [r["update_c"] * x for r, x in zip(rows, log_n,
                                                                    strict=True)],
             _plots.BLUE),
            ("join everywhere", [r["join_c"] * x for r, x in zip(rows, log_n, strict=True)],
             _plots.GREEN)):
        times.plot(ns, ys, marker="o", markersize=4, color=color, label=label)
    times.set_ylabel("protocol periods after the event", fontsize=9)
    times.set_title("detection and spread", fontsize=10)
    for ax, key, label, color in (
            (msgs, "probe_requests_per_member_period", "probes (ping, ping-req)", _plots.BLUE),
            (msgs, "anti_entropy_requests_per_member_period", "anti-entropy", _plots.PURPLE),
            (size, "probe_bytes_per_member_period", "probes + piggybacked gossip",
             _plots.BLUE),
            (size, "anti_entropy_bytes_per_member_period", "anti-entropy", _plots.PURPLE)):
        ax.plot(ns, [r.get(key, float("nan")) for r in rows], marker="o", markersize=4,
                color=color, label=label)
    msgs.set_ylabel("requests / member / period", fontsize=9)
    msgs.set_title("messages sent (replies mirror them)", fontsize=10)
    size.set_ylabel("bytes / member / period (estimate)", fontsize=9)
    size.set_title("bytes sent, quiet group", fontsize=10)
    for ax in (times, msgs, size):
        ax.set_xscale("log", base=2)
        ax.set_xticks(ns, [str(n) for n in ns])
        ax.set_xlabel("members N (log)", fontsize=9)
        ax.set_ylim(bottom=0)
        ax.tick_params(labelsize=8)
        ax.grid(True, linewidth=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("SWIM in the simulator, default options: a quiet group for 60 periods, then "
                 "one update, one join, one kill -9", fontsize=10)
    return _plots.save(fig, path)


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    """Every measurement in turn (a progress bar over them on a terminal's stderr: a
    simulated size is one step, each run on processes one)."""
    out: dict[str, Any] = {"scaling": [], "versus": {}}
    with progress_bar("swim runs", total=len(args.sizes) + 4 * args.runs * len(args.members)
                      ) as bar:
        for n in args.sizes:
            console.print(f"simulator: N={n}")
            out["scaling"].append(scaling(n, args.seed))
            bar.advance(note=f"simulator N={n}")
        console.print(scaling_table(out["scaling"]))
        png = _plots.target(args)
        if png is not None and out["scaling"]:
            console.print(_plots.wrote(png, plot(png, out["scaling"])))
        for n in args.members:
            console.print(f"swim-protocol, {n} members, {args.runs} runs")
            theirs = measure_swim_protocol(n, runs=args.runs, **THEIRS)
            bar.advance(args.runs, note=f"swim-protocol n={n}")
            out["versus"][n] = {
                "swim-protocol": {k: theirs[k] for k in ("suspect_median_s", "suspect_max_s",
                                                         "dead_median_s", "dead_max_s")}
                | {"false_positives": theirs["false_positives"]},
                "ours, equal settings": await ours(n, args.runs, EQUAL, bar),
                "ours, defaults": await ours(n, args.runs, {}, bar),
                "ours, fast": await ours(n, args.runs, FAST, bar),
            }
    if out["versus"]:
        console.print(versus_table(out["versus"]))
    return out


def main() -> int:
    p = argparse.ArgumentParser(prog="scripts/bench swim", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",") if x],
                   default=[16, 64, 256, 1000], help="simulated group sizes")
    p.add_argument("--members", type=lambda s: [int(x) for x in s.split(",") if x],
                   default=[3, 16], help="real-process group sizes ('' for none)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print the figures as JSON on stdout")
    _plots.add_arguments(p, "swim-scaling", "the simulator's figures against N")
    args = p.parse_args()
    out = asyncio.run(main_async(args))
    if args.json:
        json.dump(out, sys.stdout, indent=1, default=str)
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
