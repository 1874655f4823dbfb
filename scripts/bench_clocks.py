"""Benchmark ``protocols.clocks``: vector clock speed, and siblings with VV vs DVV.

Run: ``.venv/bin/python scripts/bench_clocks.py [--seconds S] [--json]``.

1. Merges and comparisons per second of ``VectorClock`` with 10 and 100 entries, against
   a plain-dict implementation written below (the obvious code: a comprehension over the
   union of keys for merge, one loop for compare), on the same seeded inputs in the same
   run; the ratio is ours / dict. The inputs look like a causal-broadcast workload: two
   clocks of the same nodes that differ in a few entries (equal, one ahead, or each
   ahead somewhere), plus a quarter of unrelated random pairs.
2. Sibling counts of one key under the same random workload on ``VVSiblings`` (one
   version vector per object: Riak's vnode vclocks) and ``DVVSet``: 3 replicas, 5
   clients that read from any replica and write through any replica with the context
   of their last read (often stale by then), and random anti-entropy syncs. Plus Riak's
   classic sibling-explosion scenario (two clients interleaving writes through one node).
3. Causal broadcast in the simulator (``protocols.causal``), 5 members, 3 clients, 10 s,
   one-way messages delayed uniformly up to 50, 150 or 300 ms: the hold-back queue's peak
   depth, how long messages wait in it, and delivery latency from send (p50 / p99),
   beside the unordered mode on the same seed (the network's latency alone).
4. The versioned KV (``protocols.vkv``) under partitions and crashes in the simulator,
   the same seeds with dotted version vectors and with plain version vectors: the most
   siblings a client read at once.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from statistics import mean
from typing import Any

from rich.console import Console
from rich.table import Table

from protocols.causal.core import CausalCore
from protocols.causal.sim import ADAPTER as CAUSAL
from protocols.causal.sim import BroadcastWorkload
from protocols.clocks import DVVSet, Ordering, SiblingStore, VectorClock, VVSiblings
from protocols.sim.network import RELIABLE, NetworkConfig
from protocols.sim.world import World
from protocols.simulate import run_once

console = Console()
SIZES = (10, 100)
PAIRS = 1000
ROUNDS = 5


# -- the plain-dict baseline ------------------------------------------------------------


def dict_merge(a: dict[str, int], b: dict[str, int]) -> dict[str, int]:
    return {k: max(a.get(k, 0), b.get(k, 0)) for k in a | b}


def dict_compare(a: dict[str, int], b: dict[str, int]) -> Ordering:
    less = greater = False
    for k in a.keys() | b.keys():
        x, y = a.get(k, 0), b.get(k, 0)
        if x < y:
            less = True
        elif x > y:
            greater = True
    if less and greater:
        return Ordering.CONCURRENT
    if less:
        return Ordering.BEFORE
    return Ordering.AFTER if greater else Ordering.EQUAL


# -- inputs -----------------------------------------------------------------------------

Pair = tuple[dict[str, int], dict[str, int]]


def make_pairs(size: int, count: int, seed: int) -> list[Pair]:
    """Pairs of clocks over ``size`` nodes: a shared base with a few entries bumped on
    either side (0-3 each), or, one time in four, two unrelated random clocks."""
    rng = random.Random(seed)
    nodes = [f"n{i}" for i in range(size)]
    pairs = []
    for _ in range(count):
        a = {n: rng.randrange(1, 1000) for n in nodes}
        if rng.random() < 0.25:
            b = {n: rng.randrange(1, 1000) for n in nodes}
        else:
            b = dict(a)
            for clock in (a, b):
                for n in rng.sample(nodes, rng.randrange(4)):
                    clock[n] += rng.randrange(1, 5)
        pairs.append((a, b))
    return pairs


# -- timing -----------------------------------------------------------------------------


@dataclass
class Speed:
    op: str
    entries: int
    ours: float            # operations per second
    dict: float
    ratio: float           # ours / dict


def _rate(run: Callable[[Any], None], data: Any, budget: float) -> float:
    """``run(data)`` does ``len(data)`` operations: the best of ``ROUNDS`` rounds of
    ``budget`` seconds each, in operations per second."""
    best = 0.0
    for _ in range(ROUNDS):
        done, start = 0, time.perf_counter()
        while True:
            run(data)
            done += len(data)
            elapsed = time.perf_counter() - start
            if elapsed >= budget:
                break
        best = max(best, done / elapsed)
    return best


def ours_merge(clocks: list[tuple[VectorClock, VectorClock]]) -> None:
    for x, y in clocks:
        x.merge(y)


def ours_compare(clocks: list[tuple[VectorClock, VectorClock]]) -> None:
    for x, y in clocks:
        x.compare(y)


def base_merge(pairs: list[Pair]) -> None:
    merge = dict_merge
    for a, b in pairs:
        merge(a, b)


def base_compare(pairs: list[Pair]) -> None:
    compare = dict_compare
    for a, b in pairs:
        compare(a, b)


def speeds(seconds: float, seed: int) -> list[Speed]:
    """Each (operation, size, implementation) gets an equal share of ``seconds``."""
    out = []
    budget = seconds / (2 * len(SIZES) * 2 * ROUNDS)
    for size in SIZES:
        pairs = make_pairs(size, PAIRS, seed + size)
        clocks = [(VectorClock(a), VectorClock(b)) for a, b in pairs]
        for (a, b), (x, y) in zip(pairs, clocks, strict=True):   # same answers first
            assert x.merge(y).as_dict() == dict_merge(a, b)
            assert x.compare(y) is dict_compare(a, b)
        for op, mine, theirs in (("merge", ours_merge, base_merge),
                                 ("compare", ours_compare, base_compare)):
            o, d = _rate(mine, clocks, budget), _rate(theirs, pairs, budget)
            out.append(Speed(op, size, o, d, o / d))
    return out


# -- siblings ---------------------------------------------------------------------------


@dataclass
class Siblings:
    workload: str
    writes: int
    vv_max: int            # siblings at the written replica after a write, VVSiblings
    vv_mean: float
    dvv_max: int           # the same, DVVSet
    dvv_mean: float


def random_workload(make: Callable[[], SiblingStore[str]], seed: int, steps: int,
                    replicas: int = 3, clients: int = 5) -> list[int]:
    """Sibling count at the written replica after every write of a random workload."""
    rng = random.Random(seed)
    nodes = [f"r{i}" for i in range(replicas)]
    state = {n: make() for n in nodes}
    contexts = [VectorClock() for _ in range(clients)]
    sizes = []
    for i in range(steps):
        roll, client = rng.random(), rng.randrange(clients)
        if roll < 0.45:                                    # write with the last read
            node = rng.choice(nodes)
            state[node] = state[node].update(contexts[client], node, f"c{client}w{i}")
            sizes.append(state[node].size())
        elif roll < 0.85:                                  # read
            contexts[client] = state[rng.choice(nodes)].context()
        else:                                              # anti-entropy, both ways
            a, b = rng.sample(nodes, 2)
            state[a] = state[b] = state[a].sync(state[b])
    return sizes


def interleaved_writers(make: Callable[[], SiblingStore[str]], rounds: int) -> list[int]:
    """Two clients write in turn through one node, each with the context its own last
    write returned (Riak's return_body): the sibling-explosion scenario."""
    store = make()
    contexts = {"X": VectorClock(), "Y": VectorClock()}
    sizes = []
    for i in range(rounds):
        for client in contexts:
            store = store.update(contexts[client], "vnode1", f"{client}{i}")
            contexts[client] = store.context()
            sizes.append(store.size())
    return sizes


def siblings(seed: int) -> list[Siblings]:
    workloads: Sequence[tuple[str, Callable[[Callable[[], SiblingStore[str]]], list[int]]]] = (
        ("random",
         lambda make: random_workload(make, seed, 4000)),
        ("interleaved", lambda make: interleaved_writers(make, 20)),
    )
    out = []
    for name, run in workloads:
        vv, dvv = run(VVSiblings[str]), run(DVVSet[str])
        out.append(Siblings(name, len(vv), max(vv), mean(vv), max(dvv), mean(dvv)))
    return out


# -- causal broadcast under jitter ---------------------------------------------------------


@dataclass
class Holdback:
    jitter_ms: int
    mode: str
    broadcasts: int
    peak_held: int
    mean_hold_ms: float
    p50_ms: float
    p99_ms: float


def holdback(jitter_ms: int, mode: str, seed: int) -> Holdback:
    """Send-to-delivery latency at the other members, and time spent held back."""
    w = World(CAUSAL, 5, seed, options={"mode": mode},
              network=NetworkConfig(delay_min_ms=1, delay_max_ms=jitter_ms))
    load = BroadcastWorkload(w, clients=3, stop_at_ms=10_000)
    load.start()
    w.run_for(10_000)
    w.network.config = RELIABLE
    w.run_until(lambda: load.idle, 30_000)
    tick_ms = w.tick_ms
    sent = {(n, d.seq): d.delivered_tick for n, node in w.nodes.items()
            for d in node.applied if d.origin == n}
    latencies, holds = [], []
    for n, node in w.nodes.items():
        for d in node.applied:
            if d.origin != n:
                latencies.append((d.delivered_tick - sent[(d.origin, d.seq)]) * tick_ms)
                holds.append((d.delivered_tick - d.received_tick) * tick_ms)
    latencies.sort()
    cores = [n.core for n in w.nodes.values() if isinstance(n.core, CausalCore)]
    return Holdback(jitter_ms, mode, len(sent), max(c.max_held for c in cores), mean(holds),
                    latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)])


