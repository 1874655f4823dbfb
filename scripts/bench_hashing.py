"""``scripts/bench hashing``: the placement schemes of ``protocols.hashing`` side by side,
every figure beside the baseline packages measured in the same run on the same keys.

The schemes are ``SCHEMES`` (ring, ketama, jump, rendezvous, maglev, multiprobe,
bounded), each with its defaults. The baselines: ``uhashring`` 2.5 (its default ring:
160 points a node, MD5; and ``hash_fn="ketama"``, which our ``ketama`` reproduces bit for
bit), ``jump-consistent-hash`` (C; fed xxHash64 of the key, as our ``jump``, so the two
must agree key for key), ``clandestined`` (rendezvous with MurmurHash3 of
``"{node}-{key}"``), and ``mod n`` (``xxh64(key) % n``: a list index, perfectly even and
not consistent at all). Keys are ``"key-"`` and 16 random hex digits (seeded); nodes
``node-000`` ... Everything runs in one process, one measurement at a time.

1. Lookups: ``node_for(key)`` (a baseline's own lookup call) in a plain loop over at
   most 200 000 of the keys (fewer for a slow one: about 0.4 s a pass), the median of 3
   passes, at 10 and 100 nodes. ``bounded`` twice: keys already placed (a dictionary
   lookup) and new keys (placing them, ``assign``), each on a fresh structure.
2. Load balance: all ``--keys`` keys (1 000 000) looked up on each scheme at 10 and 100
   nodes: the busiest node's keys over the mean, and the standard deviation as % of the
   mean (a uniformly random placement: about ``sqrt(n / keys)``). ``clandestined`` (25 µs
   a lookup at 100 nodes) gets the first ``--move-keys`` keys only.
3. Keys moved, on the first ``--move-keys`` (200 000) of those keys: a join (node n+1
   added; ideal ``1/(n+1)``) and a leave (the last of the n nodes removed, the only one
   ``jump`` can remove; ideal ``1/n``), as fractions and as ratios to the ideal. *Stray*:
   moved keys that did not go to the joiner (or did not come from the leaver): zero for a
   minimal scheme. The join is undone before the leave (for ``bounded``, whose placement
   remembers its history, the leave is compared with where the keys were just before).
4. Memory of each structure with 100 nodes: ``tracemalloc`` around construction and the
   first lookup (which builds Maglev's table), node names allocated beforehand. For
   ``bounded`` also the bytes per key it remembers (100 000 keys placed).
5. Hot keys: ``--requests`` (1 000 000) requests over the first 100 000 keys, Zipf
   ``s = 1.1`` by rank (numpy), on 100 nodes: requests per node, busiest over mean. Each
   stateless scheme sends every request for a key to that key's node. ``bounded`` twice:
   keys as balls (a key's requests follow it, as for the others), and *requests as balls*
   (Vimeo's and HAProxy's use: each request is a ball placed at its key's point, under
   the caps ``⌈(1+ε)·m/n⌉``, never released: so no node serves more than ``1+ε`` times
   the mean of the requests so far).
6. A plot of the load per node at 100 nodes, uniform and Zipf, one panel per scheme
   (busiest node first), written to ``--plot`` (default ``docs/img/hashing-load.png``).

Run: ``scripts/bench hashing [--keys N] [--move-keys N] [--requests N] [--quick]
[--json [PATH]] [--plot PATH | --no-plot]``. ``--quick``: 100 000 keys, 100 000 requests
over 10 000 keys, lookups over at most 20 000 keys (a smoke run of ~40 s).
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any, Protocol

import _plots  # scripts/ is on sys.path
import clandestined
import jump
import numpy as np
import numpy.typing as npt
import uhashring
import xxhash
from rich.console import Console
from rich.table import Table

from protocols.hashing import SCHEMES, Key
from protocols.hashing.base import as_bytes, hash64
from protocols.hashing.bounded import DEFAULT_EPSILON, BoundedLoads

console = Console(width=None if sys.stdout.isatty() else 132)  # a log keeps whole rows
progress = Console(stderr=True)
SIZES = (10, 100)
REPEATS = 3
PASS_SECONDS = 0.4  # about this long per timed pass of a slow lookup
ZIPF_S = 1.1
OURS = tuple(SCHEMES)
# each scheme's counterpart among the baselines (the lookup table's ratio column)
COUNTERPART = {"ring": "uhashring", "ketama": "uhashring ketama", "jump": "jump (C)",
               "rendezvous": "clandestined"}
FLOOR = "mod n"


# ----------------------------------------------------------------------------- subjects
class Lookup(Protocol):
    def node_for(self, key: str) -> str: ...
    def add(self, node: str) -> None: ...
    def remove(self, node: str) -> None: ...


class UhashringRing:
    """``uhashring.HashRing``: its default ring, or ``hash_fn="ketama"``."""

    def __init__(self, nodes: Sequence[str], ketama: bool) -> None:
        self.ring = (uhashring.HashRing(list(nodes), hash_fn="ketama") if ketama
                     else uhashring.HashRing(list(nodes)))
        self.node_for: Callable[[str], str] = self.ring.get_node

    def add(self, node: str) -> None:
        self.ring.add_node(node)

    def remove(self, node: str) -> None:
        self.ring.remove_node(node)


class JumpC:
    """``jump.hash`` (C) over xxHash64 of the key, bucket i the i-th node to join."""

    def __init__(self, nodes: Sequence[str]) -> None:
        self.nodes = list(nodes)

    def node_for(self, key: str) -> str:
        return self.nodes[jump.hash(xxhash.xxh64_intdigest(key.encode()), len(self.nodes))]

    def add(self, node: str) -> None:
        self.nodes.append(node)

    def remove(self, node: str) -> None:
        assert node == self.nodes[-1], "jump: only the last bucket can leave"
        self.nodes.pop()


class Clandestined:
    """``clandestined.RendezvousHash``: MurmurHash3-32 of ``"{node}-{key}"``, highest wins."""

    def __init__(self, nodes: Sequence[str]) -> None:
        self.hrw = clandestined.RendezvousHash(list(nodes))
        self.node_for: Callable[[str], str] = self.hrw.find_node

    def add(self, node: str) -> None:
        self.hrw.add_node(node)

    def remove(self, node: str) -> None:
        self.hrw.remove_node(node)


class ModN:
    """``xxh64(key) % n``: the even, inconsistent floor."""

    def __init__(self, nodes: Sequence[str]) -> None:
        self.nodes = list(nodes)

    def node_for(self, key: str) -> str:
        return self.nodes[xxhash.xxh64_intdigest(key.encode()) % len(self.nodes)]

    def add(self, node: str) -> None:
        self.nodes.append(node)

    def remove(self, node: str) -> None:
        self.nodes.remove(node)


def build_ours(name: str) -> Callable[[Sequence[str]], Lookup]:
    def build(nodes: Sequence[str]) -> Lookup:
        scheme = SCHEMES[name]()
        for node in nodes:
            scheme.add(node)
        return scheme
    return build


@dataclass(frozen=True)
class Subject:
    name: str
    build: Callable[[Sequence[str]], Lookup]
    ours: bool
    slow: bool = False  # gets --move-keys keys in the load table too


SUBJECTS: list[Subject] = [
    *(Subject(name, build_ours(name), True) for name in OURS),
    Subject("uhashring", lambda nodes: UhashringRing(nodes, ketama=False), False),
    Subject("uhashring ketama", lambda nodes: UhashringRing(nodes, ketama=True), False),
    Subject("jump (C)", JumpC, False),
    Subject("clandestined", Clandestined, False, slow=True),
    Subject(FLOOR, ModN, False),
]


class RequestBalls(BoundedLoads):
    """Bounded loads with each *request* a ball (Vimeo's, HAProxy's use): a ball is named
    ``key#request`` and placed at its key's point on the ring."""

    def __init__(self, epsilon: float = DEFAULT_EPSILON) -> None:
        super().__init__(epsilon, key_hash=self.key_point)

    @staticmethod
    def key_point(ball: Key) -> int:
        data = as_bytes(ball)
        return hash64(data[:data.rindex(b"#")])


