"""Paper-rule tests: each cites the rule of the Raft paper (Ongaro & Ousterhout 2014) or
the thesis (Ongaro 2014) it checks, driving cores directly through ``core_harness``."""

from __future__ import annotations

import random

from protocols.common.errors import NotLeader
from protocols.common.ids import NodeId
from protocols.kv.commands import KvCommand, KvResult
from protocols.raft.core import RaftCore, RaftOptions, Role
from protocols.raft.messages import (
    AppendEntries,
    Entry,
    EntryKind,
    RequestVote,
    TransferLeadership,
)
from protocols.raft.records import HardState, TruncateFrom
from tests.raft.core_harness import Net


def _put(key: str, value: str, client: str = "", seq: int = 0) -> KvCommand:
    return KvCommand("put", key, value, client_id=client, seq=seq)


def _core(entries: list[tuple[int, int]] = (), term: int = 0, **opts: object) -> RaftCore:  # type: ignore[assignment]
    log = [Entry(t, i, EntryKind.NOOP, b"") for i, t in entries]
    return RaftCore(NodeId("n1"), [NodeId("n2"), NodeId("n3")], random.Random(0),
                    RaftOptions.from_mapping(opts), term, None, log)


def test_5_2_one_leader_elected_and_terms_agree() -> None:
    """§5.2: a follower that hears nothing times out, campaigns, and a majority elects it."""
    net = Net.create(3)
    leader = net.wait_leader()
    terms = {c.current_term for c in net.cores.values()}
    assert len(terms) == 1 and terms.pop() >= 1
    term = net.cores[leader].current_term
    net.tick(times=200)  # heartbeats keep it leader: no new election
    assert net.leaders() == [leader] and net.cores[leader].current_term == term


def test_5_2_one_vote_per_term() -> None:
    """Figure 2 RequestVote rule 2: grant only if votedFor is null or candidateId."""
    core = _core(pre_vote=False, check_quorum=False)
    assert core.on_message(NodeId("n2"), RequestVote(1, "n2", 0, 0)).vote_granted
    assert not core.on_message(NodeId("n3"), RequestVote(1, "n3", 0, 0)).vote_granted
    assert core.ready().persist[-1] == HardState(1, "n2")  # the vote is persisted


def test_5_4_1_election_restriction() -> None:
    """§5.4.1: deny the vote to a candidate whose log is less up-to-date than ours."""
    core = _core([(1, 1), (2, 2)], term=2, pre_vote=False, check_quorum=False)
    assert not core.on_message(NodeId("n2"), RequestVote(3, "n2", 5, 1)).vote_granted
    assert not core.on_message(NodeId("n3"), RequestVote(3, "n3", 1, 2)).vote_granted
    assert core.on_message(NodeId("n3"), RequestVote(3, "n3", 2, 2)).vote_granted


def test_5_1_stale_term_rejected() -> None:
    """Figure 2 AppendEntries rule 1: reply false if term < currentTerm."""
    core = _core(term=5)
    reply = core.on_message(NodeId("n2"), AppendEntries(4, "n2", 0, 0, (), 0))
    assert not reply.success and reply.term == 5


def test_5_1_request_vote_of_a_stale_term_is_refused() -> None:
    """Figure 2 RequestVote rule 1: reply false if term < currentTerm (and record no
    vote: the candidate's term is over)."""
    core = _core(term=5, pre_vote=False, check_quorum=False)
    reply = core.on_message(NodeId("n2"), RequestVote(3, "n2", 10, 3))
    assert not reply.vote_granted and reply.term == 5
    assert core.voted_for is None and core.current_term == 5


def test_5_3_consistency_check_and_fast_backtracking() -> None:
    """§5.3: reject when prevLogIndex's term differs, naming the first index of the
    conflicting term so the leader skips the whole term in one round trip."""
    core = _core([(1, 1), (2, 2), (3, 2), (4, 2)], term=2)
    reply = core.on_message(NodeId("n2"), AppendEntries(3, "n2", 4, 3, (), 0))
    assert (reply.success, reply.conflict_term, reply.conflict_index) == (False, 2, 2)
    short = core.on_message(NodeId("n2"), AppendEntries(3, "n2", 9, 3, (), 0))
    assert (short.success, short.conflict_index) == (False, 5)


def test_5_3_conflicting_entries_truncated() -> None:
    """Figure 2 AppendEntries rule 3: delete a conflicting entry and all that follow."""
    core = _core([(1, 1), (2, 2), (3, 2)], term=2)
    new = (Entry(3, 2, EntryKind.NORMAL, b"x"),)
    reply = core.on_message(NodeId("n2"), AppendEntries(3, "n2", 1, 1, new, 0))
    assert reply.success and reply.match_index == 2
    assert [e.term for e in core.log.entries()] == [1, 3]
    assert TruncateFrom(2) in core.ready().persist


