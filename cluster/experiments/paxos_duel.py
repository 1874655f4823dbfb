"""FLP in practice: dueling Paxos proposers (Lamport, "Paxos Made Simple" §2.4; van
Renesse & Altinbuken, "Paxos Made Moderately Complex" §4). Two leaders that each retry
at once with a higher ballot preempt each other forever: safety holds, progress does not.
A random backoff (and a leader others defer to) restores progress in practice, which is
all FLP allows: no deterministic protocol guarantees it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cluster.experiments.base import Experiment, Outcome, Report
from protocols.kv.commands import KvCommand
from protocols.registry import load_sim
from protocols.sim import NetworkConfig, World

__all__ = ["DUELING_PROPOSERS", "dueling"]


def dueling(backoff: bool, seed: int, event_log: bool = False) -> tuple[int, World]:
    """Five nodes, 5-20 ms links, no leader stickiness; every follower campaigns at once,
    then clients send 50 writes, one every 20 ms, and the run goes on for two seconds:
    how many writes were decided."""
    w = World(load_sim("paxos"), 5, seed=seed,
              network=NetworkConfig(delay_min_ms=5, delay_max_ms=20),
              options={"backoff": backoff, "stickiness": False}, event_log=event_log)
    w.run_until(w.leader, 5000)
    for n in w.ids:
        core: Any = w.core(n)
        if not core.leader.active:
            core._start_scout()  # a proposer that thinks the leader gone campaigns
            w._input(n)
    rids: list[Any] = []

    def write(i: int) -> None:
        rids.append(w.submit(w.leader() or "n1", KvCommand("put", "k", str(i))))

    for i in range(50):
        w.at(i * 20, lambda i=i: write(i))  # type: ignore[misc]
    w.run_for(2000)
    return sum(1 for r in rids if r in w.answers and w.answers[r].error is None), w


def run(out: Path, full: bool, say: Report) -> Outcome:
    seeds = range(1, 11) if full else range(1, 3)
    say("5 Multi-Paxos nodes, leader stickiness off; every node starts a scout at once, "
        "then 50 writes, one every 20 ms. How many are decided within 2 s?")
    done: dict[bool, list[int]] = {}
    for backoff in (False, True):
        done[backoff] = [dueling(backoff, s)[0] for s in seeds]
        say(f"  backoff={backoff!s:5}  writes decided per seed: {done[backoff]}")
    _, w = dueling(False, seeds[0], event_log=True)
    out.mkdir(parents=True, exist_ok=True)
    from protocols.check.spacetime import render_spacetime
    path = render_spacetime(w.event_log or [], out / "spacetime.html",
                            title="dueling proposers, no backoff")
    say(f"look at: {path}: {w.rpc_count['P1a']} phase-1 messages (P1a) in the run, and "
        f"{w.rpc_count['P2a']} of phase 2 (P2a)")
    without, with_ = sum(done[False]), sum(done[True])
    holds = without <= 0.1 * with_ and min(done[True]) >= 25
    return Outcome(
        f"retrying at once, the proposers preempted each other: {without} writes decided "
        f"over {len(seeds)} seeds, against {with_} with a random backoff. Safety never "
        "depended on it; progress did (FLP).", holds,
        {"decided_without": without, "decided_with": with_}, [path])


DUELING_PROPOSERS = Experiment(
    "dueling-proposers", "FLP-style livelock of dueling Paxos proposers", (11, 19, 26),
    "proposers that retry at once with higher ballots preempt each other forever; a "
    "random backoff lets one win", run)
