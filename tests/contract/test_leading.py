"""``NodeStatus.leading``: a protocol with a leader says in this typed field which node
leads, and a leaderless one never does; ``World.leader()`` reads it (the role string is
the protocol's word, for display)."""

from __future__ import annotations

import pytest

from protocols.registry import load_sim
from protocols.sim import World

LED = ["raft", "paxos", "tests.toy.protocol:ENTRY"]
LEADERLESS = ["swim", "causal", "vkv", "synod"]


@pytest.mark.parametrize("protocol", LED)
def test_the_node_that_leads_says_so_and_no_other(protocol: str) -> None:
    w = World(load_sim(protocol), 3, seed=1)
    leader = w.run_until(w.leader, 5_000)
    w.run_for(1_000)  # settled: nobody else claims it meanwhile
    statuses = {n: w.status(n) for n in w.ids}
    assert [n for n, st in statuses.items() if st is not None and st.leading] == [leader]
    assert w.leader() == leader
    assert all(st is not None and st.leader_id in ("", leader) for st in statuses.values())


@pytest.mark.parametrize("protocol", LEADERLESS)
def test_a_leaderless_protocol_leads_nowhere(protocol: str) -> None:
    w = World(load_sim(protocol), 3, seed=1)
    w.run_for(3_000)
    assert all(st is not None and not st.leading for st in map(w.status, w.ids))
    assert w.leader() is None
