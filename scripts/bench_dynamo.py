"""``scripts/bench dynamo``: the Dynamo store (issue #35), each figure beside a baseline
measured in the same run.

1. **Quorums on real processes.** ``LocalCluster("dynamo", nodes=5, direct=True)`` in a
   temporary directory (options ``n=3``, ``fsync=true``, the rest default), driven by
   ``--clients`` (8) closed-loop clients through one ``DynamoClient``, client i pinned to
   node i mod 5 (``node=``; a node outside the key's top N forwards the request). Pinned
   because the client's own rotation starts every request at the same node (``_call``
   takes ``len(addresses)`` nodes from one shared cycle), which would put every request
   through n1. Half the
   operations put a fresh key, half get one of the last 64 keys acknowledged; for
   (R, W) = (1, 1), (2, 2), (3, 1), set on each request (``r=``/``w=``), one after the
   other on the same cluster, each for ``--seconds`` after a ``--warmup`` not counted:
   ops/s, p50 and p99 of puts and of gets, and *empty reads* (a get of an acknowledged
   key that found nothing: possible only when R + W <= N), and the node processes' CPU
   per operation (utime + stime from /proc over the window). Ratios against (1, 1); and
   the same mix on this project's Raft KV (3 members, fsync on, direct, linearizable
   gets), same clients, same run, for scale. A plot of the latencies goes to
   ``--plot`` (default ``docs/img/dynamo-quorums.png``).
2. **Rebalancing on a join.** A fresh 5-node cluster (defaults ``handoff_interval_ms=500``,
   ``transfer_batch=64``), ``--keys`` (2 000) keys written with W=3; a light load
   (``--light`` clients, 2, pinned to n1 and n2, half puts of fresh keys with W=2, half
   gets with R=2 of the loaded keys) runs ``--seconds`` before the join and all through it; then
   ``add_node``, and the status of every node polled (every 100 ms) until all six hold
   the same ring and no node has a key still moving (and the new node holds keys).
   Reported: keys moved (the sum of the status counters ``moved`` over the old nodes,
   and the new node's ``keys``) against the ideal K·N/(n+1) and against the exact count
   of keys whose top N gains the new node on the ring (``protocols.hashing.Ring``, as
   the nodes build it); the time until every node sees the new ring and until nothing
   moves; the light load's errors and latency during the move against before it; and,
   after it, every loaded key read with R=N (any missing or wrong value is reported).
3. **Anti-entropy, in the simulator** (exact: ``protocols.sim.world.World`` with
   ``protocols.dynamo.sim.ADAPTER``): 3 nodes, N=3 (every node holds every key),
   ``--aae-keys`` (10 000) keys written with W=3; n3 is partitioned away and 1% of the
   keys are rewritten at n1 with W=1 (n1 and n2 take them; hinted handoff off), then the
   partition heals and the world runs until n3 holds every rewritten version. For each
   tree (``anti_entropy=merkle``, ``tictac``; ``aae_interval_ms``, depth 3, fanout 16 at
   their defaults): every exchange's tree bytes, rounds and keys found, from the nodes'
   ``aae`` counters, and the simulated time to repair; against the baseline of sending
   every key's hash both ways (vkv's full digest: ``len(key) + 8`` bytes a key).
4. **The trees' own cost** (``protocols.dynamo.aae``, in this process): ns per write
   (``set`` of a new item hash for a key of a 10 000-key tree), ns per root recompute
   after 1 and after 100 writes (Merkle rehashes dirty segments lazily; Tictac XORs
   O(depth) on each write), a build from 10 000 items and a 1%-damage ``compare``;
   against ``item_hash`` of one version, which every write pays under either tree.

Run: ``scripts/bench dynamo [--seconds S] [--clients N] [--keys K] [--json] [--plot PATH |
--no-plot]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
import timeit
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import _plots  # scripts/ is on sys.path
from bench_twopc import p50_p99
from rich.console import Console
from rich.table import Table

from cluster.runner import LocalCluster
from cluster.waiting import wait_until
from protocols.common.errors import ProtocolError
from protocols.dynamo.aae import MerkleTree, TictacTree, compare, item_hash
from protocols.dynamo.client import DynamoClient
from protocols.dynamo.core import DynamoCore, Get, Put
from protocols.dynamo.sim import ADAPTER
from protocols.hashing import Ring
from protocols.kv.client import KvChannels, KvClient
from protocols.progress import progress_bar
from protocols.sim.world import World

console = Console(width=None if sys.stdout.isatty() else 120)  # a log keeps whole rows
NODES = 5
N = 3
VNODES = 64  # the option's default: the ring the nodes build
QUORUMS = ((1, 1), (2, 2), (3, 1))
RECENT = 64  # gets read one of the last RECENT keys acknowledged
HANDOFF_MS, BATCH = 500, 64  # the defaults, stated: they pace rebalancing


# ----------------------------------------------------------------------------- measuring
@dataclass
class Mix:
    """One closed-loop run of half puts of fresh keys, half gets of recent keys."""

    label: str
    clients: int
    r: int = 0
    w: int = 0
    puts: int = 0
    gets: int = 0
    ops_per_s: float = 0.0
    put_per_s: float = 0.0
    get_per_s: float = 0.0
    put_p50_ms: float = 0.0
    put_p99_ms: float = 0.0
    get_p50_ms: float = 0.0
    get_p99_ms: float = 0.0
    empty_reads: int = 0  # a get of an acknowledged key that found nothing
    errors: int = 0
    server_cpu_ms_per_op: float = 0.0  # utime + stime of the node processes / ops
    error_samples: list[str] = field(default_factory=list)

    def fill(self, put_lat: Sequence[float], get_lat: Sequence[float], elapsed: float
             ) -> None:
        self.puts, self.gets = len(put_lat), len(get_lat)
        self.put_per_s, self.get_per_s = len(put_lat) / elapsed, len(get_lat) / elapsed
        self.ops_per_s = self.put_per_s + self.get_per_s
        self.put_p50_ms, self.put_p99_ms = p50_p99(put_lat)
        self.get_p50_ms, self.get_p99_ms = p50_p99(get_lat)


PutOp = Callable[[int, str, str], Awaitable[None]]
GetOp = Callable[[int, str], Awaitable[bool]]  # found?


def cpu_s(pids: Sequence[int]) -> float:
    """utime + stime of ``pids`` so far, in seconds (from /proc; 0 for one gone)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / os.sysconf("SC_CLK_TCK")


