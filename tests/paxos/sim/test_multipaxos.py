"""Multi-Paxos in the simulator, invariants after every event (``check.paxos``): no two
commands decided in one slot, replicas apply what was decided, no pvalue contradicts a
choice; KV histories linearizable under every fault; a leader change mid-flight keeps
decided slots; livelock without backoff, progress with it; flexible quorums; garbage
collection with snapshots and catch-up."""

from __future__ import annotations

from typing import Any

import pytest

from cluster.experiments.paxos_duel import dueling
from protocols.common.errors import ConfigError
from protocols.kv.commands import KvCommand
from protocols.paxos.core import PaxosCore
from protocols.paxos.sim import ADAPTER
from protocols.sim import NetworkConfig, World
from protocols.sim.nemesis import KINDS
from protocols.simulate import run_once

FAULTS = (*KINDS, "crash-mid-write")  # the last bites when the disk is slow (seed % 3 > 0)


def core(w: World, n: str) -> PaxosCore:
    c = w.core(n)
    assert isinstance(c, PaxosCore)
    return c


def put(value: str, key: str = "k") -> KvCommand:
    return KvCommand("put", key, value)


@pytest.mark.parametrize("seed", range(1, 21))
def test_linearizable_under_every_fault_with_invariants_after_every_event(seed: int) -> None:
    result = run_once("paxos", seed, duration_ms=5000, nemesis_kinds=FAULTS,
                      options={"snapshot_threshold": 40}, disk_latency_ms=seed % 3)
    assert result.ok, result.failure
    assert result.verdict == "ok" and len(result.history) > 200


def test_a_leader_change_mid_flight_keeps_decided_slots() -> None:
    w = World(ADAPTER, 5, seed=3)
    leader = w.run_until(w.leader, 5000)
    rids = [w.submit(leader, put(f"v{i}")) for i in range(20)]
    w.run_until(lambda: all(r in w.answers for r in rids), 3000)
    decided = dict(core(w, leader).replica.decisions)
    commands = [put(f"w{i}") for i in range(20)]
    more: list[Any] = []
    for i, c in enumerate(commands):  # one every 2 ms: they are decided one after another
        w.at(2 * i, lambda c=c: more.append(w.submit(leader, c)))  # type: ignore[misc]

    def acked() -> list[KvCommand]:
        return [c for r, c in zip(more, commands, strict=False)  # the ones submitted so far
                if r in w.answers and w.answers[r].error is None]

    w.run_until(lambda: len(acked()) >= 5, 3000)  # some acknowledged, the rest in flight
    acked_before = acked()
    assert 0 < len(acked_before) < len(commands), len(acked_before)
    w.crash(leader)
    new = w.run_until(lambda: w.leader() if w.leader() not in (None, leader) else None, 5000)
    w.run_for(500)
    for n in w.up_nodes():
        held = core(w, n).replica.decisions
        assert all(held.get(s, c) == c for s, c in decided.items()), n
    assert new != leader
    rid = w.submit(new, KvCommand("get", "k"))
    w.run_until(lambda: rid in w.answers, 3000)
    assert w.answers[rid].error is None
    now_decided = set(core(w, new).replica.decisions.values())
    assert all(c.encode() in now_decided for c in acked_before), \
        "an acknowledged write was lost"


@pytest.mark.parametrize("seed", [1, 6, 15])
def test_a_leader_that_leads_again_fills_the_slots_it_handed_out(seed: int) -> None:
    """The stall seen on real processes (tests/paxos/unit/test_schedules.py has it step
    by step): a leader hands out three slots, two P2a batches leave and the third waits
    for them; it is cut off, a new leader takes over, the old one learns of it on
    rejoining (before its batches' deadline: a reply may come a whole second late, as
    on real processes) and later leads again. The slot whose P2a never left must get a
    no-op, or nothing after it is ever applied."""
    w = World(ADAPTER, 3, seed=seed, network=NetworkConfig(delay_min_ms=20, delay_max_ms=30))
    old = w.run_until(w.leader, 5000)
    first = [w.submit(old, put(v)) for v in "ABC"]
    assert len(core(w, old)._outgoing_p2a) == 1, "the third P2a did not wait"
    w.disconnect(old)
    mid = w.run_until(lambda: w.leader() if w.leader() not in (None, old) else None, 5000)
    w.connect(old)
    w.run_until(lambda: not core(w, old).leader.active, 1000)
    w.crash(mid)
    again = w.run_until(w.leader, 5000)
    assert again == old, "the scenario needs the old leader to lead again"
    rid = w.submit(again, put("D"))
    w.run_until(lambda: rid in w.answers, 3000)
    assert w.answers[rid].error is None
    assert all(r in w.answers for r in first)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_leader_crashed_inside_its_adoption_write_never_reuses_its_ballot(seed: int) -> None:
    """The ballot reuse of tests/paxos/unit/test_schedules.py, in the simulator, on a
    30 ms disk: n adopts a ballot with X to re-propose, its P2a leave ahead of its own
    write, and it crashes inside that write. Restarted, it must pick a new ballot: the
    old one, reused for Y in the same slot, is caught by the checker (PMMC's A4) — it
    was, on every one of these seeds, before the round was written first."""
    w = World(ADAPTER, 5, seed=seed, disk_latency_ms=30, options={"stickiness": False})
    w.run_until(w.leader, 5000)
    w.run_for(500)
    old = w.leader()
    assert old is not None
    rid = w.submit(old, put("first"))
    w.run_until(lambda: rid in w.answers, 2000)
    n, a, b, c = (x for x in w.ids if x != old)
    w.disconnect(old)
    w.submit(old, put("X"))  # accepted by the old leader alone
    w.run_for(100)
    w.partition([[old, n, a], [b, c]])
    core(w, n)._start_scout()
    w._input(n)

    def adoption_write_under_way() -> bool:
        pump = w.nodes[n].pump
        return (core(w, n).leader.active and pump is not None and pump.writing is not None
                and any(e.ahead_of_persist for e in pump.writing.ready.messages))

    w.run_until(adoption_write_under_way, 2000)
    first_ballot = core(w, n).leader.ballot_number
    w.crash(n)
    w.run_for(50)
    w.partition([[n, b, c], [old, a]])
    w.restart(n)
    core(w, n)._start_scout()
    w._input(n)
    w.run_until(lambda: core(w, n).leader.active, 3000)
    assert core(w, n).leader.ballot_number > first_ballot
    rid = w.submit(n, put("Y"))
    w.run_until(lambda: rid in w.answers, 3000)


