"""Hypothesis on the core: random schedules of ticks, deliveries, drops, partitions and
proposals across 3-5 cores, with the Raft safety properties (§5.4.3, Figure 3) checked
after every step. Hypothesis prints the failing schedule; its seed with --hypothesis-seed."""

from __future__ import annotations

from core_harness import Net
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols.common.ids import NodeId
from protocols.kv.commands import KvCommand
from protocols.raft.core import LEADER
from protocols.raft.messages import Entry

_step = st.one_of(
    st.tuples(st.just("tick"), st.integers(0, 4), st.integers(1, 15)),
    st.tuples(st.just("deliver"), st.integers(1, 20), st.just(0)),
    st.tuples(st.just("drop"), st.integers(1, 3), st.just(0)),
    st.tuples(st.just("submit"), st.integers(0, 4), st.integers(0, 99)),
    st.tuples(st.just("isolate"), st.integers(0, 4), st.just(0)),
    st.tuples(st.just("heal"), st.just(0), st.just(0)),
)


class _Invariants:
    def __init__(self, net: Net) -> None:
        self.net = net
        self.leader_of_term: dict[int, str] = {}
        self.commit: dict[str, int] = {}
        self.committed: dict[int, Entry] = {}

    def check(self) -> None:
        for node, core in sorted(self.net.cores.items()):
            if core.role == LEADER:  # election safety (§5.2)
                seen = self.leader_of_term.setdefault(core.current_term, node)
                assert seen == node, f"two leaders in term {core.current_term}: {seen}, {node}"
            assert core.commit_index >= self.commit.get(node, 0), f"{node} commit went back"
            self.commit[node] = core.commit_index
            for i in range(core.log.snapshot_index + 1, core.commit_index + 1):
                e = core.log.entry(i)  # state machine safety (compacted entries were checked)
                assert self.committed.setdefault(i, e) == e, f"{node} differs at committed {i}"
        self._log_matching()
        for core in self.net.cores.values():  # leader completeness (§5.4)
            if core.role == LEADER:
                for i, e in self.committed.items():
                    if i <= core.log.snapshot_index:
                        continue  # in its snapshot: committed state, term checked below
                    assert i <= core.log.last_index and core.log.entry(i) == e, (
                        f"leader {core.node_id} lacks committed entry {i}")

    def _log_matching(self) -> None:
        """§5.3 Log Matching: same index and term -> identical logs up to there."""
        logs = [{e.index: e for e in c.log.entries()} for _, c in sorted(self.net.cores.items())]
        for a in logs:
            for b in logs:
                common = [i for i in a if i in b and a[i].term == b[i].term]
                if common:
                    top = max(common)
                    assert all(a[i] == b[i] for i in a if i <= top and i in b)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.sampled_from([3, 5]), pre_vote=st.booleans(), seed=st.integers(0, 10**6),
       snapshot_threshold=st.sampled_from([0, 1, 2]), steps=st.lists(_step, max_size=120))
def test_random_schedules_keep_raft_safety(n: int, pre_vote: bool, seed: int,
                                           snapshot_threshold: int,
                                           steps: list[tuple[str, int, int]]) -> None:
    print(f"seed={seed} n={n} pre_vote={pre_vote} snapshot_threshold={snapshot_threshold}")
    net = Net.create(n, seed=seed, pre_vote=pre_vote, election_timeout_min_ticks=5,
                     election_timeout_max_ticks=12, heartbeat_interval_ticks=2,
                     snapshot_threshold=snapshot_threshold, snapshot_chunk_bytes=64)
    ids = sorted(net.cores)
    inv = _Invariants(net)
    for kind, a, b in steps:
        node = ids[a % n]
        if kind == "tick":
            for _ in range(b):
                net.cores[node].tick()
                net.drain(node)
        elif kind == "deliver":
            for _ in range(min(a, len(net.queue))):
                net.deliver_one()
        elif kind == "drop":
            for _ in range(min(a, len(net.queue))):
                src, dst, msg = net.queue.popleft()
                net.cores[src].on_send_failed(NodeId(dst), msg)
                net.drain(src)
        elif kind == "submit":
            net.cores[node].submit(f"r{b}", KvCommand("put", f"k{b % 3}", str(b)))
            net.drain(node)
        elif kind == "isolate":
            net.isolate(node)
        else:
            net.heal()
        inv.check()