async def mixed_loop(put: PutOp, get: GetOp, mix: Mix, written: list[str], seconds: float,
                     warmup: float, seed: int, pids: Sequence[int] = ()) -> Mix:
    """``mix.clients`` workers, each a coin toss per operation: put a fresh key, or get
    one of the last ``RECENT`` keys of ``written`` (appended once acknowledged).
    Operations started in the warm-up are not counted; the node processes' CPU
    (``pids``) is read over the counted window."""
    start = time.monotonic()
    counted_from, end = start + warmup, start + warmup + seconds
    put_lat: list[float] = []
    get_lat: list[float] = []

    async def worker(i: int) -> None:
        rng = random.Random(f"{seed}/{mix.label}/{i}")
        seq = 0
        while (now := time.monotonic()) < end:
            seq += 1
            counted = now >= counted_from
            is_put = not written or rng.random() < 0.5
            key = (f"{mix.label}.c{i}.{seq}" if is_put
                   else written[-1 - rng.randrange(min(RECENT, len(written)))])
            t = time.perf_counter()
            try:
                if is_put:
                    await put(i, key, f"v{seq}")
                else:
                    found = await get(i, key)
            except ProtocolError as e:
                if counted:
                    mix.errors += 1
                    if len(mix.error_samples) < 3:
                        mix.error_samples.append(f"{type(e).__name__}: {e}")
                continue
            took = time.perf_counter() - t
            if is_put:
                written.append(key)
            if counted:
                (put_lat if is_put else get_lat).append(took)
                mix.empty_reads += (not is_put) and not found

    async def sample_cpu() -> float:
        await asyncio.sleep(warmup)
        return cpu_s(pids)

    sampled = asyncio.create_task(sample_cpu())
    await asyncio.gather(*(worker(i) for i in range(mix.clients)))
    cpu = cpu_s(pids) - await sampled
    mix.fill(put_lat, get_lat, time.monotonic() - counted_from)
    mix.server_cpu_ms_per_op = cpu * 1000 / max(1, mix.puts + mix.gets)
    return mix


async def statuses(c: LocalCluster) -> dict[str, dict[str, str]]:
    """Each node's status details ({} for one that does not answer)."""
    replies = await c.statuses(timeout_s=2.0)
    return {n: dict(s.details) if s is not None else {} for n, s in replies.items()}


async def ring_agreed(c: LocalCluster) -> bool:
    ring = ",".join(sorted(str(n) for n in c.ids))
    return all(d.get("ring") == ring for d in (await statuses(c)).values())


def dynamo_options(**extra: Any) -> dict[str, Any]:
    return {"n": N, "fsync": True, **extra}


