"""Set-full (Jepsen) under the random nemesis: clients add unique elements to a few keys
with blind writes and read them; after the faults heal a read of all N replicas of each
key shows every acknowledged add. Replay a seed with
``scripts/sim --protocol dynamo --workload set-full --seed S --nodes 5 --duration-ms 4000
--nemesis partition,isolate,crash,...``."""

from __future__ import annotations

import pytest

from protocols.check.history import History
from protocols.check.setfull import check_set_full
from protocols.dynamo.core import Get, Put
from protocols.simulate import run_once
from tests.dynamo.harness import KEY, call, preference, values, world

FAULTS = ("partition", "isolate", "crash", "unreliable", "one-way", "stall", "slow", "pause",
          "join", "leave")


@pytest.mark.parametrize("seed", range(6))
def test_no_acknowledged_add_is_lost(seed: int) -> None:
    r = run_once("dynamo", seed, nodes=5, duration_ms=4000, nemesis_kinds=FAULTS,
                 workload="set-full")
    assert r.ok, f"{r.failure or r.describe()}\n  replay: {r.replay}"
    assert r.verdicts[0].status == "ok" and " 0 lost" in r.verdicts[0].summary
    assert "converged" in r.verdicts[0].summary  # anti-entropy and handoff finished


@pytest.mark.parametrize("seed", range(3))
def test_read_modify_writes_under_siblings_lose_nothing(seed: int) -> None:
    r = run_once("dynamo", seed, nodes=5, duration_ms=4000, nemesis_kinds=FAULTS,
                 workload="set-rmw")
    assert r.ok, f"{r.failure or r.describe()}\n  replay: {r.replay}"
    assert r.verdicts[0].status == "ok" and " 0 lost" in r.verdicts[0].summary


def test_without_anti_entropy_replicas_may_never_converge() -> None:
    """The control for the convergence above: seed 2 with anti-entropy off loses nothing
    (the final reads find every add) but leaves replicas apart that nobody reads."""
    r = run_once("dynamo", 2, nodes=5, duration_ms=4000, nemesis_kinds=FAULTS,
                 workload="set-full", options={"anti_entropy": "off"})
    assert r.verdicts[0].status == "violation"
    assert " 0 lost" in r.verdicts[0].summary and "not converged" in r.verdicts[0].summary


def test_the_checker_sees_an_add_lost_without_fsync() -> None:
    """A workload that cannot fail proves nothing: with fsync off and W = 1, an add
    acknowledged by its coordinator alone (cut off from the others) dies with it in a
    power cut, and set-full's checker names it lost."""
    w = world(n=3, r=1, w=1, fsync=False)
    o1, o2, *_ = preference(w)
    h = History()
    add = h.invoke(0, "add", KEY, "a", float(w.now))
    w.partition([[o1], [n for n in w.ids if n != o1]])
    assert call(w, o1, Put(KEY, "a")).error is None
    h.complete(add, "ok", "a", float(w.now))
    w.crash(o1)
    w.heal()
    w.restart(o1)
    w.run_for(3000)
    read = h.invoke(1, "read", KEY, None, float(w.now))
    got = values(call(w, o2, Get(KEY, r=3)))
    h.complete(read, "ok", got, float(w.now))
    assert got == []
    result = check_set_full(h)
    assert not result.valid and "1 lost" in result.summary()


def test_a_cluster_shrunk_below_n_by_leaves_still_restarts_and_serves() -> None:
    """Seed 23's nemesis removes nodes until two remain, fewer than N = 3: a node
    restarting then must not refuse its options (they were checked against the cluster
    it started in), and the final reads ask R = the nodes left."""
    r = run_once("dynamo", 23, nodes=5, duration_ms=6000, nemesis_kinds=FAULTS,
                 workload="set-full")
    assert r.ok, f"{r.failure or r.describe()}\n  replay: {r.replay}"
    assert " 0 lost" in r.verdicts[0].summary


@pytest.mark.slow
@pytest.mark.parametrize("workload", ["set-full", "set-rmw"])
def test_a_sweep_of_seeds_loses_nothing_and_converges(workload: str) -> None:
    """60 seeds of 6 s under every fault, joins and leaves among them (about 40 s)."""
    failed = []
    for seed in range(60):
        r = run_once("dynamo", seed, nodes=5, duration_ms=6000, nemesis_kinds=FAULTS,
                     workload=workload)
        if not r.ok:
            failed.append(r.replay)
    assert not failed, "\n".join(failed)