def holdbacks(seed: int) -> list[Holdback]:
    return [holdback(j, mode, seed) for j in (50, 150, 300) for mode in ("causal", "none")]


@dataclass
class KvSiblings:
    clock: str
    seeds: int
    peak_read: int
    acknowledged: int


def kv_siblings(seeds: int = 4) -> list[KvSiblings]:
    out = []
    for clock in ("dvv", "vv"):
        peak, acked = 0, 0
        for seed in range(seeds):
            r = run_once("vkv", seed, nodes=5, duration_ms=6000, options={"clock": clock},
                         nemesis_kinds=("partition", "isolate", "crash", "unreliable"))
            if not r.ok:
                raise RuntimeError(f"vkv seed {seed} failed: {r.failure}")
            summary = r.verdicts[0].summary
            peak = max(peak, int(summary.rsplit("at most ", 1)[1].split()[0]))
            acked += int(summary.split()[0])
        out.append(KvSiblings(clock, seeds, peak, acked))
    return out


# -- report -----------------------------------------------------------------------------


def show_more(holds: list[Holdback], kv: list[KvSiblings]) -> None:
    table = Table(title="Causal broadcast in the simulator: 5 members, 3 clients, 10 s, "
                        "messages delayed up to the jitter")
    for col in ("jitter", "mode", "broadcasts", "hold-back peak", "mean hold", "p50 latency",
                "p99 latency"):
        table.add_column(col, justify="right")
    for h in holds:
        table.add_row(f"{h.jitter_ms} ms", h.mode, str(h.broadcasts), str(h.peak_held),
                      f"{h.mean_hold_ms:.1f} ms", f"{h.p50_ms:.0f} ms", f"{h.p99_ms:.0f} ms")
    console.print(table)
    table = Table(title="Versioned KV in the simulator (partitions, crashes): the most "
                        "siblings one read returned")
    for col in ("clock", "seeds", "acknowledged writes", "most siblings read"):
        table.add_column(col, justify="right")
    for k in kv:
        table.add_row(k.clock, str(k.seeds), str(k.acknowledged), str(k.peak_read))
    console.print(table)