# ----------------------------------------------------------------------------- 1. quorums
async def quorums(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="bench-dynamo-") as tmp:
        async with LocalCluster("dynamo", nodes=NODES, data_dir=Path(tmp) / "c",
                                options=dynamo_options(), direct=True) as c, \
                DynamoClient(c.client_addresses, timeout_s=10) as kv:
            await wait_until(lambda: ring_agreed(c), 30, what="every node's ring")
            ids = [str(n) for n in c.ids]  # worker i sends to ids[i % 5] (module doc)
            pids = [c.node(n).pid for n in ids]
            written: list[str] = []
            for i in range(RECENT):
                await kv.put(f"pre{i}", "v", w=N)
                written.append(f"pre{i}")
            for r, w in QUORUMS:
                console.print(f"  dynamo R={r} W={w} ...")

                async def put(i: int, key: str, value: str, w: int = w) -> None:
                    await kv.put(key, value, w=w, node=ids[i % len(ids)])

                async def get(i: int, key: str, r: int = r) -> bool:
                    return bool((await kv.get(key, r=r, node=ids[i % len(ids)]))[0])

                mix = Mix(f"R{r}W{w}", args.clients, r, w)
                out[mix.label] = await mixed_loop(put, get, mix, written, args.seconds,
                                                  args.warmup, args.seed, pids)
    console.print("  raft kv (3 members) ...")
    out["raft"] = await raft_mix(args)
    return out


async def raft_mix(args: argparse.Namespace) -> Mix:
    """The same mix on the Raft KV: 3 members, fsync on, direct, linearizable gets."""
    with tempfile.TemporaryDirectory(prefix="bench-dynamo-raft-") as tmp:
        async with LocalCluster("raft", 3, data_dir=Path(tmp) / "c", direct=True) as c, \
                KvChannels(c.client_addresses) as channels:
            await c.wait_for_leader(deadline_s=20)
            kvs = [KvClient(channels, deadline_s=10) for _ in range(args.clients)]
            written: list[str] = []
            for i in range(RECENT):
                await kvs[0].put(f"pre{i}", "v")
                written.append(f"pre{i}")

            async def put(i: int, key: str, value: str) -> None:
                await kvs[i].put(key, value)

            async def get(i: int, key: str) -> bool:
                return await kvs[i].get(key) is not None

            return await mixed_loop(put, get, Mix("raft", args.clients), written,
                                    args.seconds, args.warmup, args.seed,
                                    [c.node(n).pid for n in c.ids])


# ----------------------------------------------------------------------------- 2. a join
def gains(nodes: Sequence[str], new: str, keys: Sequence[str]) -> int:
    """How many of ``keys`` have ``new`` among their top N once it joins ``nodes``."""
    ring = Ring(VNODES)
    for n in sorted([*nodes, new]):
        ring.add(n)
    return sum(1 for k in keys if new in ring.nodes_for(k, N))


