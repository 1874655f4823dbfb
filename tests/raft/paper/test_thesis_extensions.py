"""Thesis extensions (Ongaro 2014), each switchable: every test runs with the feature on
and off and asserts the outcome differs, so it would fail if the feature did nothing."""

from __future__ import annotations

import random

import pytest

from protocols.common.errors import NotLeader
from protocols.common.ids import NodeId
from protocols.kv.commands import KvCommand
from protocols.raft.core import RaftCore, RaftOptions, Role
from protocols.raft.messages import AppendEntries, RequestVote, TimeoutNow, TransferLeadership
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


def _lease_leader_with(value: str) -> tuple[Net, str]:
    net = Net.create(3, read_mode="lease")
    leader = net.wait_leader()
    net.submit(leader, "w-old", KvCommand("put", "k", value))
    net.tick(times=12)  # committed everywhere, and a heartbeat round renewed the lease
    return net, leader


def _stale_read_served(net: Net, old: str) -> bool:
    net.submit(old, "read", KvCommand("get", "k"))
    answer = net.answer(old, "read")
    return answer is not None and answer.error is None and answer.result.value == "old"


def test_6_4_1_no_lease_read_after_sending_timeout_now() -> None:
    """Issue #19 bug 1: the leader abandons a transfer whose TimeoutNow is still in the
    network, renews its lease, is cut off; TimeoutNow arrives, the target is elected at
    once (transfer votes skip leader stickiness) and commits. The old leader, inside
    its lease, must not answer the old value: a leader that sent TimeoutNow in its term
    serves no lease read in it."""
    net, old = _lease_leader_with("old")
    target = next(i for i in sorted(net.cores) if i != old)
    net.hold = lambda msg: isinstance(msg, TimeoutNow)  # delayed in the network
    net.submit(old, "transfer", TransferLeadership(target))
    net.tick(times=70)  # the transfer times out; heartbeats renew the lease
    assert net.held and net.cores[old].transfer_target is None
    assert net.cores[old].role == Role.LEADER
    net.isolate(old)
    net.cores[target].on_message(NodeId(old), net.held[0][2])  # TimeoutNow arrives late
    net.drain(target)
    net.deliver_all()
    assert net.cores[target].role == Role.LEADER
    net.submit(target, "w-new", KvCommand("put", "k", "new"))
    assert net.answer(target, "w-new") is not None
    assert not _stale_read_served(net, old)


def test_6_4_1_a_stalled_leader_serves_no_lease_read() -> None:
    """Issue #19 bug 2: the leader's process stalls (its ticks are skipped) while the
    others elect a new leader and commit. Its lease is measured on its monotonic clock,
    not in ticks, so it has expired when the leader runs again."""
    net, old = _lease_leader_with("old")
    net.isolate(old)
    others = [i for i in sorted(net.cores) if i != old]
    new = net.wait_leader(others)  # only the others tick: the old leader is stalled
    net.submit(new, "w-new", KvCommand("put", "k", "new"))
    assert net.answer(new, "w-new") is not None
    assert net.cores[old].role == Role.LEADER  # it has not run since
    assert not _stale_read_served(net, old)


def test_6_4_1_a_restarted_server_waits_before_voting_in_lease_mode() -> None:
    """A follower that answered the leader's round, crashed and restarted has forgotten
    hearing from it; in lease mode it refuses votes for an election timeout after it
    starts, or a new leader could be elected inside the old leader's lease."""
    fresh = RaftCore(NodeId("n9"), [NodeId("n1"), NodeId("n2")], random.Random(1),
                     RaftOptions.from_mapping({"read_mode": "lease"}))
    vote = fresh.on_message(NodeId("n1"), RequestVote(5, "n1", 10, 4))
    assert not vote.vote_granted
    for _ in range(fresh.options.election_timeout_min_ticks):
        fresh.tick()
    fresh.ready()
    assert fresh.on_message(NodeId("n1"), RequestVote(5, "n1", 10, 4)).vote_granted


def test_3_10_transfer_is_bounded_by_an_election_timeout_from_its_start() -> None:
    """Issue #19 bug 3: the transfer was aborted at the leader's next check-quorum point,
    possibly the next tick, after the RPC had answered success. It now lasts an election
    timeout (election_timeout_max_ticks) from its start, then the leader carries on."""
    net = Net.create(3, check_quorum=False)
    leader = net.wait_leader()
    net.tick(times=100)  # it has led for longer than an election timeout
    target = next(i for i in sorted(net.cores) if i != leader)
    net.cut |= {(leader, target), (target, leader)}  # so the transfer cannot finish
    net.submit(leader, "w", KvCommand("put", "k", "v"))
    net.submit(leader, "t", TransferLeadership(target))
    core = net.cores[leader]
    assert core.transfer_target == target
    net.tick([leader], times=core.options.election_timeout_max_ticks - 1)
    assert core.transfer_target == target, "the transfer was abandoned early"
    net.submit(leader, "refused", KvCommand("put", "k", "x"))
    answer = net.answer(leader, "refused")
    assert answer is not None and isinstance(answer.error, NotLeader)  # transferring
    net.tick([leader], times=1)
    assert core.transfer_target is None and core.role == Role.LEADER


