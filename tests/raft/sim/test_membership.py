"""Membership change (thesis §4.1-§4.2.3), one server at a time, on the simulator.

The simulated cluster has five nodes in its address book; ``initial_voters`` makes only
n1-n3 the first configuration, so n4 and n5 are spare servers until added. Each test
fails without the feature it names: the new voters are needed for a majority, the
learner's vote is not counted, a removed server is no longer needed.
"""

from __future__ import annotations

from typing import Any

import pytest

from protocols.common.errors import NotLeader, Unavailable
from protocols.kv.rsm import KV_BINDING
from protocols.raft.core import Role
from protocols.raft.messages import ChangeMembership, EntryKind, Membership
from protocols.sim import World
from tests.raft.raft_harness import check_one_leader, make_world, one, put, raft

SEEDS = [1, 2, 3]
THREE = {"initial_voters": ["n1", "n2", "n3"]}


def world(seed: int, **options: Any) -> World:
    return make_world(5, seed, options={**THREE, **options})


def change(w: World, action: str, node: str, max_ms: int = 20_000) -> Membership:
    """Submit at the leader until the change is committed (retrying "not yet" answers)."""
    deadline = w.now + max_ms
    last: Any = None
    while w.now < deadline:
        leader = check_one_leader(w)
        rid = w.submit(leader, ChangeMembership(action, node))
        w.run_until(lambda r=rid: r in w.answers, 5000)
        answer = w.answers[rid]
        if answer.error is None:
            assert isinstance(answer.result, Membership)
            return answer.result
        if not isinstance(answer.error, Unavailable | NotLeader):
            raise answer.error
        last = answer.error
        w.run_for(100)
    raise AssertionError(f"{action} {node} did not commit in {max_ms} ms: {last}")


def voters(w: World, n: str) -> set[str]:
    return set(raft(w, n).voters)


@pytest.mark.parametrize("seed", SEEDS)
def test_added_servers_join_as_learners_catch_up_and_then_count(seed: int) -> None:
    w = world(seed, snapshot_threshold=20)
    for i in range(50):  # enough that the new servers need a snapshot first
        one(w, put(f"v{i}", key=f"k{i % 5}"), 3)
    m = change(w, "add_learner", "n4")
    assert m == Membership(frozenset({"n1", "n2", "n3"}), frozenset({"n4"}))
    change(w, "promote", "n4")
    change(w, "add_learner", "n5")
    m = change(w, "promote", "n5")
    assert m.voters == {"n1", "n2", "n3", "n4", "n5"} and not m.learners
    # two of the three original voters fail: only the new voters make a majority
    leader = check_one_leader(w)
    originals = [n for n in ("n1", "n2", "n3") if n != leader]
    for n in originals:
        w.crash(n)
    one(w, put("with-new-voters"), 3)
    assert raft(w, "n4").state_machine.data["k4"] == "v49"


@pytest.mark.parametrize("seed", SEEDS)
def test_a_learner_receives_the_log_but_has_no_vote(seed: int) -> None:
    w = world(seed)
    one(w, put("a"), 3)
    change(w, "add_learner", "n4")
    one(w, put("b"), 4)  # the learner applies it too
    leader = check_one_leader(w)
    for n in ("n1", "n2", "n3"):
        if n != leader:
            w.crash(n)
    before = raft(w, leader).commit_index
    w.trace_lines = []
    w.submit(leader, put("no-majority"))
    w.run_for(3000)
    # leader + learner are two nodes, but only one of three voters: nothing commits
    assert raft(w, "n4").commit_index == before
    campaigns = [line for line in w.trace_lines
                 if line.split(" ")[1] in ("n4", "n5") and "for term" in line]
    assert campaigns == [], f"a learner or spare server campaigned: {campaigns[:3]}"


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_promotion_waits_until_the_learner_caught_up(seed: int) -> None:
    w = world(seed)
    one(w, put("a"), 3)
    change(w, "add_learner", "n4")
    w.disconnect("n4")
    for i in range(5):
        one(w, put(f"gap{i}"), 3)
    leader = check_one_leader(w)
    rid = w.submit(leader, ChangeMembership("promote", "n4"))
    w.run_until(lambda: rid in w.answers, 1000)
    assert isinstance(w.answers[rid].error, Unavailable)
    assert "catching up" in str(w.answers[rid].error)
    w.connect("n4")
    m = change(w, "promote", "n4")
    assert "n4" in m.voters


@pytest.mark.parametrize("seed", SEEDS)
def test_removed_follower_is_no_longer_needed(seed: int) -> None:
    w = world(seed)
    one(w, put("a"), 3)
    leader = check_one_leader(w)
    gone = next(n for n in ("n1", "n2", "n3") if n != leader)
    m = change(w, "remove", gone)
    assert gone not in m.voters and len(m.voters) == 2
    stay = next(n for n in ("n1", "n2", "n3") if n not in (leader, gone))
    w.crash(gone)
    one(w, put("two-voters"), 2)  # 2 of 2: still a majority without the removed one
    w.restart(gone)  # it comes back with its old configuration: no disruption
    w.run_for(3000)
    assert raft(w, leader).role == Role.LEADER or raft(w, stay).role == Role.LEADER
    one(w, put("after-return"), 2)