async def rebalance(args: argparse.Namespace) -> dict[str, Any]:
    res: dict[str, Any] = {"keys": args.keys, "handoff_interval_ms": HANDOFF_MS,
                           "transfer_batch": BATCH, "light_clients": args.light}
    options = dynamo_options(handoff_interval_ms=HANDOFF_MS, transfer_batch=BATCH)
    with tempfile.TemporaryDirectory(prefix="bench-dynamo-join-") as tmp:
        async with LocalCluster("dynamo", nodes=NODES, data_dir=Path(tmp) / "c",
                                options=options, direct=True) as c, \
                DynamoClient(c.client_addresses, timeout_s=10) as kv:
            await wait_until(lambda: ring_agreed(c), 30, what="every node's ring")
            loaded = [f"key{i:06d}" for i in range(args.keys)]
            console.print(f"  loading {args.keys} keys with W={N} ...")
            t = time.monotonic()
            queue = iter(loaded)

            async def loader() -> None:
                for key in queue:
                    await kv.put(key, "v-" + key, w=N)

            await asyncio.gather(*(loader() for _ in range(args.clients)))
            res["load_s"] = time.monotonic() - t
            before = await statuses(c)
            res["keys_before"] = {n: int(d["keys"]) for n, d in before.items()}
            old = [str(n) for n in c.ids]
            # the light load: samples (start, latency, kind, error) all the way through
            samples: list[tuple[float, float, str, str]] = []
            written: list[str] = []
            stop = asyncio.Event()

            async def light(i: int) -> None:
                rng = random.Random(f"{args.seed}/light/{i}")
                seq = 0
                while not stop.is_set():
                    seq += 1
                    is_put = rng.random() < 0.5
                    t0 = time.monotonic()
                    error = ""
                    try:
                        if is_put:
                            key = f"light.c{i}.{seq}"
                            await kv.put(key, "w", w=2, node=old[i % len(old)])
                            written.append(key)
                        else:
                            key = loaded[rng.randrange(len(loaded))]
                            got = await kv.get(key, r=2, node=old[i % len(old)])
                            if got[0] != ["v-" + key]:
                                error = "wrong value"
                    except ProtocolError as e:
                        error = f"{type(e).__name__}: {e}"
                    samples.append((t0, time.monotonic() - t0, "put" if is_put else "get",
                                    error))

            console.print(f"  light load ({args.light} clients) {args.seconds:.0f} s, "
                          "then a node joins ...")
            workers = [asyncio.create_task(light(i)) for i in range(args.light)]
            try:
                await asyncio.sleep(args.seconds)
                new = f"n{NODES + 1}"
                ids = [*old, new]
                ring = ",".join(sorted(ids))
                seen: dict[str, Any] = {"up_at": None, "ring_at": None, "polls": 0,
                                        "max_moving": 0, "last": {}}

                async def poll() -> dict[str, dict[str, str]]:
                    async def one(n: str) -> dict[str, str]:
                        if n not in c.nodes:  # add_node has not registered it yet
                            return {}
                        st = await c.status(n, timeout_s=2.0)
                        return dict(st.details) if st is not None else {}
                    return dict(zip(ids, await asyncio.gather(*(one(n) for n in ids)),
                                    strict=True))

                async def settled() -> bool:
                    d = await poll()
                    now = time.monotonic()
                    seen["polls"] += 1
                    seen["last"] = d
                    moving = sum(int(x.get("moving", "0") or 0) for x in d.values())
                    seen["max_moving"] = max(seen["max_moving"], moving)
                    if d[new] and seen["up_at"] is None:
                        seen["up_at"] = now
                    agreed = all(x.get("ring") == ring for x in d.values())
                    if agreed and seen["ring_at"] is None:
                        seen["ring_at"] = now
                    return (agreed and moving == 0
                            and all(x.get("hinted") == "0" for x in d.values())
                            and int(d[new].get("keys", "0")) > 0)

                t_join = time.monotonic()
                watch = asyncio.create_task(wait_until(
                    settled, 180, describe=lambda: seen["last"], interval_s=0.1,
                    what="the join to settle"))
                try:
                    await c.add_node(new)
                    t_added = time.monotonic()
                    await watch
                finally:
                    watch.cancel()
                t_done = time.monotonic()
            finally:
                stop.set()
                await asyncio.gather(*workers, return_exceptions=True)
            after: dict[str, dict[str, str]] = seen["last"]
            res |= {"new": new, "add_node_s": t_added - t_join,
                    "up_s": (seen["up_at"] or t_done) - t_join,
                    "ring_s": (seen["ring_at"] or t_done) - t_join,
                    "settle_s": t_done - t_join,
                    "polls": seen["polls"], "max_moving": seen["max_moving"],
                    "keys_after": {n: int(d["keys"]) for n, d in after.items()},
                    "moved": sum(int(after[n]["moved"]) - int(before[n]["moved"])
                                 for n in old),
                    "dropped": sum(int(after[n]["dropped"]) - int(before[n]["dropped"])
                                   for n in old),
                    "ideal": args.keys * N / (NODES + 1),
                    "gains_loaded": gains(old, new, loaded),
                    "gains_all": gains(old, new, loaded + written),
                    "light_written": len(written),
                    "stats_after": {n: {k: d.get(k, "") for k in (
                        "moved", "dropped", "handed_off", "hinted_writes", "unavailable",
                        "forwarded", "ring_changes", "repairs")} for n, d in after.items()}}
            res["new_keys"] = res["keys_after"][new]
            for name, lo, hi in (("before", t_join - args.seconds, t_join),
                                 ("during", t_join, t_done)):
                res[f"light_{name}"] = light_window(samples, lo, hi)
            console.print(f"  reading the {args.keys} keys back with R={N} ...")
            res["lost"] = await read_back(kv, loaded, args.clients)
    return res


def light_window(samples: Sequence[tuple[float, float, str, str]], lo: float, hi: float
                 ) -> dict[str, Any]:
    inside = [s for s in samples if lo <= s[0] < hi]
    out: dict[str, Any] = {"seconds": hi - lo, "ops": len(inside)}
    for kind in ("put", "get"):
        ok = [s[1] for s in inside if s[2] == kind and not s[3]]
        out[f"{kind}_p50_ms"], out[f"{kind}_p99_ms"] = p50_p99(ok)
        out[f"{kind}_max_ms"] = max(ok, default=0.0) * 1000
        out[f"{kind}s"] = len(ok)
    bad = [s[3] for s in inside if s[3]]
    out["errors"] = len(bad)
    out["error_samples"] = sorted(set(bad))[:5]
    return out


async def read_back(kv: DynamoClient, keys: Sequence[str], clients: int) -> list[str]:
    """Keys whose read with R=N does not give back the value loaded."""
    lost: list[str] = []
    queue = iter(keys)

    async def reader() -> None:
        for key in queue:
            try:
                values, _ = await kv.get(key, r=N)
            except ProtocolError as e:
                lost.append(f"{key}: {type(e).__name__}: {e}")
                continue
            if values != ["v-" + key]:
                lost.append(f"{key}: {values}")

    await asyncio.gather(*(reader() for _ in range(clients)))
    return lost


# ----------------------------------------------------------------------------- 3. aae, sim
def _core(w: World, n: str) -> DynamoCore:
    c = w.core(n)
    assert isinstance(c, DynamoCore)
    return c