def show(speed: list[Speed], sibs: list[Siblings]) -> None:
    table = Table(title="VectorClock vs plain dict (ops/s, same inputs, same run)")
    for col in ("operation", "entries", "ours", "dict", "ours / dict"):
        table.add_column(col, justify="left" if col == "operation" else "right")
    for s in speed:
        style = "green" if s.ratio >= 1 else "red"
        table.add_row(s.op, str(s.entries), f"{s.ours:,.0f}", f"{s.dict:,.0f}",
                      f"[{style}]{s.ratio:.2f}x[/{style}]")
    console.print(table)
    table = Table(title="Siblings after each write: one version vector (VV) vs DVVSet",
                  caption="random: 3 replicas, 5 clients writing with stale reads, random "
                          "syncs, 4000 steps; interleaved: 2 clients writing in turn through "
                          "1 node (Riak's sibling explosion)")
    for col in ("workload", "writes", "VV max", "VV mean", "DVV max", "DVV mean"):
        table.add_column(col, justify="left" if col == "workload" else "right")
    for b in sibs:
        table.add_row(b.workload, str(b.writes), str(b.vv_max), f"{b.vv_mean:.2f}",
                      str(b.dvv_max), f"{b.dvv_mean:.2f}")
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--seconds", type=float, default=8.0,
                        help="total time for the speed measurements (default 8)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")
    args = parser.parse_args(argv)
    speed, sibs = speeds(args.seconds, args.seed), siblings(args.seed)
    holds, kv = holdbacks(args.seed), kv_siblings()
    if args.json:
        report: dict[str, Any] = {"speed": [asdict(s) for s in speed],
                                  "siblings": [asdict(b) for b in sibs],
                                  "causal": [asdict(h) for h in holds],
                                  "vkv": [asdict(k) for k in kv]}
        print(json.dumps(report, indent=2))
    else:
        show(speed, sibs)
        show_more(holds, kv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