@pytest.mark.parametrize("seed", SEEDS)
def test_removed_leader_steps_down_once_the_change_commits(seed: int) -> None:
    w = world(seed)
    one(w, put("a"), 3)
    old = check_one_leader(w)
    m = change(w, "remove", old)
    assert old not in m.voters
    w.run_for(200)
    assert raft(w, old).role != Role.LEADER
    new = check_one_leader(w)
    assert new != old and new in m.voters
    one(w, put("b"), 2)
    w.run_for(3000)
    assert raft(w, old).role != Role.LEADER, "a removed server took over again"


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_one_change_at_a_time(seed: int) -> None:
    w = world(seed)
    one(w, put("a"), 3)
    leader = check_one_leader(w)
    first = w.submit(leader, ChangeMembership("add_learner", "n4"))
    second = w.submit(leader, ChangeMembership("add_learner", "n5"))
    w.run_until(lambda: first in w.answers and second in w.answers, 2000)
    assert w.answers[first].error is None
    assert isinstance(w.answers[second].error, Unavailable)
    assert "not committed yet" in str(w.answers[second].error)


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_configuration_survives_crashes_and_compaction(seed: int) -> None:
    w = world(seed, snapshot_threshold=8)
    one(w, put("a"), 3)
    change(w, "add_learner", "n4")
    change(w, "promote", "n4")
    for i in range(20):  # the CONFIG entries get compacted into snapshots
        one(w, put(f"v{i}"), 4)
    assert all(EntryKind.CONFIG not in {e.kind for e in raft(w, n).log.entries()}
               for n in ("n1", "n2", "n3", "n4"))
    for n in w.ids:
        w.crash(n)
    for n in w.ids:
        w.restart(n)
    for n in ("n1", "n2", "n3", "n4"):
        assert voters(w, n) == {"n1", "n2", "n3", "n4"}, f"{n} forgot the configuration"
    one(w, put("after"), 4)


def test_bad_changes_are_refused_with_a_reason() -> None:
    w = world(1)
    one(w, put("a"), 3)
    leader = check_one_leader(w)
    for action, node, why in [("add_learner", "n9", "unknown node"),
                              ("promote", "n5", "not a learner"),
                              ("demote", "n2", "unknown membership action")]:
        rid = w.submit(leader, ChangeMembership(action, node))
        w.run_until(lambda r=rid: r in w.answers, 1000)
        assert why in str(w.answers[rid].error)
    follower = next(n for n in ("n1", "n2", "n3") if n != leader)
    rid = w.submit(follower, ChangeMembership("add_learner", "n4"))
    w.run_until(lambda: rid in w.answers, 1000)
    assert isinstance(w.answers[rid].error, NotLeader)


def _reconfigure_randomly(w: World, every_ms: int, stop_at_ms: int) -> list[str]:
    """Every ``every_ms``: ask whoever leads for a random single-server change that keeps
    at least three voters. Answers are ignored: many are refused (a change in flight, a
    learner behind, no leader) and that is part of the test."""
    rng = w.rng("reconfigure")
    asked: list[str] = []

    def step() -> None:
        if w.now >= stop_at_ms:
            return
        leader = w.leader()
        if leader is not None:
            m = raft(w, leader).membership
            spare = sorted(set(w.ids) - m.members)
            options = [("add_learner", n) for n in spare]
            options += [("promote", n) for n in sorted(m.learners)]
            if len(m.voters) > 3:
                options += [("remove", n) for n in sorted(m.voters)]
            options += [("remove", n) for n in sorted(m.learners)]
            if options:
                action, node = rng.choice(options)
                w.submit(leader, ChangeMembership(action, node))
                asked.append(f"{action} {node}")
        w.at(every_ms, step)

    w.at(every_ms, step)
    return asked


@pytest.mark.parametrize("seed", [11, 12, 13, 14])
def test_membership_changes_under_churn(seed: int) -> None:
    """Random single-server changes while the random nemesis crashes, partitions and
    drops: every Raft invariant after every event, and the KV history linearizable."""
    from protocols.check.linearizability import check_history
    from protocols.sim.nemesis import RandomNemesis
    from protocols.sim.workload import KvWorkload

    w = world(seed, snapshot_threshold=30)
    w.trace_lines = []
    workload = KvWorkload(w, KV_BINDING, clients=3, keys=3, stop_at_ms=8000)
    workload.start()
    RandomNemesis(w, stop_at_ms=8000).start()
    asked = _reconfigure_randomly(w, 300, 8000)
    w.run_for(8000)
    w.heal()
    for n in w.ids:
        w.restart(n)
    w.run_until(lambda: workload.idle, workload.op_timeout_ms * 3)
    changes = [line for line in w.trace_lines if "configuration at" in line]
    assert len(asked) > 10 and len(changes) >= 3, f"too few changes: {asked}"
    result = check_history(workload.history, timeout_s=30)
    assert result.verdict == "ok", result.summary()