def _calls(w: World, node: str, commands: Sequence[Any], batch: int = 500) -> list[Any]:
    """Submit ``commands`` to ``node``, ``batch`` at a time; their answers' results."""
    results: list[Any] = []
    for i in range(0, len(commands), batch):
        rids = [w.submit(node, cmd) for cmd in commands[i:i + batch]]

        def answered(rids: list[Any] = rids) -> bool:
            return all(r in w.answers for r in rids)

        w.run_until(answered, 60_000)
        for r in rids:
            answer = w.answers[r]
            if answer.error is not None:
                raise RuntimeError(f"{commands[i]!r}: {answer.error}")
            results.append(answer.result)
    return results


def aae_sim(tree: str, keys: int, damage: float, seed: int) -> dict[str, Any]:
    w = World(ADAPTER, 3, seed, options={"n": N, "r": 1, "w": 1, "anti_entropy": tree,
                                         "handoff_interval_ms": 10**9})
    names = [f"key{i:06d}" for i in range(keys)]
    _calls(w, "n1", [Put(k, "v0", w=N) for k in names])
    w.run_for(100)
    cores = {str(n): _core(w, n) for n in w.ids}
    assert all(len(c.store) == keys for c in cores.values())
    w.partition([["n3"], ["n1", "n2"]])
    w.run_until(lambda: not cores["n1"].healthy("n3") and not cores["n2"].healthy("n3"),
                10_000)
    hit = random.Random(seed).sample(names, max(1, round(keys * damage)))
    contexts = [ctx for _values, ctx in _calls(w, "n1", [Get(k, r=1) for k in hit])]
    _calls(w, "n1", [Put(k, "v1", ctx, w=1) for k, ctx in zip(hit, contexts, strict=True)])
    n3 = cores["n3"]
    behind = [k for k in hit if n3._encode(n3.store[k]) != cores["n1"]._encode(
        cores["n1"].store[k])]
    counters = {n: dict(c.aae) for n, c in cores.items()}
    exchanges: list[dict[str, Any]] = []

    def repaired() -> bool:
        for n, c in cores.items():
            if c.aae["exchanges"] != counters[n]["exchanges"]:
                delta = {k: c.aae[k] - counters[n][k] for k in c.aae}
                exchanges.append({"at_ms": w.now - healed, "node": n, **delta})
                counters[n] = dict(c.aae)
        one = cores["n1"]
        return all(k in n3.store and n3._encode(n3.store[k]) == one._encode(one.store[k])
                   for k in behind)

    w.heal()
    healed = w.now
    wall = time.perf_counter()
    w.run_until(repaired, 120_000)
    took_ms = w.now - healed
    wall = time.perf_counter() - wall
    # what a write costs n1 to keep its trees (``_index``: per peer tree, the key's owners
    # from the ring, its version encoded and hashed), beside one owners() lookup
    one, sample = cores["n1"], names[:2000]

    def upkeep() -> None:
        for k in sample:
            one._index(k)

    index_ns = min(timeit.repeat(upkeep, number=1, repeat=3)) / len(sample) * 1e9
    owners_ns = min(timeit.repeat(lambda: [one.owners(k) for k in sample], number=1,
                                  repeat=3)) / len(sample) * 1e9
    # the baseline: every key's (key, 8-byte hash) sent each way, once per exchange
    full = 2 * sum(len(k.encode()) + 8 for k in names)
    found = [e for e in exchanges if e["keys_repaired"]]
    return {"tree": tree, "keys": keys, "damage": damage, "damaged": len(behind),
            "repair_ms": took_ms,
            "wall_s": wall, "exchanges": exchanges,
            "tree_bytes": sum(e["tree_bytes"] for e in exchanges),
            "rounds": sum(e["rounds"] for e in exchanges),
            "repair_bytes": sum(e["repair_bytes"] for e in exchanges),
            "keys_repaired": sum(e["keys_repaired"] for e in exchanges),
            "first_found_bytes": found[0]["tree_bytes"] if found else 0,
            "first_found_ms": found[0]["at_ms"] if found else 0,
            "full_digest_bytes": full, "index_ns": index_ns, "owners_ns": owners_ns,
            "trees_at_n1": len(one.trees),
            "aae_interval_ms": 2000}


# ----------------------------------------------------------------------------- 4. trees
def _ns(stmt: Callable[[], Any], number: int) -> float:
    """ns per call of ``stmt``: the best of 5 runs of ``number`` calls."""
    return min(timeit.repeat(stmt, number=number, repeat=5)) / number * 1e9


