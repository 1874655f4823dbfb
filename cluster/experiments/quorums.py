"""Quorum overlap (Gifford, "Weighted Voting for Replicated Data", 1979; DeCandia et al.,
"Dynamo", SOSP 2007, §4.5): with N replicas, a read of R and a write of W must meet in at
least one replica when R + W > N, so a read sees the latest acknowledged write. With
R + W <= N they need not meet: a write acknowledged by W replicas is still on its way to
the others when a read asks R replicas that have not got it yet.

Each round a client writes a new value at one node and, once it is acknowledged, reads
it at another; the network delays every message 5-40 ms, so replication lags."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cluster.experiments.base import Experiment, Outcome, Report
from protocols.check.spacetime import render_spacetime
from protocols.dynamo.core import Get, Put
from protocols.registry import load_sim
from protocols.sim import NetworkConfig, World

__all__ = ["QUORUM_OVERLAP", "stale_reads"]


def stale_reads(r: int, w: int, rounds: int, seed: int = 1, n: int = 3,
                event_log: bool = False) -> tuple[int, int, World]:
    """(reads that missed the write acknowledged just before, reads answered, world)."""
    world = World(load_sim("dynamo"), 5, seed, options={"n": n, "r": r, "w": w},
                  network=NetworkConfig(delay_min_ms=5, delay_max_ms=40), event_log=event_log)
    world.run_for(3000)  # membership settles
    rng = world.rng("clients")
    stale = answered = 0
    for i in range(rounds):
        writer, reader = rng.sample(world.ids, 2)
        value = f"v{i}"
        ack = _call(world, writer, Put("cart", value))
        if ack is None or ack.error is not None:
            continue
        got = _call(world, reader, Get("cart"))
        if got is None or got.error is not None:
            continue
        answered += 1
        values, _context = got.result
        stale += value not in values
        world.run_for(200)  # then replication catches up before the next round
    return stale, answered, world


def _call(world: World, node: str, command: Any) -> Any:
    rid = world.submit(node, command)
    return world.wait(lambda: world.answers.get(rid), 2000)


def run(out: Path, full: bool, say: Report) -> Outcome:
    rounds = 200 if full else 40
    say(f"Dynamo, 5 nodes, N=3, links 5-40 ms; {rounds} rounds of: write a new value at "
        "one node, then, once acknowledged, read it at another")
    stale: dict[tuple[int, int], tuple[int, int]] = {}
    for r, w in ((1, 1), (1, 2), (2, 2), (1, 3)):
        s, a, _ = stale_reads(r, w, rounds)
        stale[r, w] = (s, a)
        rule = "R + W > N" if r + w > 3 else "R + W <= N"
        say(f"  R={r} W={w} ({rule:10}): {s} of {a} reads missed the write just "
            "acknowledged")
    _, _, world = stale_reads(1, 1, 5, event_log=True)
    out.mkdir(parents=True, exist_ok=True)
    path = render_spacetime(world.event_log or [], out / "spacetime.html",
                            title="R=1 W=1: a write, then a read elsewhere")
    say(f"look at: {path}: the read's one reply leaves a replica before the write's "
        "replication reaches it")
    overlap = [k for k in stale if sum(k) > 3]
    holds = (all(stale[k][0] == 0 and stale[k][1] > 0 for k in overlap)
             and stale[1, 1][0] > 0)
    return Outcome(
        f"R + W <= N read stale: {stale[1, 1][0]} of {stale[1, 1][1]} at R=W=1, "
        f"{stale[1, 2][0]} of {stale[1, 2][1]} at R=1 W=2; every quorum pair that overlaps "
        f"(R=W=2, R=1 W=3) read every acknowledged write.", holds,
        {f"stale_r{r}_w{w}": s for (r, w), (s, _) in stale.items()}, [path])


QUORUM_OVERLAP = Experiment(
    "quorum-overlap", "Quorum overlap: R + W <= N reads stale", (29, 31, 47),
    "read and write quorums that need not meet let a read miss an acknowledged write",
    run)
