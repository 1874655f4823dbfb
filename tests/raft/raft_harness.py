"""Helpers for Raft scenarios on the simulator, after MIT 6.5840's test harness
(``checkOneLeader``, ``one``, ``nCommitted``), in simulated milliseconds."""

from __future__ import annotations

from typing import Any

from protocols.common.ids import NodeId
from protocols.kv.commands import KvCommand
from protocols.raft.core import RaftCore, Role
from protocols.raft.messages import EntryKind
from protocols.raft.sim import ADAPTER
from protocols.sim import World

ELECTION_MS = 600  # the longest election timeout at default options (60 ticks x 10 ms)


def make_world(nodes: int, seed: int, **kw: Any) -> World:
    print(f"seed={seed} (replay: World(ADAPTER, {nodes}, seed={seed}))")
    return World(ADAPTER, nodes, seed, **kw)


def raft(w: World, n: str) -> RaftCore:
    core = w.core(n)
    assert isinstance(core, RaftCore)
    return core


def connected(w: World) -> list[NodeId]:
    """Up nodes that are not disconnected from every other node (MIT's view)."""
    return [n for n in w.up_nodes()
            if not all((n, m) in w.network.cut for m in w.ids if m != n)]


def leaders(w: World, among: list[NodeId] | None = None) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for n in among if among is not None else w.up_nodes():
        core = raft(w, n)
        if core.role == Role.LEADER:
            out.setdefault(core.current_term, []).append(n)
    return out


def check_one_leader(w: World, max_ms: int = 5 * ELECTION_MS) -> str:
    """Exactly one leader in the newest term among connected nodes."""
    def found() -> str | None:
        by_term = leaders(w, connected(w))
        if not by_term:
            return None
        newest = max(by_term)
        assert len(by_term[newest]) == 1, f"term {newest} has leaders {by_term[newest]}"
        return by_term[newest][0]

    result: str = w.run_until(found, max_ms)
    return result


def check_no_leader(w: World, among: list[NodeId]) -> None:
    assert leaders(w, among) == {}, f"unexpected leader among {among}: {leaders(w, among)}"


def terms(w: World) -> set[int]:
    return {raft(w, n).current_term for n in connected(w)}


def put(value: str, key: str = "k", client: str = "", seq: int = 0) -> KvCommand:
    return KvCommand("put", key, value, None, client, seq)


def n_committed(w: World, index: int) -> tuple[int, Any]:
    """How many up nodes have applied an entry at ``index``, and its command."""
    count, command = 0, None
    for n in w.up_nodes():
        core = raft(w, n)
        if core.last_applied >= index:
            count += 1
            if index <= core.log.snapshot_index:
                continue  # compacted into a snapshot (RaftInvariants checked it)
            entry = core.log.entry(index)
            if command is not None and entry.command != command:
                raise AssertionError(f"committed values differ at index {index}")
            command = entry.command
    return count, command


def one(w: World, cmd: KvCommand, expected: int, retry: bool = True,
        max_ms: int = 10_000) -> int:
    """MIT's one(): submit at whoever leads, until ``expected`` nodes commit it."""
    deadline = w.now + max_ms
    while w.now < deadline:
        for n in connected(w) or w.up_nodes():
            core = raft(w, n)
            if core.role != Role.LEADER:
                continue
            before = core.log.last_index
            w.submit(n, cmd)
            if core.log.last_index == before:
                continue
            index = core.log.last_index
            try:
                w.run_until(lambda i=index: _committed_cmd(w, i, cmd, expected), 2000)
                return index
            except AssertionError:
                if not retry:
                    raise
            break
        w.run_for(50)
    raise AssertionError(f"one({cmd}) failed to reach agreement on {expected} nodes")


def _committed_cmd(w: World, index: int, cmd: KvCommand, expected: int) -> bool:
    count, command = n_committed(w, index)
    return count >= expected and command in (cmd.encode(), None)


def normal_commands(w: World, n: str) -> list[bytes]:
    core = raft(w, n)
    return [e.command for e in core.log.entries()[: core.commit_index]
            if e.kind == EntryKind.NORMAL]