def tree_costs(keys: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    names = [f"key{i:06d}" for i in range(keys)]
    items = {k: rng.getrandbits(64) for k in names}
    version = b"\x01" * 40  # about an encoded one-sibling DVV
    cycle = iter(range(10**12))
    plain: dict[str, int] = dict(items)

    def dict_write() -> None:  # the loop's own cost: the same key choice, a dict store
        i = next(cycle)
        plain[names[i % keys]] = i

    out: dict[str, Any] = {"keys": keys,
                           "item_hash_ns": _ns(lambda: item_hash("key000123", version),
                                               20_000),
                           "dict_set_ns": _ns(dict_write, 20_000)}
    for cls in (MerkleTree, TictacTree):
        name = cls.__name__.removesuffix("Tree").lower()
        tree = cls.from_items(items)
        tree.root()

        def write(tree: Any = tree) -> None:
            i = next(cycle)
            tree.set(names[i % keys], i)

        def write_root(k: int, tree: Any = tree) -> None:
            for _ in range(k):
                write(tree)
            tree.root()

        out[f"{name}_set_ns"] = _ns(write, 20_000)
        tree.root()
        out[f"{name}_set_root_ns"] = _ns(lambda: write_root(1), 5_000)
        out[f"{name}_100_sets_root_ns"] = _ns(lambda: write_root(100), 50)
        def build(cls: Any = cls) -> None:
            cls.from_items(items).root()

        out[f"{name}_build_ms"] = _ns(build, 1) / 1e6
        a, b = cls.from_items(items), cls.from_items(items)
        for k in rng.sample(names, keys // 100):
            b.set(k, rng.getrandbits(64))
        a.root(), b.root()

        def exchange(a: Any = a, b: Any = b) -> None:
            compare(a, b)

        out[f"{name}_compare_ms"] = _ns(exchange, 3) / 1e6
    return out


# ----------------------------------------------------------------------------- the run
async def run_all(args: argparse.Namespace) -> dict[str, Any]:
    """The parts asked for with ``--only``, in order (a progress bar over them on a
    terminal's stderr: each part one step, each anti-entropy run one)."""
    res: dict[str, Any] = {}
    aae_runs = 2 * len(args.damage) + 1 if "aae" in args.only else 0
    steps = ("quorums" in args.only) + ("join" in args.only) + aae_runs
    with progress_bar("dynamo", total=steps) as bar:
        if "quorums" in args.only:
            console.print("1. quorums on real processes")
            res["quorums"] = {k: asdict(v) for k, v in (await quorums(args)).items()}
            bar.advance(note="quorums")
        if "join" in args.only:
            console.print("2. rebalancing on a join")
            res["join"] = await rebalance(args)
            bar.advance(note="join")
        if "aae" in args.only:
            console.print(f"3. anti-entropy in the simulator ({args.aae_keys} keys)")
            res["aae"] = []
            for damage in args.damage:
                for tree in ("merkle", "tictac"):
                    console.print(f"  {tree}, {damage:.1%} damaged ...")
                    res["aae"].append(aae_sim(tree, args.aae_keys, damage, args.seed))
                    bar.advance(note=f"{tree} {damage:.1%}")
            console.print("4. the trees' own cost")
            res["trees"] = tree_costs(args.aae_keys, args.seed)
            bar.advance(note="trees")
    return res


# ----------------------------------------------------------------------------- report
def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}x" if b else ""


def _table(title: str, cols: Sequence[str], caption: str | None = None) -> Table:
    t = Table(title=title, caption=caption)
    for i, col in enumerate(cols):
        t.add_column(col, justify="left" if i == 0 else "right", no_wrap=i == 0)
    return t


def report_quorums(q: dict[str, Any], clients: int) -> None:
    base = q["R1W1"]
    t = _table(f"Dynamo, {NODES} nodes, N={N}, fsync on, {clients} clients: half puts of "
               "fresh keys, half gets of recent keys",
               ("run", "ops/s", "put p50", "put p99", "get p50", "get p99", "empty",
                "err", "cpu/op", "x ops/s", "x put p50", "x get p50"),
               caption="ms; x: ratio against R=1 W=1; R, W set on each request; empty: "
                       "gets of an acknowledged key that found nothing; cpu/op: ms of "
                       "the node processes' CPU per operation; raft: the Raft KV, 3 "
                       "members, same mix, linearizable gets")
    for name, label in (("R1W1", "R=1 W=1"), ("R2W2", "R=2 W=2"), ("R3W1", "R=3 W=1"),
                        ("raft", "raft kv (3 members)")):
        r = q[name]
        t.add_row(label, f"{r['ops_per_s']:,.0f}",
                  f"{r['put_p50_ms']:.1f}", f"{r['put_p99_ms']:.1f}",
                  f"{r['get_p50_ms']:.1f}",
                  f"{r['get_p99_ms']:.1f}", str(r["empty_reads"]), str(r["errors"]),
                  f"{r['server_cpu_ms_per_op']:.2f}",
                  _ratio(r["ops_per_s"], base["ops_per_s"]),
                  _ratio(r["put_p50_ms"], base["put_p50_ms"]),
                  _ratio(r["get_p50_ms"], base["get_p50_ms"]))
    console.print(t)


def report_join(j: dict[str, Any]) -> None:
    t = _table(f"A 6th node joins {NODES} holding {j['keys']:,} keys (N={N}; times from "
               "the add_node call; "
               f"handoff_interval_ms={j['handoff_interval_ms']}, "
               f"transfer_batch={j['transfer_batch']})", ("measure", "value", "/ ideal"))
    t.add_row("ideal K·N/(n+1)", f"{j['ideal']:,.0f}", "1.00x")
    t.add_row("loaded keys whose top N gains the new node (ring)", f"{j['gains_loaded']:,}",
              _ratio(j["gains_loaded"], j["ideal"]))
    t.add_row("new node's keys", f"{j['new_keys']:,}", _ratio(j["new_keys"], j["ideal"]))
    t.add_row("  keys it should own (loaded + light puts, ring)", f"{j['gains_all']:,}",
              _ratio(j["gains_all"], j["ideal"]))
    t.add_row("transfers (sum of old nodes' `moved`)", f"{j['moved']:,}",
              _ratio(j["moved"], j["ideal"]))
    t.add_row("  transfers per key the new node holds", _ratio(j["moved"], j["new_keys"]),
              "")
    t.add_row("dropped by old nodes", f"{j['dropped']:,}", _ratio(j["dropped"], j["ideal"]))
    t.add_row("light-load puts meanwhile (W=2)", f"{j['light_written']:,}", "")
    t.add_row("add_node returned (process up, SERVING)", f"{j['add_node_s']:.2f} s", "")
    t.add_row("new node answers Status", f"{j['up_s']:.2f} s", "")
    t.add_row("every node has the new ring", f"{j['ring_s']:.2f} s", "")
    t.add_row("nothing moves, no hint (rebalanced)", f"{j['settle_s']:.2f} s", "")
    t.add_row("  rebalancing proper (ring to rebalanced)",
              f"{j['settle_s'] - j['ring_s']:.2f} s", "")
    t.add_row("most keys moving at one poll (sum)", f"{j['max_moving']:,}", "")
    t.add_row(f"loaded keys wrong or missing at R={N} after", str(len(j["lost"])), "")
    console.print(t)
    b, d = j["light_before"], j["light_during"]
    t = _table(f"Light load ({j['light_clients']} clients, R=2 W=2) before and during the "
               "move", ("window", "s", "ops", "put p50", "put p99", "put max", "get p50",
                        "get p99", "get max", "errors", "get p50 / before"))
    for name, r in (("before", b), ("during the move", d)):
        t.add_row(name, f"{r['seconds']:.1f}", str(r["ops"]), f"{r['put_p50_ms']:.2f}",
                  f"{r['put_p99_ms']:.2f}", f"{r['put_max_ms']:.1f}",
                  f"{r['get_p50_ms']:.2f}", f"{r['get_p99_ms']:.2f}",
                  f"{r['get_max_ms']:.1f}", str(r["errors"]),
                  _ratio(r["get_p50_ms"], b["get_p50_ms"]))
    console.print(t)
    for r in (b, d):
        for e in r["error_samples"]:
            console.print(f"[red]light load error: {e}[/red]")
    for e in j["lost"][:5]:
        console.print(f"[red]after the join: {e}[/red]")


def report_aae(runs: list[dict[str, Any]], trees: dict[str, Any]) -> None:
    first = runs[0]
    t = _table(f"Anti-entropy in the simulator: 3 nodes, N=3, {first['keys']:,} keys, some "
               "rewritten while n3 was cut off",
               ("tree", "damaged", "exchanges", "rounds", "tree bytes",
                "the exchange that found it", "/ full digest", "repair bytes",
                "keys repaired", "repaired after"),
               caption="full digest: every key and an 8-byte hash, both ways "
                       f"({first['full_digest_bytes']:,} bytes an exchange); "
                       "aae_interval_ms 2000, depth 3, fanout 16; simulated ms from the "
                       "heal")
    for r in runs:
        t.add_row(r["tree"], f"{r['damaged']:,} ({r['damage']:.1%})",
                  str(len(r["exchanges"])), str(r["rounds"]), f"{r['tree_bytes']:,}",
                  f"{r['first_found_bytes']:,}",
                  _ratio(r["first_found_bytes"], r["full_digest_bytes"]),
                  f"{r['repair_bytes']:,}", f"{r['keys_repaired']:,}",
                  f"{r['repair_ms']:,} ms")
    console.print(t)
    for r in runs[:2]:
        console.print(f"  {r['tree']}: a write's tree upkeep at n1 (``_index``, "
                      f"{r['trees_at_n1']} peer trees): {r['index_ns']:,.0f} ns; one "
                      f"owners() lookup: {r['owners_ns']:,.0f} ns")
    for r in runs:
        console.print(f"  {r['tree']} {r['damage']:.1%}: " + "; ".join(
            f"{e['at_ms']} ms {e['node']} {e['tree_bytes']} B {e['rounds']} rounds "
            f"{e['keys_repaired']} keys" for e in r["exchanges"]))
    h, d = trees["item_hash_ns"], trees["dict_set_ns"]
    t = _table(f"The trees' own cost ({trees['keys']:,} keys, depth 3, fanout 16)",
               ("measure", "merkle", "tictac", "merkle / tictac", "merkle / item_hash",
                "tictac / item_hash"),
               caption=f"item_hash of one 40-byte version: {h:,.0f} ns (both trees pay it "
                       f"on every write); the loop storing into a plain dict: {d:,.0f} ns")
    for label, key, unit, scale in (
            ("set (one write)", "set_ns", "ns", 1.0),
            ("set + root", "set_root_ns", "ns", 1.0),
            ("100 sets + root", "100_sets_root_ns", "µs", 1e-3),
            ("build from items + root", "build_ms", "ms", 1.0),
            ("compare, 1% differing", "compare_ms", "ms", 1.0)):
        m, x = trees[f"merkle_{key}"], trees[f"tictac_{key}"]
        hm, hx = (_ratio(m, h), _ratio(x, h)) if unit == "ns" else ("", "")
        t.add_row(label, f"{m * scale:,.1f} {unit}", f"{x * scale:,.1f} {unit}",
                  _ratio(m, x), hm, hx)
    console.print(t)


def plot(path: Path, q: dict[str, Any], clients: int) -> int:
    """p50 and p99 of puts and of gets per (R, W) and the Raft KV (``q``: the quorum
    runs' figures by name); the PNG's bytes."""
    runs = [("R1W1", "R=1 W=1"), ("R2W2", "R=2 W=2"), ("R3W1", "R=3 W=1"),
            ("raft", "Raft KV")]
    fig, axes = _plots.figure(2, 9, 3.4, sharey=True)
    for ax, kind in zip(axes, ("put", "get"), strict=True):
        _plots.grouped_bars(ax, [label for _, label in runs],
                            {p: [q[r][f"{kind}_{p}_ms"] for r, _ in runs]
                             for p in ("p50", "p99")})
        ax.set_title(f"{kind}s", fontsize=10)
    axes[0].set_ylabel("latency, ms", fontsize=9)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"Dynamo on {NODES} processes, N={N}, fsync on, {clients} clients, half puts "
                 "/ half gets; the Raft KV (3) beside it", fontsize=10)
    return _plots.save(fig, path, dpi=72)  # the committed figure's size


