"""Raft's leader, cut off: who still believes it leads, and what its reads return.

* ``split-brain``: a leader cut off with a minority keeps believing it leads for as
  long as the partition lasts, beside the majority's new leader, unless it checks that
  a majority still answers it (check-quorum, Raft thesis §6.2). Raft's log stays safe
  either way: the old leader commits nothing.
* ``stale-read``: a leader that answers reads from its own state machine (no ReadIndex
  round, thesis §6.4) serves a deposed leader's stale value; ReadIndex refuses it.
* ``lease-clock``: lease reads (thesis §6.4.1) rest on clocks: a leader whose clock
  jumps back serves a stale read inside what it takes for its lease.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cluster.experiments.base import Experiment, Outcome, Report
from cluster.experiments.simrun import Clients, write_diagrams
from protocols.kv.commands import KvCommand
from protocols.registry import load_sim
from protocols.sim.world import World

__all__ = ["LEASE_CLOCK", "SPLIT_BRAIN", "STALE_READ"]


def _world(seed: int, nodes: int, **options: Any) -> World:
    return World(load_sim("raft"), nodes, seed, options=options, event_log=True)


def _leaders(w: World) -> list[str]:
    return [n for n in w.up_nodes() if (st := w.status(n)) is not None and st.leading]


# ---------------------------------------------------------------------- split brain
def _cut_off_leader(check_quorum: bool, seed: int, partition_ms: int,
                    out: Path) -> dict[str, Any]:
    """Five nodes; the leader and one follower cut off from the other three for
    ``partition_ms``. Returns how long two nodes said they led at once."""
    w = _world(seed, 5, check_quorum=check_quorum)
    old = w.run_until(w.leader, 5000)
    others: list[str] = [n for n in w.ids if n != old]
    minority, majority = [old, others[0]], others[1:]
    clients = Clients(w, timeout_ms=partition_ms // 2)
    clients.call(old, "put", "k", "before")
    start = w.now
    w.partition([minority, majority])
    lonely_write = w.submit(old, KvCommand("put", "k", "lonely"))  # the old leader cannot commit it
    two_leaders_ms, old_leads_ms = 0, 0
    while w.now < start + partition_ms:
        w.run_for(10)
        leaders = _leaders(w)
        two_leaders_ms += 10 if len(leaders) > 1 else 0
        old_leads_ms += 10 if old in leaders else 0
    new = next((n for n in _leaders(w) if n in majority), None)
    if new is not None:
        clients.call(new, "put", "k", "majority")
    end = w.now
    w.heal()
    w.run_until(lambda: len(_leaders(w)) == 1, 5000)
    answer = w.answers.get(lonely_write)
    write_diagrams(w, out, title=f"split brain, check_quorum={check_quorum}",
                   faults=[(start / 1000, end / 1000, f"partition {minority} | {majority}")],
                   clients=clients)
    return {"old": old, "two_leaders_ms": two_leaders_ms, "old_leads_ms": old_leads_ms,
            "lonely_write_ok": answer is not None and answer.error is None,
            "new_leader": new, "linearizable": clients.check().verdict == "ok"}


def split_brain(out: Path, full: bool, say: Report) -> Outcome:
    partition_ms = 5000 if full else 2500
    say(f"5 Raft nodes; the leader and one follower cut off for {partition_ms} ms "
        "(the old leader also gets a write it cannot commit)")
    runs = {}
    for cq in (False, True):
        runs[cq] = r = _cut_off_leader(cq, seed=1, partition_ms=partition_ms,
                                       out=out / f"check_quorum={str(cq).lower()}")
        say(f"  check_quorum={cq!s:5}  old leader {r['old']} believed it led for "
            f"{r['old_leads_ms']} ms of the partition; two leaders at once for "
            f"{r['two_leaders_ms']} ms; new leader {r['new_leader']}; the cut-off "
            f"leader's write committed: {r['lonely_write_ok']}")
    without, with_ = runs[False], runs[True]
    holds = (without["two_leaders_ms"] >= partition_ms // 2
             and with_["two_leaders_ms"] < without["two_leaders_ms"] // 2
             and not without["lonely_write_ok"] and not with_["lonely_write_ok"]
             and without["linearizable"] and with_["linearizable"])
    say("look at: spacetime.html in each folder (the lanes' roles: two 'leader' lanes "
        "overlap without check-quorum)")
    return Outcome(
        f"without check-quorum the cut-off leader kept its role for "
        f"{without['old_leads_ms']} ms (two leaders for {without['two_leaders_ms']} ms); "
        f"with it, two leaders for {with_['two_leaders_ms']} ms. Neither committed the "
        "minority's write: the log stayed safe, only the belief split.",
        holds, {"two_leaders_ms_without": without["two_leaders_ms"],
                "two_leaders_ms_with": with_["two_leaders_ms"]},
        sorted(out.rglob("*.html")))


SPLIT_BRAIN = Experiment(
    "split-brain", "Split brain without check-quorum, and with it", (6, 25, 26),
    "a leader cut off with a minority keeps leading in its own eyes, unless it checks "
    "for a quorum", split_brain)


# ---------------------------------------------------------------------- stale read
def _deposed_read(read_mode: str, seed: int, out: Path) -> tuple[Any, Clients, bool]:
    """Three nodes, no check-quorum (so the deposed leader does not step down): the
    leader is cut off, the others elect a new one and overwrite k; then a client
    that still talks to the old leader reads k."""
    w = _world(seed, 3, check_quorum=False, read_mode=read_mode)
    old = w.run_until(w.leader, 5000)
    clients = Clients(w, timeout_ms=1000)
    clients.call(old, "put", "k", "old")
    start = w.now
    w.disconnect(old)
    new = w.run_until(lambda: next((n for n in _leaders(w) if n != old), None), 5000)
    clients.call(new, "put", "k", "new")
    seen = clients.call(old, "get", "k")
    end = w.now
    w.heal()
    result = clients.check()
    write_diagrams(w, out, title=f"read_mode={read_mode}, deposed leader {old}",
                   faults=[(start / 1000, end / 1000, f"disconnect {old}")], clients=clients)
    return seen, clients, result.verdict == "ok"


def stale_read(out: Path, full: bool, say: Report) -> Outcome:
    seeds = range(1, 6) if full else range(1, 2)
    say("3 Raft nodes without check-quorum; the leader is cut off, the others elect a "
        "new one and write k=new; a client still talking to the old leader reads k")
    stale, linearizable = {}, {}
    for mode in ("local", "read_index"):
        outcomes = [_deposed_read(mode, s, out / f"{mode}-seed{s}") for s in seeds]
        stale[mode] = sum(seen == "old" for seen, _, _ in outcomes)
        linearizable[mode] = sum(ok for _, _, ok in outcomes)
        say(f"  read_mode={mode:10}  reads at the old leader: "
            f"{[seen for seen, _, _ in outcomes]}; linearizable histories: "
            f"{linearizable[mode]} of {len(outcomes)}")
    n = len(seeds)
    holds = (stale["local"] == n and linearizable["local"] == 0
             and stale["read_index"] == 0 and linearizable["read_index"] == n)
    say("look at: timeline.html (the checker marks the stale get) and spacetime.html; "
        "with read_index the old leader's heartbeat round gets no answers")
    return Outcome(
        f"answering from its own state, the deposed leader returned 'old' after 'new' was "
        f"acknowledged ({stale['local']} of {n}: not linearizable); with ReadIndex it "
        f"could not confirm its leadership and answered nothing ({stale['read_index']} "
        "stale).", holds, {"stale_local": stale["local"],
                           "stale_read_index": stale["read_index"]},
        sorted(out.rglob("*.html")))


STALE_READ = Experiment(
    "stale-read", "A stale read without ReadIndex", (5, 29, 30),
    "a leader deposed without knowing it serves stale reads unless it confirms its "
    "leadership first (ReadIndex)", stale_read)


# ---------------------------------------------------------------------- lease and clock
def _lease_read(jump_ms: int, read_mode: str, seed: int, out: Path) -> tuple[Any, bool]:
    """Three nodes in lease mode: the leader's clock jumps back ``jump_ms`` just before
    it is cut off; the others elect a new leader (after their own election timeout,
    on their own clocks) and overwrite k; a client reads k at the old leader."""
    w = _world(seed, 3, read_mode=read_mode)
    old = w.run_until(w.leader, 5000)
    clients = Clients(w, timeout_ms=400)
    clients.call(old, "put", "k", "old")
    w.run_for(100)  # a heartbeat round renews the lease
    start = w.now
    w.set_clock(old, jump_ms=-jump_ms)
    w.disconnect(old)
    new = w.run_until(lambda: next((n for n in _leaders(w) if n != old), None), 5000)
    clients.call(new, "put", "k", "new")
    seen = clients.call(old, "get", "k")
    end = w.now
    w.heal()
    ok = clients.check().verdict == "ok"
    write_diagrams(w, out, title=f"{read_mode}: the leader's clock jumps {-jump_ms} ms",
                   faults=[(start / 1000, end / 1000, f"clock {old} {-jump_ms} ms; "
                                                      f"disconnect {old}")],
                   clients=clients)
    return seen, ok


def lease_clock(out: Path, full: bool, say: Report) -> Outcome:
    seeds = range(1, 6) if full else range(1, 2)
    say("3 Raft nodes; the leader's lease lasts 80% of the minimum election timeout "
        "(240 ms) on its own clock; the leader is cut off, the others elect a new one "
        "and write k=new; a client reads k at the old leader")
    cases = [("lease", 0), ("lease", 1000), ("read_index", 1000)]
    stale: dict[tuple[str, int], int] = {}
    linearizable: dict[tuple[str, int], int] = {}
    for mode, jump in cases:
        runs = [_lease_read(jump, mode, s, out / f"{mode}-jump{jump}-seed{s}") for s in seeds]
        stale[mode, jump] = sum(seen == "old" for seen, _ in runs)
        linearizable[mode, jump] = sum(ok for _, ok in runs)
        say(f"  read_mode={mode:10} clock jump -{jump:4} ms: reads at the old leader "
            f"{[seen for seen, _ in runs]}; linearizable: {linearizable[mode, jump]} of "
            f"{len(runs)}")
    n = len(seeds)
    holds = (stale["lease", 0] == 0 and stale["lease", 1000] == n
             and stale["read_index", 1000] == 0
             and linearizable == {("lease", 0): n, ("lease", 1000): 0,
                                  ("read_index", 1000): n})
    say("look at: timeline.html in lease-jump1000-*: the get answered 'old' after the put "
        "of 'new' returned")
    return Outcome(
        f"with a sound clock the lease ran out before a new leader could be elected (0 "
        f"stale); when the old leader's clock jumped back 1 s its lease looked valid and "
        f"it served 'old' ({stale['lease', 1000]} of {n}); ReadIndex, which asks a "
        "majority and trusts no clock, served none.", holds,
        {f"stale_{m}_{j}": v for (m, j), v in stale.items()}, sorted(out.rglob("*.html")))


LEASE_CLOCK = Experiment(
    "lease-clock", "Leases under a clock jump", (21, 26),
    "a lease is only as good as the clock it runs on: a jump back makes an expired "
    "lease serve a stale read", lease_clock)
