"""Thesis extensions (Ongaro 2014), each switchable: every test runs with the feature on
and off and asserts the outcome differs, so it would fail if the feature did nothing."""

from __future__ import annotations

import pytest

from protocols.common.errors import NotLeader
from protocols.kv.commands import KvCommand
from protocols.raft.core import Role
from tests.raft.core_harness import Net


@pytest.mark.parametrize("pre_vote", [True, False])
def test_9_6_pre_vote_rejoining_node_does_not_bump_term(pre_vote: bool) -> None:
    """Thesis §9.6: a partitioned node's pre-votes fail, so it never raises its term and
    does not depose the leader when it rejoins. Without pre-vote it does both."""
    net = Net.create(3, pre_vote=pre_vote, check_quorum=False)
    leader = net.wait_leader()
    term = net.cores[leader].current_term
    lonely = next(i for i in sorted(net.cores) if i != leader)
    net.isolate(lonely)
    net.tick(times=300)
    net.heal()
    net.tick(times=100)
    bumped = net.cores[leader].current_term > term
    assert bumped is (not pre_vote), (
        f"pre_vote={pre_vote}: leader term {term} -> {net.cores[leader].current_term}, "
        f"rejoined node term {net.cores[lonely].current_term}")


@pytest.mark.parametrize("check_quorum", [True, False])
def test_6_2_check_quorum_isolated_leader_steps_down(check_quorum: bool) -> None:
    """Thesis §6.2: a leader that hears from no majority within an election timeout
    steps down; without check-quorum it stays leader forever behind the partition."""
    net = Net.create(3, check_quorum=check_quorum, pre_vote=False)
    leader = net.wait_leader()
    net.isolate(leader)
    net.tick([leader], times=200)
    assert (net.cores[leader].role == Role.LEADER) is (not check_quorum)


def test_6_4_read_index_deposed_leader_serves_no_stale_read() -> None:
    """Thesis §6.4: a leader answers a read only after a majority confirms it is still
    leader for its term, so a deposed leader cannot return a stale value."""
    net = Net.create(3, check_quorum=False, pre_vote=False)
    old = net.wait_leader()
    net.submit(old, "w1", KvCommand("put", "k", "old"))
    net.tick(times=15)
    net.isolate(old)
    new = net.wait_leader([i for i in sorted(net.cores) if i != old])
    net.submit(new, "w2", KvCommand("put", "k", "new"))
    net.tick(times=15)
    assert net.cores[old].role == Role.LEADER  # it does not know yet
    net.submit(old, "stale-read", KvCommand("get", "k"))
    net.tick([old], times=5)
    assert net.answer(old, "stale-read") is None, "a deposed leader served a read"
    net.heal()
    net.tick(times=30)
    answer = net.answer(old, "stale-read")
    assert answer is not None and isinstance(answer.error, NotLeader)
    net.submit(new, "fresh-read", KvCommand("get", "k"))
    net.tick(times=15)
    fresh = net.answer(new, "fresh-read")
    assert fresh is not None and fresh.result.value == "new"


@pytest.mark.parametrize("read_mode", ["lease", "read_index"])
def test_6_4_1_lease_read_needs_no_round_trip(read_mode: str) -> None:
    """Thesis §6.4.1: within its lease a leader answers a read at once, with no message;
    with ReadIndex it must first hear from a majority."""
    net = Net.create(3, read_mode=read_mode)
    leader = net.wait_leader()
    net.tick(times=12)  # a heartbeat round renews the lease
    net.cores[leader].submit("r", KvCommand("get", "k"))
    ready = net.cores[leader].ready()
    answered = any(a.request_id == "r" for a in ready.answers)
    assert answered is (read_mode == "lease") and (not ready.messages) is answered, ready


def test_6_4_1_expired_lease_serves_no_stale_read() -> None:
    """Thesis §6.4.1: once the lease runs out (80% of the minimum election timeout after
    the last acknowledged round), an isolated leader no longer answers reads alone."""
    net = Net.create(3, read_mode="lease")
    old = net.wait_leader()
    net.tick(times=12)
    net.isolate(old)
    net.tick([old], times=25)
    net.submit(old, "read", KvCommand("get", "k"))
    answer = net.answer(old, "read")
    assert answer is None or isinstance(answer.error, NotLeader), answer


def test_lease_mode_requires_check_quorum() -> None:
    from protocols.common.errors import ConfigError
    with pytest.raises(ConfigError, match="check_quorum"):
        Net.create(3, read_mode="lease", check_quorum=False)
