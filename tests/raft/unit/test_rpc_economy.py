"""RPC economy on the core, with MIT 6.5840's 3B thresholds (``count``, ``rpc_bytes``):
batching and pipelining must not cost extra messages, and each entry reaches each peer
once. Ticks are 10 ms by default, so 100 ticks are one second."""

from __future__ import annotations

from protocols.kv.commands import KvCommand
from protocols.raft.messages import AppendEntries
from tests.raft.core_harness import Net


def test_count_election_agreement_and_idle_rpcs() -> None:
    net = Net.create(3)
    net.wait_leader()
    assert len(net.sent) <= 30, f"{len(net.sent)} RPCs to elect a leader"
    leader = net.leaders()[0]
    net.tick(times=15)
    before = len(net.sent)
    for i in range(12):
        net.submit(leader, i, KvCommand("put", "k", str(i)))
    net.tick(times=10)  # followers learn the commit index on the next heartbeat
    assert all(c.commit_index >= 13 for c in net.cores.values())
    assert len(net.sent) - before <= 42, f"{len(net.sent) - before} RPCs for 12 entries"
    before = len(net.sent)
    net.tick(times=100)
    assert len(net.sent) - before <= 60, f"{len(net.sent) - before} RPCs in an idle second"


def test_rpc_bytes_each_entry_sent_once_per_peer() -> None:
    net = Net.create(3)
    leader = net.wait_leader()
    net.tick(times=15)
    start = len(net.sent)
    for i in range(10):
        net.submit(leader, i, KvCommand("put", "k", "x" * 5000))
    net.tick(times=30)
    sent = [e.index for _, _, m in net.sent[start:] if isinstance(m, AppendEntries)
            for e in m.entries]
    assert sorted(sent) == sorted(list(range(2, 12)) * 2), sent


def test_concurrent_reads_share_confirmation_rounds() -> None:
    """Thesis §6.4, batched: reads arriving while a confirmation round is in flight wait
    and share the next round, so 20 concurrent reads cost two rounds, not twenty."""
    net = Net.create(3)
    leader = net.wait_leader()
    net.submit(leader, "w", KvCommand("put", "k", "v"))
    net.tick(times=12)
    net.hold = lambda msg: isinstance(msg, AppendEntries)  # the first round stays in flight
    for i in range(20):
        net.submit(leader, f"r{i}", KvCommand("get", "k"))
    assert len(net.held) == 2  # one round: a heartbeat to each follower
    net.hold = lambda msg: False
    held, net.held = net.held, []
    net.queue.extend(held)
    net.deliver_all()  # the first round confirms; the 19 others go in one more round
    answers = [net.answer(leader, f"r{i}") for i in range(20)]
    assert all(a is not None and a.result.value == "v" for a in answers)
    rounds = {m.read_context for s, d, m in net.sent if s == leader
              and isinstance(m, AppendEntries) and m.read_context}
    assert len(rounds) <= 3, rounds  # the write's round of heartbeats, and two for reads