def node_names(n: int) -> list[str]:
    return [f"node-{i:03d}" for i in range(n)]


def make_keys(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [f"key-{rng.getrandbits(64):016x}" for _ in range(count)]


# ----------------------------------------------------------------------------- 1. lookups
@dataclass
class Speed:
    impl: str
    nodes: int
    keys_timed: int
    ns: float              # per lookup, median of REPEATS passes
    per_s: float
    vs: str = ""           # the baseline it is compared with
    ratio: float = 0.0     # ns / the baseline's ns


def _pass(f: Callable[[str], object], keys: Sequence[str]) -> float:
    start = time.perf_counter()
    for k in keys:
        f(k)
    return time.perf_counter() - start


def timed(f: Callable[[str], object], keys: Sequence[str], most: int) -> tuple[float, int]:
    """The median ns per call of ``f`` over ``REPEATS`` passes, and the keys a pass took."""
    pilot = _pass(f, keys[:1000]) / 1000
    count = max(1000, min(most, int(PASS_SECONDS / pilot)))
    gc.collect()
    return statistics.median(_pass(f, keys[:count]) for _ in range(REPEATS)) / count * 1e9, count


def timed_bounded(nodes: Sequence[str], keys: Sequence[str], most: int
                  ) -> tuple[tuple[float, int], tuple[float, int]]:
    """``bounded``'s node_for on placed keys and on new keys (assign), a fresh structure
    per pass."""
    pilot = _pass(build_ours("bounded")(nodes).node_for, keys[:1000]) / 1000
    count = max(1000, min(most, int(PASS_SECONDS / pilot)))
    placed, new = [], []
    for _ in range(REPEATS):
        scheme = build_ours("bounded")(nodes)
        gc.collect()
        new.append(_pass(scheme.node_for, keys[:count]))
        placed.append(_pass(scheme.node_for, keys[:count]))
    return ((statistics.median(placed) / count * 1e9, count),
            (statistics.median(new) / count * 1e9, count))


def speeds(keys: Sequence[str], most: int) -> list[Speed]:
    out: list[Speed] = []
    for n in SIZES:
        nodes = node_names(n)
        progress.print(f"  lookups, {n} nodes ...")
        rows: dict[str, Speed] = {}
        for s in SUBJECTS:
            if s.name == "bounded":
                (p, pc), (a, ac) = timed_bounded(nodes, keys, most)
                rows["bounded"] = Speed("bounded", n, pc, p, 1e9 / p)
                rows["bounded, new key"] = Speed("bounded, new key", n, ac, a, 1e9 / a)
                continue
            subject = s.build(nodes)
            subject.node_for(keys[0])  # Maglev fills its table here, not in the timing
            ns, count = timed(subject.node_for, keys, most)
            rows[s.name] = Speed(s.name, n, count, ns, 1e9 / ns)
        for name, row in rows.items():
            base = COUNTERPART.get(name, FLOOR if name != FLOOR else "")
            if base:
                row.vs, row.ratio = base, row.ns / rows[base].ns
            out.append(row)
    return out


# ----------------------------------------------------------------------------- 2, 3. load, moves
@dataclass
class Placed:
    impl: str
    nodes: int
    keys: int
    max_mean: float
    min_mean: float
    std_pct: float
    first_pass_s: float    # the load pass (for bounded: placing every key)
    move_keys: int = 0
    join_moved: float = 0.0   # fraction of move_keys
    join_ideal: float = 0.0
    join_stray: float = 0.0
    leave_moved: float = 0.0
    leave_ideal: float = 0.0
    leave_stray: float = 0.0
    loads: list[int] = field(default_factory=list)  # keys per node, in node order


def spread(loads: Sequence[float]) -> tuple[float, float, float]:
    """max/mean, min/mean, and the standard deviation as % of the mean."""
    mean = sum(loads) / len(loads)
    return max(loads) / mean, min(loads) / mean, statistics.pstdev(loads) / mean * 100


def moved(before: Sequence[str], after: Sequence[str]) -> int:
    return sum(1 for a, b in zip(before, after, strict=True) if a != b)


@dataclass
class Agreement:
    ours: str
    theirs: str
    keys: int = 0
    same: int = 0


def placements(keys: Sequence[str], move_keys: int, zipf_keys: int,
               zipf_counts: npt.NDArray[np.int64]
               ) -> tuple[list[Placed], dict[str, list[float]], list[Agreement]]:
    """Load and moves of every subject at every size; the Zipf load per node at 100
    nodes (keys as balls) from the same lookups."""
    out: list[Placed] = []
    zipf: dict[str, list[float]] = {}
    pairs = [Agreement("ketama", "uhashring ketama"), Agreement("jump", "jump (C)")]
    seen: dict[tuple[str, int], list[list[str]]] = {}  # for the agreement checks
    for n in SIZES:
        nodes = node_names(n)
        joiner, leaver = f"node-{n:03d}", nodes[-1]
        for s in SUBJECTS:
            progress.print(f"  load and moves, {n} nodes: {s.name} ...")
            subject = s.build(nodes)
            f = subject.node_for
            ks = keys[:move_keys] if s.slow else keys
            m = min(move_keys, len(ks))
            start = time.perf_counter()
            owners = [f(k) for k in ks]
            took = time.perf_counter() - start
            index = {node: i for i, node in enumerate(nodes)}
            loads = [0] * n
            for o in owners:
                loads[index[o]] += 1
            high, low, std = spread(loads)
            row = Placed(s.name, n, len(ks), high, low, std, took, m, loads=loads)
            if n == max(SIZES):
                at = np.fromiter((index[o] for o in owners[:zipf_keys]), dtype=np.int64,
                                 count=zipf_keys)
                zipf[s.name] = np.bincount(at, weights=zipf_counts, minlength=n).tolist()
            before = owners[:m]
            del owners
            subject.add(joiner)
            joined = [f(k) for k in ks[:m]]
            row.join_moved = moved(before, joined) / m
            row.join_stray = sum(1 for a, b in zip(before, joined, strict=True)
                                 if a != b and b != joiner) / m
            row.join_ideal = 1 / (n + 1)
            subject.remove(joiner)
            if s.name == "bounded":  # sticky: where the keys are now, not where they were
                before = [f(k) for k in ks[:m]]
            subject.remove(leaver)
            left = [f(k) for k in ks[:m]]
            row.leave_moved = moved(before, left) / m
            row.leave_stray = sum(1 for a, b in zip(before, left, strict=True)
                                  if a != b and a != leaver) / m
            row.leave_ideal = 1 / n
            out.append(row)
            if any(s.name in (p.ours, p.theirs) for p in pairs):
                seen[(s.name, n)] = [before, joined, left]
            del subject, before, joined, left
            gc.collect()
    for p in pairs:
        for n in SIZES:
            for a, b in zip(seen[(p.ours, n)], seen[(p.theirs, n)], strict=True):
                p.keys += len(a)
                p.same += sum(1 for x, y in zip(a, b, strict=True) if x == y)
    return out, zipf, pairs


# ----------------------------------------------------------------------------- 4. memory
@dataclass
class Memory:
    impl: str
    nodes: int
    bytes: int
    per_key: float = 0.0   # bounded: bytes per key it remembers


def memory(keys: Sequence[str], per_key_keys: int) -> list[Memory]:
    n = max(SIZES)
    out = []
    for s in SUBJECTS:
        nodes = node_names(n)
        probe = keys[0]
        gc.collect()
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        subject = s.build(nodes)
        subject.node_for(probe)
        size = tracemalloc.get_traced_memory()[0] - base
        row = Memory(s.name, n, size)
        if s.name == "bounded":
            ks = keys[1:per_key_keys + 1]
            base = tracemalloc.get_traced_memory()[0]
            for k in ks:
                subject.node_for(k)
            row.per_key = (tracemalloc.get_traced_memory()[0] - base) / len(ks)
        tracemalloc.stop()
        out.append(row)
        del subject
    return out


# ----------------------------------------------------------------------------- 5. hot keys
@dataclass
class Hot:
    impl: str
    requests: int
    distinct: int
    max_mean: float
    min_mean: float
    std_pct: float
    took_s: float = 0.0


def zipf_requests(distinct: int, requests: int, seed: int) -> npt.NDArray[np.int64]:
    """``requests`` key ranks (0 the hottest), Zipf with exponent ``ZIPF_S`` over
    ``distinct`` keys."""
    weights = np.arange(1, distinct + 1, dtype=np.float64) ** -ZIPF_S
    rng = np.random.default_rng(seed)
    return rng.choice(distinct, size=requests, p=weights / weights.sum())


def request_balls(keys: Sequence[str], ranks: npt.NDArray[np.int64]) -> tuple[list[float], float]:
    """Requests per node of ``bounded`` with each request a ball, and the time it took."""
    nodes = node_names(max(SIZES))
    balls = RequestBalls()
    for node in nodes:
        balls.add(node)
    index = {node: i for i, node in enumerate(nodes)}
    loads = [0.0] * len(nodes)
    assign = balls.assign
    start = time.perf_counter()
    for j, r in enumerate(ranks.tolist()):
        loads[index[assign(f"{keys[r]}#{j}")]] += 1
    return loads, time.perf_counter() - start


# ----------------------------------------------------------------------------- 6. plot
def plot(path: Path, uniform: dict[str, list[float]], hot: dict[str, list[float]],
         keys: int, requests: int, distinct: int) -> int:
    """Load per node over the mean, busiest first, one panel per scheme and distribution
    (``uniform``, ``hot``: scheme -> load of each node); the PNG's bytes."""
    names = [*OURS, FLOOR]
    cols = 4
    pairs = math.ceil(len(names) / cols)
    fig, axes = _plots.figure(cols, 13, 3.1 * pairs * 2, rows=2 * pairs, squeeze=False)
    lo = min(min(v) / (sum(v) / len(v)) for v in uniform.values())
    hi = max(max(v) / (sum(v) / len(v)) for v in uniform.values())
    hot_hi = max(max(v) / (sum(v) / len(v)) for v in hot.values())
    bound = 1 + DEFAULT_EPSILON
    for i, name in enumerate(names):
        for row, data, label in ((0, uniform, "uniform"), (1, hot, "Zipf")):
            ax = axes[2 * (i // cols) + row][i % cols]
            mean = sum(data[name]) / len(data[name])
            ys = sorted((v / mean for v in data[name]), reverse=True)
            base = 0.0 if row == 0 else 0.01  # log scale: below the axis (0.03), not 0
            ax.stairs([max(y, base) for y in ys], [x - 0.5 for x in range(len(ys) + 1)],
                      baseline=base, fill=True, linewidth=0,
                      color=_plots.BLUE if row == 0 else _plots.RED)  # 100 bars, 1 artist
            ax.axhline(1.0, color="black", linewidth=0.8)
            ax.axhline(bound, color="#2ca02c", linewidth=0.8, linestyle="--")
            if row == 0:
                ax.set_ylim(max(0.0, lo - 0.05), hi + 0.05)  # from 0 if a node has ~none
            else:
                ax.set_yscale("log")
                ax.set_ylim(0.03, hot_hi * 1.5)  # a node with (almost) none: no bar
            ax.set_xlim(-0.5, len(ys) - 0.5)
            ax.set_xticks([])
            shown = "bounded (requests as balls)" if name == "bounded" and row == 1 else name
            ax.set_title(f"{shown}, {label}: max {ys[0]:.2f}, min {ys[-1]:.2f}",
                         fontsize=9)
            ax.tick_params(labelsize=8)
            if i % cols == 0:
                ax.set_ylabel("load / mean", fontsize=8)
    for j in range(len(names), pairs * cols):
        for row in (0, 1):
            axes[2 * (j // cols) + row][j % cols].axis("off")
    fig.suptitle(f"Load per node / mean, 100 nodes, busiest first. Uniform: {keys:,} keys. "
                 f"Zipf s={ZIPF_S}: {requests:,} requests over {distinct:,} keys. "
                 f"Dashed: 1+ε = {bound} (bounded's cap)", fontsize=10)
    return _plots.save(fig, path, dpi=72)  # 13 x 12 inches: 72 dpi keeps it near 75 KiB


# ----------------------------------------------------------------------------- report
def _x(r: float) -> str:
    if not r:
        return ""
    return f"{r:.2f}x" if r >= 0.1 else f"{r:.1g}x"


def _k(n: int) -> str:
    return f"{n / 1000:.0f}k" if n >= 1000 else str(n)


def _pct(f: float) -> str:
    return f"{f * 100:.2f}%"


def report(res: dict[str, Any]) -> None:
    speed = [Speed(**s) for s in res["lookups"]]
    t = Table(title="node_for: ns per lookup (median of 3 passes), same keys, same run",
              caption="vs: the scheme's counterpart package, else mod n (one hash, one list "
                      "index: the floor of a Python lookup); ratio = ns / its ns")
    for col in ("impl", "ns @10", "per s @10", "ns @100", "per s @100", "vs",
                "ratio @10", "ratio @100", "keys/pass"):
        t.add_column(col, justify="left" if col in ("impl", "vs") else "right", no_wrap=True)
    by = {(s.impl, s.nodes): s for s in speed}
    for impl in dict.fromkeys(s.impl for s in speed):
        s10, s100 = by[(impl, 10)], by[(impl, 100)]
        t.add_row(impl, f"{s10.ns:,.0f}", f"{s10.per_s:,.0f}", f"{s100.ns:,.0f}",
                  f"{s100.per_s:,.0f}", s10.vs, _x(s10.ratio), _x(s100.ratio),
                  f"{_k(s10.keys_timed)}/{_k(s100.keys_timed)}")
        if impl == "bounded, new key":
            t.add_section()
    console.print(t)

    placed = [Placed(**p) for p in res["placements"]]
    pb = {(p.impl, p.nodes): p for p in placed}
    t = Table(title="Load balance: keys per node (max / mean, min / mean, std dev % of mean)",
              caption="a uniformly random placement: std dev about sqrt(n/keys) "
                      "(1M keys: 0.32% at 10 nodes, 1.0% at 100); mod n is one")
    for col in ("impl", "keys", "10: max/mean", "min/mean", "std %", "100: max/mean",
                "min/mean", "std %"):
        t.add_column(col, justify="left" if col == "impl" else "right", no_wrap=True)
    for impl in dict.fromkeys(p.impl for p in placed):
        a, b = pb[(impl, 10)], pb[(impl, 100)]
        t.add_row(impl, f"{a.keys:,}", f"{a.max_mean:.3f}", f"{a.min_mean:.3f}",
                  f"{a.std_pct:.2f}", f"{b.max_mean:.3f}", f"{b.min_mean:.3f}",
                  f"{b.std_pct:.2f}")
        if impl == OURS[-1]:
            t.add_section()
    console.print(t)

    t = Table(title="Keys moved: a join (node n+1) and a leave (the n-th node), fraction of "
                    f"the first {placed[0].move_keys:,} keys",
              caption="ideal: 1/(n+1) on a join, 1/n on a leave; stray: moved keys that "
                      "did not go to the joiner / come from the leaver")
    for col in ("impl", "n", "join", "/ 1/(n+1)", "stray", "leave", "/ 1/n", "stray"):
        t.add_column(col, justify="left" if col == "impl" else "right", no_wrap=True)
    for n in SIZES:
        for p in placed:
            if p.nodes == n:
                t.add_row(p.impl, str(n), _pct(p.join_moved), _x(p.join_moved / p.join_ideal),
                          _pct(p.join_stray), _pct(p.leave_moved),
                          _x(p.leave_moved / p.leave_ideal), _pct(p.leave_stray))
        if n != SIZES[-1]:
            t.add_section()
    console.print(t)
    for a in res["agreement"]:
        console.print(f"{a['ours']} = {a['theirs']} on {a['same']:,} of {a['keys']:,} "
                      "lookups (the move keys, before, after the join, after the leave, "
                      "both sizes)")

    mem = res["memory"]
    t = Table(title="Memory at 100 nodes (tracemalloc: construction + first lookup)",
              caption="node names allocated beforehand, not counted")
    for col in ("impl", "KiB", "bytes / node", "/ uhashring", "note"):
        t.add_column(col, justify="left" if col in ("impl", "note") else "right",
                     no_wrap=True)
    ring_bytes = next(m["bytes"] for m in mem if m["impl"] == "uhashring")
    for m in mem:
        note = (f"+ {m['per_key']:.0f} B per key placed" if m["per_key"] else "")
        t.add_row(m["impl"], f"{m['bytes'] / 1024:,.1f}", f"{m['bytes'] / m['nodes']:,.0f}",
                  _x(m["bytes"] / ring_bytes), note)
    console.print(t)

    hot = [Hot(**h) for h in res["hot"]]
    balls = next(h for h in hot if h.took_s)
    z = res["zipf"]
    t = Table(title=f"Hot keys: {z['requests']:,} requests over {z['distinct']:,} keys, Zipf "
                    f"s={ZIPF_S}, 100 nodes: requests per node",
              caption=f"the hottest key alone is {z['top_share'] * 100:.1f}% of the "
                      f"requests ({z['top_share'] * 100:.1f}x a node's mean): any scheme "
                      "that sends a key to one node is at least that; bounded "
                      f"cap: 1+ε = {1 + DEFAULT_EPSILON}; the request balls took "
                      f"{balls.took_s:.1f} s to place ({balls.took_s / balls.requests * 1e6:.1f} "
                      "µs each)")
    for col in ("impl", "max/mean", "min/mean", "std %"):
        t.add_column(col, justify="left" if col == "impl" else "right", no_wrap=True)
    for h in hot:
        t.add_row(h.impl, f"{h.max_mean:.2f}", f"{h.min_mean:.2f}", f"{h.std_pct:.1f}")
        if h.impl == "bounded (requests as balls)":
            t.add_section()
    console.print(t)
    m = res["machine"]
    if "plot" in res:
        console.print(f"plot: {res['plot']} ({res['plot_bytes'] / 1024:.0f} KiB)")
    console.print(f"machine: {m['cores']} cores ({m['cpu']}), Python {m['python']}, "
                  f"{m['versions']}; load average (1 min) {m['load_before']:.1f} at the "
                  f"start, {m['load_after']:.1f} at the end; run took {m['seconds']:.0f} s")
    console.print("command: " + res["command"])


# ----------------------------------------------------------------------------- main
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=1_000_000,
                        help="keys for the load table (default 1 000 000)")
    parser.add_argument("--move-keys", type=int, default=200_000,
                        help="of those, the first N for the moves (default 200 000)")
    parser.add_argument("--lookups", type=int, default=200_000,
                        help="most keys per timed lookup pass (default 200 000)")
    parser.add_argument("--requests", type=int, default=1_000_000,
                        help="Zipf requests (default 1 000 000)")
    parser.add_argument("--distinct", type=int, default=100_000,
                        help="distinct keys the requests go to (default 100 000)")
    parser.add_argument("--quick", action="store_true",
                        help="100 000 keys, 100 000 requests over 10 000, lookups over at "
                             "most 20 000 keys")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", nargs="?", const="-", metavar="PATH",
                        help="write the figures as JSON to PATH (no PATH: print them "
                             "instead of the tables)")
    _plots.add_arguments(parser, "hashing-load", "loads per node")
    raw = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(raw)
    if args.quick:
        args.keys, args.requests, args.distinct, args.lookups = 100_000, 100_000, 10_000, 20_000
    args.move_keys = min(args.move_keys, args.keys)
    args.distinct = min(args.distinct, args.move_keys)  # the slow baseline's keys cover them
    start, load_before = time.monotonic(), os.getloadavg()[0]

    keys = make_keys(args.keys, args.seed)
    ranks = zipf_requests(args.distinct, args.requests, args.seed)
    counts = np.bincount(ranks, minlength=args.distinct)
    res: dict[str, Any] = {}
    progress.print("lookups ...")
    res["lookups"] = [asdict(s) for s in speeds(keys, args.lookups)]
    progress.print("load, moves, hot keys ...")
    placed, zipf, agree = placements(keys, args.move_keys, args.distinct, counts)
    res["placements"] = [asdict(p) for p in placed]
    res["agreement"] = [asdict(a) for a in agree]
    progress.print("  hot keys: bounded, requests as balls ...")
    ball_loads, ball_s = request_balls(keys, ranks)
    hot: list[Hot] = []
    for name, loads in zipf.items():
        label = "bounded (keys as balls)" if name == "bounded" else name
        hot.append(Hot(label, args.requests, args.distinct, *spread(loads)))
        if name == "bounded":
            hot.append(Hot("bounded (requests as balls)", args.requests, args.distinct,
                           *spread(ball_loads), took_s=ball_s))
    res["hot"] = [asdict(h) for h in hot]
    res["zipf"] = {"requests": args.requests, "distinct": args.distinct, "s": ZIPF_S,
                   "top_share": float(counts.max()) / args.requests}
    progress.print("memory ...")
    res["memory"] = [asdict(m) for m in memory(keys, min(100_000, args.keys - 1))]
    uniform = {p.impl: [float(x) for x in p.loads] for p in placed if p.nodes == max(SIZES)}
    hot_plot = {**zipf, "bounded": ball_loads}
    png = _plots.target(args)
    if png is not None:
        res["plot"] = _plots.shown(png)
        res["plot_bytes"] = plot(png, uniform, hot_plot, args.keys, args.requests,
                                 args.distinct)
    versions = ", ".join(f"{p} {version(p)}" for p in
                         ("uhashring", "jump-consistent-hash", "clandestined", "xxhash"))
    res["machine"] = {"cores": os.cpu_count(), "cpu": cpu_model(),
                      "python": platform.python_version(), "versions": versions,
                      "load_before": load_before, "load_after": os.getloadavg()[0],
                      "seconds": time.monotonic() - start}
    res["command"] = " ".join(["scripts/bench hashing", *raw])
    if args.json and args.json != "-":
        Path(args.json).write_text(json.dumps(res, indent=2) + "\n")
    if args.json == "-":
        print(json.dumps(res, indent=2))
    else:
        report(res)
    return 0


if __name__ == "__main__":
    sys.exit(main())