def test_6_4_a_read_arriving_during_a_round_waits_for_the_next_one() -> None:
    """Thesis §6.4: a read's confirmation round must leave *after* the read arrived. A
    round already in flight proves leadership only as of when it left: here follower f1
    answered round R1, its answer is delayed, a new leader commits k=new, then a read
    reaches the old leader. Joining R1, f1's late answer would confirm it and the old
    leader would return 'old', a stale read; waiting for the next round, it cannot."""
    net = Net.create(3, check_quorum=False, pre_vote=False)
    old = net.wait_leader()
    net.submit(old, "w1", KvCommand("put", "k", "old"))
    net.tick(times=15)
    f1, f2 = (i for i in sorted(net.cores) if i != old)
    net.hold = lambda msg: isinstance(msg, AppendEntries)
    net.submit(old, "r1", KvCommand("get", "k"))  # round R1 leaves; the net holds it
    late = []
    for src, dst, msg in list(net.held):
        if src == old and dst == f1:  # f1 hears R1 and answers; the answer is delayed
            late.append((msg, net.cores[f1].on_message(NodeId(old), msg)))
            net.drain(f1)
    assert late, "round R1 never reached f1"
    net.held = []
    net.hold = lambda msg: False
    net.isolate(old)
    new = net.wait_leader([f1, f2])
    net.submit(new, "w2", KvCommand("put", "k", "new"))
    net.tick([f1, f2], times=15)
    w2 = net.answer(new, "w2")
    assert w2 is not None and w2.error is None
    net.submit(old, "r2", KvCommand("get", "k"))  # arrives after w2 was acknowledged
    for msg, reply in late:
        net.cores[old].on_reply(NodeId(f1), msg, reply)
        net.drain(old)
    r2 = net.answer(old, "r2")
    assert r2 is None or r2.error is not None or r2.result.value == "new", f"stale: {r2}"


def test_10_2_1_the_leaders_own_copy_counts_only_once_on_its_disk() -> None:
    """Thesis §10.2.1: a leader sends AppendEntries before its own write completes, but
    its copy counts toward a majority only once written. One follower's ack plus the
    leader's unwritten copy is not two copies on disk: nothing commits until the
    leader's write is done (then it does, without another reply)."""
    net = Net.create(3, check_quorum=False, pre_vote=False)
    leader = net.wait_leader()
    net.tick(times=15)
    net.deliver_all()
    core = net.cores[leader]
    before = core.commit_index
    core.submit("w", KvCommand("put", "k", "v"))
    ready = core.ready()  # the pump's step, by hand: its write is not done yet
    assert ready.persist, "the new entry is to be written"
    f1 = next(i for i in sorted(net.cores) if i != leader)
    append = next(e.msg for e in ready.messages
                  if e.dst == f1 and isinstance(e.msg, AppendEntries) and e.msg.entries)
    reply = net.cores[f1].on_message(NodeId(leader), append)
    net.drain(f1)  # the follower's copy is on its disk
    core.on_reply(NodeId(f1), append, reply)
    assert core.commit_index == before, "committed on a copy the leader had not written"
    core.on_persisted()
    assert core.commit_index == core.log.last_index > before


def test_6_4_read_index_needs_a_majority_not_one_ack() -> None:
    """Thesis §6.4: a read is confirmed by a *majority* acknowledging the leader's round.
    A leader cut off with one follower (a minority of five) hears one ack: not enough."""
    net = Net.create(5, check_quorum=False, pre_vote=False)
    old = net.wait_leader()
    net.submit(old, "w1", KvCommand("put", "k", "old"))
    net.tick(times=15)
    buddy = next(i for i in sorted(net.cores) if i != old)
    majority = [i for i in sorted(net.cores) if i not in (old, buddy)]
    for a in (old, buddy):
        for b in majority:
            net.cut |= {(a, b), (b, a)}
    new = net.wait_leader(majority)
    net.submit(new, "w2", KvCommand("put", "k", "new"))
    net.tick(majority, times=15)
    net.submit(old, "stale-read", KvCommand("get", "k"))
    net.tick([old, buddy], times=5)  # the buddy acknowledges the old leader's rounds
    answer = net.answer(old, "stale-read")
    assert answer is None or answer.error is not None, f"served with one ack: {answer}"


def test_6_4_a_new_leader_serves_reads_only_after_committing_in_its_term() -> None:
    """Thesis §6.4 / §8: a new leader's commit index may lag (it may hold a committed
    entry without knowing it is committed); it serves no read until the no-op of its term
    commits, even when a majority confirmed the read's round."""
    net = Net.create(3, check_quorum=False, pre_vote=False)
    old = net.wait_leader()
    heir, slow = (i for i in sorted(net.cores) if i != old)
    net.cut |= {(old, slow), (slow, old)}
    net.submit(old, "w", KvCommand("put", "k", "new"))  # committed by old + heir
    assert net.answer(old, "w") is not None
    assert net.cores[heir].commit_index < net.cores[old].commit_index  # not told yet
    net.isolate(old)
    net.hold = lambda msg: isinstance(msg, AppendEntries)  # the heir's first rounds wait
    net.wait_leader([heir, slow])
    assert net.cores[heir].role == Role.LEADER
    net.submit(heir, "read", KvCommand("get", "k"))
    for src, dst, msg in reversed(list(net.held)):  # the read's round reaches slow first
        if src == heir and dst == slow:
            reply = net.cores[dst].on_message(NodeId(src), msg)
            net.drain(dst)
            net.cores[src].on_reply(NodeId(dst), msg, reply)
            net.drain(src)
            break
    answer = net.answer(heir, "read")
    assert answer is None or answer.result.value == "new", f"stale read: {answer}"
