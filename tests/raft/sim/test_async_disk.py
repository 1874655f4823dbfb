"""The asyncio host's pump on the simulator: disk writes take time while the node keeps
running (group commit), a leader's AppendEntries leave before its own write completes
(thesis §10.2.1), replies wait for the write, and a crash mid-write loses it
(``World(disk_latency_ms=...)``). Every Raft invariant is checked after every event, so
these runs check the argument in ``Envelope.ahead_of_persist``'s docstring."""

from __future__ import annotations

import pytest

from protocols.raft.core import Role
from protocols.raft.messages import AppendEntries, RequestVote
from protocols.simulate import run_once
from tests.raft.core_harness import Net
from tests.raft.raft_harness import raft
from tests.raft.sim.test_parity import _figure8


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_churn_with_asynchronous_disk(seed: int) -> None:
    result = run_once("raft", 500 + seed, nodes=5, duration_ms=6000, clients=3,
                      disk_latency_ms=3, options={"snapshot_threshold": 32})
    assert result.ok, result.failure
    assert result.verdict == "ok"


@pytest.mark.parametrize("seed", [1, 2])
def test_figure8_with_asynchronous_disk(seed: int) -> None:
    _figure8(seed, 200, unreliable=False, disk_latency_ms=4)


def test_only_a_leaders_append_entries_go_ahead_of_its_disk_write() -> None:
    """Votes (a candidate's RequestVote carries its new term and self-vote) must wait for
    the disk; a leader's AppendEntries may not (§10.2.1)."""
    net = Net.create(3, pre_vote=False)
    n1 = net.cores["n1"]
    for _ in range(200):  # until its election timer fires
        n1.tick()
        ready = n1.ready()
        if ready.messages:
            assert {type(e.msg) for e in ready.messages} == {RequestVote}
            assert not any(e.ahead_of_persist for e in ready.messages)
            assert ready.persist, "the new term and self-vote are written first"
            break
    else:
        raise AssertionError("n1 never campaigned")
    n1._become_leader()
    ready = n1.ready()
    appends = [e for e in ready.messages if isinstance(e.msg, AppendEntries)]
    assert n1.role == Role.LEADER and appends and all(e.ahead_of_persist for e in appends)


@pytest.mark.parametrize("seed", range(8))
def test_a_lone_voter_never_sends_its_unwritten_commit(seed: int) -> None:
    """One voter and one learner, writes taking 5 ms, the voter crashing mid-write: the
    voter's own copy completes the quorum by itself, so its AppendEntries must wait for
    its disk (else the learner applies entries the voter then loses)."""
    from protocols.raft.messages import ChangeMembership
    from protocols.raft.sim import ADAPTER
    from protocols.sim import World
    from tests.raft.raft_harness import check_one_leader, put

    w = World(ADAPTER, 2, seed, options={"initial_voters": ["n1"]}, disk_latency_ms=5)
    check_one_leader(w)
    rid = w.submit("n1", ChangeMembership("add_learner", "n2"))
    w.run_until(lambda: rid in w.answers, 2000)
    rng = w.rng("test")
    for i in range(40):
        if w.nodes["n1"].up and raft(w, "n1").role == Role.LEADER:
            w.submit("n1", put(f"v{i}"))
        w.run_for(rng.randrange(1, 8))
        if rng.random() < 0.3:
            w.crash("n1")
            w.restart("n1")
        w.run_for(rng.randrange(1, 30))
    w.run_for(2000)  # invariants ran after every event; the learner keeps up
    assert raft(w, "n2").commit_index <= raft(w, "n1").commit_index