def report(res: dict[str, Any], args: argparse.Namespace, took_s: float) -> None:
    if "quorums" in res:
        report_quorums(res["quorums"], args.clients)
        png = _plots.target(args)
        if png is not None:
            console.print(_plots.wrote(png, plot(png, res["quorums"], args.clients)))
        for name, r in res["quorums"].items():
            for e in r["error_samples"]:
                console.print(f"[red]{name}: {e}[/red]")
    if "join" in res:
        report_join(res["join"])
    if "aae" in res:
        report_aae(res["aae"], res["trees"])
    console.print(f"machine: {os.cpu_count()} cores, the node processes and the clients "
                  f"share them; load average (1 min) {res['load_before']:.1f} at the start, "
                  f"{res['load_after']:.1f} at the end; run took {took_s:.0f} s")
    console.print("command: scripts/bench dynamo " + " ".join(args.argv))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0,
                        help="measured seconds per quorum run, and of light load before "
                             "the join (default 5)")
    parser.add_argument("--warmup", type=float, default=1.0,
                        help="seconds of each quorum run not counted (default 1)")
    parser.add_argument("--clients", type=int, default=8,
                        help="closed-loop clients (default 8)")
    parser.add_argument("--keys", type=int, default=2000,
                        help="keys loaded before the join (default 2000)")
    parser.add_argument("--light", type=int, default=2,
                        help="clients of the light load during the join (default 2)")
    parser.add_argument("--aae-keys", type=int, default=10_000,
                        help="keys in the anti-entropy runs and the trees (default 10000)")
    parser.add_argument("--damage", type=lambda v: [float(x) for x in v.split(",")],
                        default=[0.001, 0.01, 0.1],
                        help="fractions of the keys damaged (default 0.001,0.01,0.1)")
    parser.add_argument("--only", type=lambda v: v.split(","),
                        default=["quorums", "join", "aae"],
                        help="parts to run, comma-separated: quorums,join,aae")
    _plots.add_arguments(parser, "dynamo-quorums", "the quorums' latencies")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
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
    bad = [k for k, v in res.get("quorums", {}).items() if not (v["puts"] and v["gets"])]
    lost = res.get("join", {}).get("lost", [])
    if bad or lost:
        console.print(f"[red]no put or no get in {bad}; {len(lost)} keys lost after the "
                      "join[/red]")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
