"""Every benchmark's figure (``scripts/bench <name> --plot PATH``) is drawn from data shaped
as its bench makes it, and comes out a valid PNG that says what it shows; and every
image the docs link to exists.

The data come from the benches' own measuring code wherever that is quick: their closed
loops run for a few milliseconds against in-process operations, the SWIM simulator at 8
and 16 members, the hashing schemes at 10 nodes. Only the Raft rows (proposals at the
leader need a cluster and PySyncObj) are the figures of a documented run, typed in (their
latencies by Little's law). The hashing figure (16 panels, ~2 s) is in the slow suite;
the drawing code it shares (``scripts/_plots.py``) is exercised by the others.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import _plots  # noqa: E402

T = TypeVar("T")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MOMENT = 0.005  # seconds a closed loop runs here: enough for a few hundred operations


def assert_png(path: Path, size: int, *words: str) -> None:
    """``path`` is the PNG of ``size`` bytes the plot said it wrote: well formed (PIL
    verifies its chunks and CRCs, matplotlib decodes its pixels), at most 150 KB, not
    blank, and its text names ``words`` (the titles and axis labels ``_plots.save``
    writes into it)."""
    from matplotlib.image import imread
    from PIL import Image

    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path} is not a PNG"
    assert size == len(data) <= 150_000, f"{path}: {len(data)} bytes (said {size})"
    with Image.open(path) as image:
        image.verify()
    with Image.open(path) as image:
        text = " ".join(str(v) for v in getattr(image, "text", {}).values())
        width, height = image.size
    assert width >= 600 and height >= 200, f"{path}: {width}x{height}"
    pixels = imread(path)
    assert pixels.shape[:2] == (height, width)
    assert pixels.min() < pixels.max(), f"{path} is one colour"
    for word in words:
        assert word in text, f"{path} does not say {word!r}: {text!r}"


def until_some(measure: Callable[[], Awaitable[T]], counted: Callable[[T], bool]) -> T:
    """``measure()`` (a bench's time-bound loop) again until ``counted`` holds of what it
    returns: on a loaded machine the whole window may pass before a worker starts."""
    for _ in range(100):
        got = asyncio.run(measure())
        if counted(got):
            return got
    raise AssertionError("100 windows of the loop counted nothing")


async def instant(*_: Any) -> None:
    """An operation that completes at once: the loops still time every call."""
    await asyncio.sleep(0)


# ----------------------------------------------------------------------------- kv
def test_kv_latency_cdf_from_the_latencies_the_workloads_keep(tmp_path: Path) -> None:
    import bench_kv

    kept: list[float] = []
    figures = asyncio.run(bench_kv.closed_loop(instant, 64, MOMENT, kept))
    assert len(kept) == figures["ops"]  # every operation's latency, not a sample of them

    async def workloads() -> bench_kv.Samples:
        samples: bench_kv.Samples = {}
        await bench_kv.workloads(instant, instant, [os.getpid()], MOMENT, samples)
        return samples

    samples = {system: until_some(workloads, lambda s: all(s.values()))
               for system in ("raft", "etcd")}
    assert set(samples["raft"]) == {"put1", "put64", "get1"}
    samples["raft"]["get1_lease"] = samples["raft"]["get1"][::2]
    png = tmp_path / "kv.png"
    size = bench_kv.plot(png, samples, runs=1, seconds=MOMENT)
    assert_png(png, size, "put, 1 in flight", "put, 64 in flight",
               "linearizable get, 1 in flight", "latency, ms", "fraction of operations")


# ----------------------------------------------------------------------------- raft
# proposals/s at 1, 64, 1 000, 3 000 in flight: scripts/bench raft --seconds 3, 2026-12-01
# (docs/benchmarks.md)
DOCUMENTED = {"ours, fsync on": (951, 14_399, 43_975, 47_598),
              "ours, fsync OFF": (1_543, 25_786, 53_638, 52_682),
              "PySyncObj, batch on": (10, 638, 8_769, 23_839),
              "PySyncObj, batch off": (1_691, 10_998, 12_243, 11_534)}


def test_raft_throughput_against_in_flight(tmp_path: Path) -> None:
    import bench_raft

    rows = [{"system": system, "in_flight": n, "ops_per_s": float(ops),
             "p50_ms": n / ops * 1000, "p99_ms": 2 * n / ops * 1000,  # Little's law
             "failed": 0}  # keys and order as main_async builds leader_proposals
            for system, points in DOCUMENTED.items()
            for n, ops in zip((1, 64, 1000, 3000), points, strict=True)]
    png = tmp_path / "raft.png"
    size = bench_raft.plot(png, rows, seconds=3)
    assert_png(png, size, "calls in flight at the leader", "committed proposals / s",
               "p50 latency")


# ----------------------------------------------------------------------------- swim
def test_swim_detection_and_messages_against_n_from_the_simulator(tmp_path: Path) -> None:
    import bench_swim

    rows = [bench_swim.scaling(n, seed=1, window=5) for n in (8, 16)]
    assert all(r["anti_entropy_requests_per_member_period"] >= 0 for r in rows)
    png = tmp_path / "swim.png"
    size = bench_swim.plot(png, rows)
    assert_png(png, size, "members N", "protocol periods after the event",
               "requests / member / period", "bytes / member / period")


# ----------------------------------------------------------------------------- twopc
def loads_like_run_all(keys: list[str]) -> dict[str, dict[str, Any]]:
    """A ``bench_twopc.Load`` per key as ``run_all`` returns them (``asdict``): the
    bench's closed loop over an instant operation, once at 8 clients and once at 1 (the
    keys with "1 client" or "c1"), each labelled for its key."""
    from dataclasses import asdict, replace

    import bench_twopc

    def closed_loop(clients: int) -> bench_twopc.Load:
        return until_some(lambda: bench_twopc.closed_loop(
            instant, bench_twopc.Load("", 1, clients, {}), MOMENT, 0.0),
            lambda load: load.txns > 0)

    by_clients = {n: closed_loop(n) for n in (1, 8)}
    return {key: asdict(replace(by_clients[1 if "1 client" in key or key.endswith("c1")
                                           else 8], label=key)) for key in keys}


def test_twopc_p50_p99_per_shard_count(tmp_path: Path) -> None:
    import bench_twopc

    keys = [f"{base}{tail}" for base in ("1 shard", "2 shards", "4 shards", "3pc 2 shards",
                                         "3pc 4 shards", "kv put") for tail in ("", ", 1 client")]
    loads = loads_like_run_all(keys)
    png = tmp_path / "twopc.png"
    size = bench_twopc.plot(png, loads, clients=8)
    assert_png(png, size, "8 clients, closed loop", "1 client", "latency, ms")


# ----------------------------------------------------------------------------- txnkv
def test_txnkv_commits_per_range_count_and_offsets(tmp_path: Path) -> None:
    import bench_txnkv

    keys = [f"{commit} x{r} c{c}" for c in (1, 8) for commit in ("parallel", "two-round")
            for r in (1, 2, 4)]
    keys += ["raft kv put c1", "raft kv put c8", *(f"offset {o}" for o in bench_txnkv.OFFSETS)]
    loads = loads_like_run_all(keys)
    uncertainty = {o: {"restarts": i, "per_read": i / loads[f"offset {o}"]["txns"]}
                   for i, o in enumerate(bench_txnkv.OFFSETS)}  # as run_all counts them
    png = tmp_path / "txnkv.png"
    size = bench_txnkv.plot(png, {"loads": loads, "clients": 8, "uncertainty": uncertainty})
    assert_png(png, size, "1 client, a transaction every 50 ms", "transactions / s",
               "uncertainty restarts / read", "max_offset")


# ----------------------------------------------------------------------------- dynamo
def test_dynamo_quorum_latencies(tmp_path: Path) -> None:
    from dataclasses import asdict

    import bench_dynamo

    store: dict[str, str] = {}

    async def put(_i: int, key: str, value: str) -> None:
        store[key] = value

    async def get(_i: int, key: str) -> bool:
        await asyncio.sleep(0)
        return key in store

    written: list[str] = []

    def mix(label: str) -> dict[str, Any]:
        return asdict(until_some(lambda: bench_dynamo.mixed_loop(
            put, get, bench_dynamo.Mix(label, 8), written, MOMENT, 0.0, seed=1),
            lambda m: m.puts > 0 and m.gets > 0))

    q = {label: mix(label) for label in ("R1W1", "R2W2", "R3W1", "raft")}
    assert all(m["empty_reads"] == 0 for m in q.values())  # a get only of a key put
    png = tmp_path / "dynamo.png"
    size = bench_dynamo.plot(png, q, clients=8)
    assert_png(png, size, "puts", "gets", "latency, ms")


# ----------------------------------------------------------------------------- hashing
@pytest.mark.slow  # 16 panels: ~2 s of CPU, the default suite's whole share for a figure
def test_hashing_load_per_node(tmp_path: Path) -> None:
    import bench_hashing as bh

    keys = bh.make_keys(1000, seed=1)
    nodes = bh.node_names(10)
    ranks = bh.zipf_requests(100, 1000, seed=1)
    uniform, hot = {}, {}
    for s in bh.SUBJECTS:
        if s.name in (*bh.OURS, bh.FLOOR):  # the plot's panels, placed as placements() does
            f = s.build(nodes).node_for
            owners = [f(k) for k in keys]
            per_key, per_request = Counter(owners), Counter(owners[r] for r in ranks)
            uniform[s.name] = [float(per_key[n]) for n in nodes]
            hot[s.name] = [float(per_request[n]) for n in nodes]
    png = tmp_path / "hashing.png"
    size = bh.plot(png, uniform, hot, len(keys), len(ranks), 100)
    assert_png(png, size, "load / mean", "uniform", "Zipf")


# ----------------------------------------------------------------------------- flags
def test_plot_and_no_plot_flags() -> None:
    import argparse

    parser = argparse.ArgumentParser()
    _plots.add_arguments(parser, "demo", "a demo")
    assert _plots.target(parser.parse_args([])) == ROOT / "docs" / "img" / "demo.png"
    assert _plots.target(parser.parse_args(["--plot", "x.png"])) == Path("x.png")
    assert _plots.target(parser.parse_args(["--no-plot"])) is None
    assert _plots.target(parser.parse_args(["--plot", ""])) is None
    with pytest.raises(SystemExit):
        parser.parse_args(["--plot", "x.png", "--no-plot"])


# ----------------------------------------------------------------------------- docs
IMAGE = re.compile(r"!\[[^\]]*\]\(([^)\s]+)")


def test_every_image_the_docs_show_exists() -> None:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    linked = [(page, target) for page in pages for target in IMAGE.findall(page.read_text())
              if "://" not in target]
    missing = [f"{page.relative_to(ROOT)}: {target}" for page, target in linked
               if not (page.parent / target).is_file()]
    assert linked, "no image link found: the pattern is wrong"
    assert missing == [], f"image links to no file: {missing}"
    for page, target in linked:
        if target.endswith(".png"):  # the committed figures: real PNGs, kept small
            data = (page.parent / target).read_bytes()
            assert data[:8] == PNG_SIGNATURE and len(data) <= 150_000, (target, len(data))


def test_every_figure_a_bench_writes_by_default_is_shown() -> None:
    """Each ``--plot`` default is committed and linked from docs/benchmarks.md."""
    shown = set(IMAGE.findall((ROOT / "docs" / "benchmarks.md").read_text()))
    defaults = set()
    for script in sorted((ROOT / "scripts").glob("bench_*.py")):
        defaults |= set(re.findall(r'_plots\.add_arguments\(\w+, "([\w-]+)"',
                                   script.read_text()))
    assert len(defaults) >= 7, defaults
    assert {f"img/{name}.png" for name in defaults} <= shown
