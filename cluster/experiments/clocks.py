"""Logical time (Lamport, "Time, Clocks, and the Ordering of Events in a Distributed
System", CACM 1978; Fidge and Mattern, 1988) and the delivery orders built on it
(Birman, Schiper & Stephenson, "Lightweight Causal and Atomic Group Multicast", 1991).

* ``lamport-vs-vector``: one simulated run of causal broadcast, its every send and
  receive stamped twice, by ``protocols.clocks.LamportClock`` and by ``VectorClock``.
  Both respect causality (the Clock Condition); only vector clocks can say two events
  are concurrent: Lamport orders most concurrent pairs as if one caused the other.
* ``causal-vs-fifo``: the same broadcasts under the same faults, delivered in causal
  order (the BSS rule), in per-sender FIFO order, or as they come: FIFO keeps each
  sender's order and still delivers a reply before the message it answers.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

from cluster.experiments.base import Experiment, Outcome, Report
from protocols.causal.sim import JITTER, BroadcastWorkload, delivery_logs
from protocols.check.spacetime import render_spacetime
from protocols.clocks.lamport import LamportClock
from protocols.clocks.ordering import Ordering
from protocols.clocks.vector import VectorClock
from protocols.registry import load_sim
from protocols.sim.api import Verdict
from protocols.sim.network import RELIABLE
from protocols.sim.world import World

__all__ = ["CAUSAL_VS_FIFO", "LAMPORT_VS_VECTOR", "broadcast_run", "stamp"]


def broadcast_run(mode: str, seed: int, nodes: int = 5, stop_at_ms: int = 4000,
                  event_log: bool = False) -> tuple[Verdict, World]:
    """Clients broadcast through random members for ``stop_at_ms`` over a network that
    delays each message 1-300 ms and loses 5%, then the network heals and every member
    catches up; the verdict judges causal order."""
    w = World(load_sim("causal"), nodes, seed, options={"mode": mode}, network=JITTER,
              event_log=event_log)
    load = BroadcastWorkload(w, clients=3, stop_at_ms=stop_at_ms)
    load.start()
    w.run_for(stop_at_ms)
    w.network.config = RELIABLE
    w.run_until(lambda: load.idle, 30_000)
    return load.verdict(), w


def stamp(events: list[dict[str, Any]]) -> list[tuple[dict[str, Any], LamportClock,
                                                      VectorClock]]:
    """Every send and receive of a run's event log, stamped by both clocks: a send
    ticks (IR1); a receive merges the stamp its message carried, then ticks (IR2)."""
    lamport: dict[str, LamportClock] = {}
    vector: dict[str, VectorClock] = {}
    carried: dict[str, tuple[LamportClock, VectorClock]] = {}
    out = []
    for e in events:
        if e["kind"] not in ("send", "recv"):
            continue
        n = e["node"]
        lc, vc = lamport.get(n, LamportClock()), vector.get(n, VectorClock())
        if e["kind"] == "send":
            lc, vc = lc.tick(), vc.tick(n)
            carried[e["mid"]] = (lc, vc)
        else:
            sent_l, sent_v = carried[e["mid"]]
            lc, vc = lc.merge(sent_l), vc.receive(n, sent_v)
        lamport[n], vector[n] = lc, vc
        out.append((e, lc, vc))
    return out


def lamport_vs_vector(out: Path, full: bool, say: Report) -> Outcome:
    sample = 1500 if full else 400
    say("one run of causal broadcast (5 members, 1-300 ms links, 5% loss); its first "
        f"{sample} sends and receives stamped by a Lamport clock and a vector clock")
    _, w = broadcast_run("causal", 1, stop_at_ms=2000, event_log=True)
    stamped = stamp(w.event_log or [])[:sample]
    # the simulator stamps the same events with its own vector clocks (for ShiViz)
    agree = all(vc.as_dict() == e["vc"] for e, _, vc in stamped)
    causal = lamport_ok = concurrent = lamport_orders_concurrent = 0
    for (_, la, va), (_, lb, vb) in itertools.combinations(stamped, 2):
        order = va.compare(vb)
        if order in (Ordering.BEFORE, Ordering.AFTER):
            causal += 1
            lamport_ok += la.compare(lb) == order  # the Clock Condition
        elif order is Ordering.CONCURRENT:
            concurrent += 1
            lamport_orders_concurrent += la.time != lb.time
    share = lamport_orders_concurrent / max(concurrent, 1)
    say(f"  pairs of events: {causal} causally ordered, {concurrent} concurrent")
    say(f"  causally ordered pairs Lamport orders the same way: {lamport_ok} of {causal} "
        "(the Clock Condition)")
    say(f"  concurrent pairs Lamport gives different times, as if one came first: "
        f"{lamport_orders_concurrent} of {concurrent} ({share:.0%}); vector clocks called "
        f"all {concurrent} concurrent")
    say(f"  the vector clocks match the simulator's own ShiViz stamps: {agree}")
    out.mkdir(parents=True, exist_ok=True)
    path = render_spacetime(w.event_log or [], out / "spacetime.html",
                            title="causal broadcast: every event with its vector clock")
    say(f"look at: {path} (hover an event for its vector clock) and the ShiViz view")
    holds = agree and causal > 0 and lamport_ok == causal and share > 0.5
    return Outcome(
        f"Lamport clocks kept the Clock Condition on all {causal} causal pairs, but gave "
        f"{share:.0%} of the {concurrent} concurrent pairs different times, "
        "indistinguishable from cause and effect; vector clocks told every one apart.",
        holds, {"causal_pairs": causal, "concurrent_pairs": concurrent,
                "lamport_orders_concurrent": lamport_orders_concurrent}, [path])


LAMPORT_VS_VECTOR = Experiment(
    "lamport-vs-vector", "Lamport vs vector clocks on the same run", (21, 22),
    "both clocks respect causality; only vector clocks can tell concurrent events apart",
    lamport_vs_vector)


def per_sender_order_kept(world: World) -> bool:
    """Did every member deliver each sender's messages in the order they were sent?"""
    for log in delivery_logs(world).values():
        last: dict[str, int] = {}
        for origin, seq in log:
            if seq <= last.get(origin, 0):
                return False
            last[origin] = seq
    return True


