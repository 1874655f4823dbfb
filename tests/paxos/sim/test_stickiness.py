"""Leader stickiness (PMMC §4's "failure detection" made stable, the role Raft's pre-vote
and check-quorum play, thesis §9.6/§6.2): a node that was cut off and comes back with a
higher ballot does not depose a leader that kept working. Without stickiness it does —
the contrast proves the test can fail."""

from __future__ import annotations

import pytest

from protocols.kv.commands import KvCommand
from protocols.paxos.core import PaxosCore
from protocols.paxos.sim import ADAPTER
from protocols.sim import World


def core(w: World, n: str) -> PaxosCore:
    c = w.core(n)
    assert isinstance(c, PaxosCore)
    return c


def comeback(stickiness: bool, seed: int) -> tuple[bool, int]:
    """(the leader kept its ballot, writes that succeeded after the node came back)."""
    w = World(ADAPTER, 5, seed=seed, options={"stickiness": stickiness})
    w.run_until(w.leader, 5000)
    w.run_for(500)  # settled: every scout of the first election has given up
    leader = w.leader()
    assert leader is not None
    ballot = core(w, leader).leader.ballot_number
    away = next(n for n in w.ids if n != leader)
    w.disconnect(away)
    w.run_for(3000)  # ten election timeouts: it campaigns, alone, again and again
    assert core(w, away).max_round > ballot.round, "the cut-off node never campaigned"
    w.connect(away)
    rids = []
    for i in range(20):
        w.at(50 * i, lambda i=i: rids.append(w.submit(leader, KvCommand("put", "k", str(i)))))
    w.run_for(1500)
    kept = core(w, leader).leader.active and core(w, leader).leader.ballot_number == ballot
    done = sum(1 for r in rids if r in w.answers and w.answers[r].error is None)
    return kept, done


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_node_that_comes_back_does_not_depose_a_working_leader(seed: int) -> None:
    kept, done = comeback(stickiness=True, seed=seed)
    assert kept, "the returning node deposed the leader"
    assert done == 20


def test_without_stickiness_the_returning_node_deposes_the_leader() -> None:
    assert not any(comeback(stickiness=False, seed=s)[0] for s in (1, 2, 3))
