"""The blocking window of two-phase commit (Gray 1978; Bernstein, Hadzilacos & Goodman,
"Concurrency Control and Recovery", §7.4), and three-phase commit's way out of it
(Skeen, "Nonblocking Commit Protocols", 1981).

Every participant voted YES and the coordinator dies before its decision leaves: a 2PC
participant cannot tell commit from abort, so it keeps its locks until the coordinator
is back; another transaction on the same keys is refused meanwhile. 3PC's participants
find each other PREPARED, none PRECOMMITTED, so nobody can have committed: they abort
on their own, and the keys are free again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cluster.experiments.base import Experiment, Outcome, Report
from protocols.check.spacetime import render_spacetime
from protocols.registry import load_sim
from protocols.sim.world import World
from protocols.twopc.coordinator import shard_of
from protocols.twopc.messages import MicroOp, Transact

__all__ = ["TWOPC_BLOCKING"]

PARTS = ("n2", "n3", "n4")  # n1 coordinates the transaction; every node can coordinate
THREE = {"commit_protocol": "3pc", "vote_timeout_ticks": 10, "termination_ticks": 20}
EVERY = {"coordinators": "every"}


def _key_on(shard: str) -> str:
    return next(f"k{i}" for i in range(1000) if shard_of(f"k{i}", ("n1", *PARTS)) == shard)


def _locked(w: World) -> bool:
    """Does any participant still hold a lock?"""
    for n in PARTS:
        core: Any = w.core(n)
        if core is not None and core.participant.locks.held:
            return True
    return False


def run(out: Path, full: bool, say: Report) -> Outcome:
    down_ms = 5000 if full else 2000
    say(f"a coordinator and 3 participants; all vote YES; the coordinator crashes just "
        f"before its second phase and restarts {down_ms} ms later; halfway, another "
        "transaction asks for one of the same keys")
    res = {}
    for protocol in ("2pc", "3pc"):
        res[protocol] = r = _measure(protocol, down_ms)
        say(f"  {protocol}: keys locked for {r['locked_ms']} ms after the crash; another "
            f"transaction on them meanwhile: {'committed' if r['probe_ok'] else 'refused'}")
        (out / protocol).mkdir(parents=True, exist_ok=True)
        path = render_spacetime(r["world"].event_log, out / protocol / "spacetime.html",
                                faults=[(r["crashed"] / 1000, r["restarted"] / 1000,
                                         "n1 (coordinator) down")],
                                title=f"{protocol}: coordinator down after the votes")
        r["path"] = path
    two, three = res["2pc"], res["3pc"]
    say("look at: 2pc/spacetime.html (the participants ask and wait) beside "
        "3pc/spacetime.html (they elect one of themselves and abort)")
    holds = (two["locked_ms"] >= down_ms and not two["probe_ok"]
             and three["locked_ms"] < down_ms // 2 and three["probe_ok"])
    return Outcome(
        f"2PC held its locks for {two['locked_ms']} ms, the coordinator's whole downtime, "
        f"and refused the next transaction; 3PC's participants aborted on their own after "
        f"{three['locked_ms']} ms and the next transaction committed.", holds,
        {"locked_ms_2pc": two["locked_ms"], "locked_ms_3pc": three["locked_ms"]},
        [two["path"], three["path"]])


def _measure(protocol: str, down_ms: int) -> dict[str, Any]:
    """The coordinator (n1) crashes right before its second phase (2PC: the decision;
    3PC: the PRECOMMITs) and restarts ``down_ms`` later. Halfway through, another
    transaction asks for one of the same keys. When did the locks go, from the crash?"""
    options = {**EVERY, **(THREE if protocol == "3pc" else {"inquiry_ticks": 20})}
    w = World(load_sim("twopc"), 4, 1, options=options, event_log=True)
    keys = [_key_on(n) for n in PARTS]
    w.crash_at("n1", "before_send:Decision" if protocol == "2pc" else "before_send:PreCommit")
    w.submit("n1", Transact(tuple(MicroOp("w", k, 1) for k in keys)))
    w.run_until(lambda: not w.nodes["n1"].up, 5000)  # type: ignore[index]
    crashed = w.now
    unlocked_at = w.now if w.wait(lambda: not _locked(w), down_ms // 2) else None
    w.run_for(max(0, crashed + down_ms // 2 - w.now))
    probe = w.submit("n2", Transact((MicroOp("w", keys[1], 2),)))  # n3's key, again
    answer = w.wait(lambda: w.answers.get(probe), down_ms // 2)
    w.run_for(max(0, crashed + down_ms - w.now))
    restarted = w.now
    w.restart("n1")
    w.run_until(lambda: not _locked(w), 5000)
    unlocked_at = unlocked_at if unlocked_at is not None else w.now
    return {"world": w, "crashed": crashed, "restarted": restarted,
            "locked_ms": unlocked_at - crashed,
            "probe_ok": answer is not None and answer.error is None}


TWOPC_BLOCKING = Experiment(
    "2pc-blocking", "The 2PC blocking window, and 3PC's termination", (27, 28, 46),
    "a participant that voted YES cannot decide alone: 2PC holds its locks while the "
    "coordinator is down; 3PC terminates without it", run)