def causal_vs_fifo(out: Path, full: bool, say: Report) -> Outcome:
    seeds, stop_at_ms = (range(6), 4000) if full else (range(1), 2000)
    say("the same broadcasts under the same faults (1-300 ms links, 5% loss), delivered "
        "by three rules")
    broken: dict[str, int] = {}
    fifo_kept = 0
    drawn: Path | None = None
    for mode in ("causal", "fifo", "none"):
        runs = [broadcast_run(mode, s, stop_at_ms=stop_at_ms, event_log=mode == "fifo")
                for s in seeds]
        broken[mode] = sum(v.status == "violation" for v, _ in runs)
        say(f"  mode={mode:6}  seeds that broke causal order: {broken[mode]} of {len(runs)}")
        if mode != "fifo":
            continue
        fifo_kept = sum(per_sender_order_kept(w) for _, w in runs)
        say(f"  under FIFO every member kept each sender's order on {fifo_kept} of "
            f"{len(runs)} seeds")
        bad = next(((v, w) for v, w in runs if v.status == "violation"), None)
        if bad is not None:
            say(f"  e.g. under FIFO: {bad[0].summary}")
            out.mkdir(parents=True, exist_ok=True)
            drawn = render_spacetime(bad[1].event_log or [], out / "spacetime.html",
                                     title="FIFO delivery: a message overtakes its cause")
            say(f"look at: {drawn}")
    n = len(seeds)
    holds = (broken["causal"] == 0 and broken["fifo"] == n and fifo_kept == n
             and broken["none"] == n)
    return Outcome(
        f"causal delivery kept causal order on every seed; per-sender FIFO kept each "
        f"sender's order ({fifo_kept} of {n}) and still broke causal order on "
        f"{broken['fifo']} of {n} (a message delivered before one from another member that "
        f"it depends on); no ordering broke it on {broken['none']} of {n}.", holds,
        {f"broken_{m}": b for m, b in broken.items()}, [drawn] if drawn else [])


CAUSAL_VS_FIFO = Experiment(
    "causal-vs-fifo", "Causal vs FIFO delivery", (9, 22, 30),
    "FIFO keeps each sender's order but lets a message overtake one it depends on from "
    "another sender; the BSS rule holds it back", causal_vs_fifo)