def test_dueling_leaders_livelock_without_backoff_and_progress_with_it() -> None:
    """PMMC §4: a preempted leader that retries at once preempts the other, which does
    the same, forever. With failure detection and a random backoff one of them wins.
    Over ten seeds: without, next to nothing gets done; with, every seed makes progress."""
    without = [dueling(False, s)[0] for s in range(1, 11)]
    with_backoff = [dueling(True, s)[0] for s in range(1, 11)]
    print(f"writes in 2 s, 10 seeds: without backoff {without}, with {with_backoff}")
    assert sum(without) <= 0.1 * sum(with_backoff), "no livelock shown"
    assert min(with_backoff) >= 25, "backoff did not restore progress"
    assert sorted(without)[5] == 0  # the median run does nothing at all


def test_flexible_quorums_decide_with_a_phase_2_quorum_of_two() -> None:
    """Flexible Paxos (Howard et al. 2016): with 5 nodes, q1 = 4 and q2 = 2 is safe
    (every phase-1 quorum meets every phase-2 quorum); the leader decides with itself
    and one acceptor, so two crashed nodes do not stop it."""
    w = World(ADAPTER, 5, seed=2, options={"phase1_quorum": 4, "phase2_quorum": 2})
    leader = w.run_until(w.leader, 5000)
    others = [n for n in w.ids if n != leader]
    for n in others[:3]:
        w.crash(n)  # three of five down: a majority quorum could decide nothing
    rids = [w.submit(leader, put(f"v{i}")) for i in range(10)]
    w.run_until(lambda: all(r in w.answers for r in rids), 3000)
    assert all(w.answers[r].error is None for r in rids)
    assert core(w, leader).q1 == 4 and core(w, leader).q2 == 2


@pytest.mark.parametrize(("q1", "q2"), [(2, 3), (3, 2), (1, 4), (6, 1)])
def test_unsafe_or_impossible_quorums_are_refused_at_start(q1: int, q2: int) -> None:
    with pytest.raises(ConfigError, match="quorum"):
        World(ADAPTER, 5, seed=1, options={"phase1_quorum": q1, "phase2_quorum": q2})


@pytest.mark.parametrize("seed", range(1, 9))
def test_flexible_quorums_stay_linearizable_under_faults(seed: int) -> None:
    result = run_once("paxos", seed, duration_ms=4000, nemesis_kinds=KINDS,
                      options={"phase1_quorum": 4, "phase2_quorum": 2})
    assert result.ok, result.failure


def test_snapshots_compact_and_a_crashed_replica_catches_up_from_one() -> None:
    w = World(ADAPTER, 3, seed=4, options={"snapshot_threshold": 20})
    leader = w.run_until(w.leader, 5000)
    lagging = next(n for n in w.ids if n != leader)
    w.crash(lagging)
    rids = [w.submit(leader, put(f"v{i}", key=f"k{i % 5}")) for i in range(100)]
    w.run_until(lambda: all(r in w.answers for r in rids), 5000)
    c = core(w, leader)
    assert c.replica.snapshot_slot > 60 and len(c.replica.decisions) < 30
    assert all(s >= c.acceptor.decided_upto for s in c.acceptor.accepted)
    w.restart(lagging)
    w.run_until(lambda: core(w, lagging).replica.slot_out >= c.replica.slot_out, 5000)
    assert core(w, lagging).kv.state_machine.data == c.kv.state_machine.data
    assert core(w, lagging).replica.snapshot_slot > 1  # it installed a snapshot


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(21, 221))
def test_multipaxos_sweep(seed: int) -> None:
    result = run_once("paxos", seed, duration_ms=5000, nemesis_kinds=FAULTS,
                      options={"snapshot_threshold": 40}, disk_latency_ms=seed % 3)
    assert result.ok, result.failure