def test_5_4_2_figure8_old_term_entry_not_committed_by_count() -> None:
    """§5.4.2 / Figure 8: a leader never commits an earlier-term entry by counting
    replicas; it commits it only with an entry of its own term (the no-op)."""
    core = _core([(1, 1), (2, 2)], term=3, pre_vote=False, check_quorum=False)
    for _ in range(200):
        core.tick()
        if core.role == Role.CANDIDATE:
            break
    core.on_reply(NodeId("n2"), RequestVote(4, "n1", 2, 2), _granted(4))
    assert core.role == Role.LEADER and core.log.last_index == 3  # the no-op of term 4
    core.ready()
    core.on_persisted()  # the driver wrote it: our own copy counts from now on
    req = AppendEntries(4, "n1", 2, 2, (), 0)
    from protocols.raft.messages import AppendEntriesReply
    core.on_reply(NodeId("n2"), req, AppendEntriesReply(4, True, 2))
    assert core.commit_index == 0, "index 2 (term 2) must not commit by counting replicas"
    core.on_reply(NodeId("n2"), req, AppendEntriesReply(4, True, 3))
    assert core.commit_index == 3


def _granted(term: int) -> object:
    from protocols.raft.messages import RequestVoteReply
    return RequestVoteReply(term, True)


def test_basic_agree_commits_at_1_2_3_after_noop() -> None:
    """§5.3: commands commit in order on every server; apply in log order."""
    net = Net.create(3)
    leader = net.wait_leader()
    for i in range(3):
        net.submit(leader, f"r{i}", _put("k", str(i)))
    net.tick(times=20)
    for node, core in net.cores.items():
        assert core.commit_index == 4 and core.last_applied == 4, node
        assert core.state_machine.data == {"k": "2"}
    answers = [net.answer(leader, f"r{i}") for i in range(3)]
    assert all(a is not None and a.error is None for a in answers), answers


def test_follower_answers_not_leader_with_hint() -> None:
    """§8: a follower redirects clients to the leader it knows."""
    net = Net.create(3)
    leader = net.wait_leader()
    net.tick(times=15)
    follower = next(i for i in sorted(net.cores) if i != leader)
    net.submit(follower, "r", _put("k", "v"))
    answer = net.answer(follower, "r")
    assert answer is not None
    err = answer.error
    assert isinstance(err, NotLeader) and err.leader_hint == leader


def test_backup_over_divergent_entries_is_fast() -> None:
    """§5.3 (end): with conflict term/index the leader backs up over 50 divergent entries
    in a handful of round trips, not 50."""
    net = Net.create(5, pre_vote=False, check_quorum=False)
    old = net.wait_leader()
    net.isolate(old)
    for i in range(50):
        net.cores[old].submit(f"lost{i}", _put("k", f"lost{i}"))
        net.drain(old)
    net.deliver_all()
    others = [i for i in sorted(net.cores) if i != old]
    new = net.wait_leader(others)
    for i in range(50):
        net.submit(new, f"kept{i}", _put("k", f"kept{i}"))
    net.heal()
    before = net.append_count()
    net.tick(times=30)
    assert net.cores[old].log.entries() == net.cores[new].log.entries()
    assert net.cores[old].state_machine.data == {"k": "kept49"}
    assert net.append_count() - before < 60


def test_thesis_6_3_retried_put_applies_once() -> None:
    """Thesis §6.3: a retried command with the same (client, seq) applies once and
    returns the first result."""
    net = Net.create(3)
    leader = net.wait_leader()
    for client in ("c1", "c2"):
        net.submit(leader, f"register {client}", KvCommand("register", "", client_id=client))
    net.submit(leader, "a", KvCommand("cas", "k", "1", None, "c1", 1))
    net.submit(leader, "b", _put("k", "2", "c2", 1))
    net.submit(leader, "a-retry", KvCommand("cas", "k", "1", None, "c1", 1))
    net.tick(times=15)
    retry = net.answer(leader, "a-retry")
    assert retry is not None and retry.result == KvResult(found=False, value="", ok=True)
    assert all(c.state_machine.data == {"k": "2"} for c in net.cores.values())


def test_thesis_3_10_leadership_transfer() -> None:
    """Thesis §3.10: TimeoutNow makes the target campaign at once and win."""
    net = Net.create(3)
    leader = net.wait_leader()
    net.tick(times=15)
    target = next(i for i in sorted(net.cores) if i != leader)
    net.submit(leader, "t", TransferLeadership(target))
    net.tick(times=3)
    assert net.leaders() == [target]
    assert net.cores[leader].role == Role.FOLLOWER
    # to the leader itself: done already, answered at once, nothing changes
    term = net.cores[target].current_term
    net.submit(target, "self", TransferLeadership(target))
    answer = net.answer(target, "self")
    assert answer is not None and answer.error is None and answer.result == target
    net.tick(times=3)
    assert net.leaders() == [target] and net.cores[target].current_term == term
