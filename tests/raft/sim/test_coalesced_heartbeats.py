"""Many Raft groups in one process heartbeat together: a leader's heartbeats fall on the
multiples of its interval in its node's ticks, so the leaders a process hosts (ticked
together, DESIGN.md "Composed systems") send theirs in the same tick, and the host
sends them to each peer process as one coalesced frame (CockroachDB's coalesced
heartbeats; scripts/bench groups measures what it saves)."""

from __future__ import annotations

from collections import defaultdict

from protocols.common.ids import NodeId
from protocols.contract import Envelope
from protocols.raft import SPEC
from protocols.raft.messages import AppendEntries
from protocols.raft.sim import ADAPTER
from protocols.sim import World


def test_the_leaders_of_one_process_heartbeat_in_the_same_ticks() -> None:
    w = World(ADAPTER, 3, seed=5)
    for g in ("r2", "r3", "r4", "r5", "r6"):
        w.add_group(g, SPEC, list(w.ids))
    beats: dict[tuple[str, str], set[int]] = defaultdict(set)  # (node, group) -> times
    send = w._send

    def spy(src: NodeId, env: Envelope, group: str = "") -> None:
        if isinstance(env.msg, AppendEntries) and not env.msg.entries:
            beats[(src, group)].add(w.now)
        send(src, env, group)

    w._send = spy  # type: ignore[method-assign]
    w.run_for(3000)  # every group elects a leader and settles
    beats.clear()
    w.run_for(2000)
    by_node: dict[str, list[set[int]]] = defaultdict(list)
    for (node, _group), times in beats.items():
        by_node[node].append(times)
    assert sum(len(v) for v in by_node.values()) == 6, dict(beats)  # one leader per group
    assert any(len(v) > 1 for v in by_node.values()), "no node leads two groups: no test"
    for node, sets in by_node.items():
        assert all(s == sets[0] for s in sets), f"{node}'s leaders beat apart: {sets}"
        assert len(sets[0]) >= 15  # every 100 ms for 2 s
