"""Raft in the simulator: the adapter and the invariants checked after every event.

Invariants (Raft §5.2-§5.4, Figure 3), checked across the whole run, including nodes
that crashed and came back:

* Election Safety: at most one leader per term;
* Log Matching: same index and term => identical logs up to there;
* Leader Completeness: a leader's log holds every entry committed before its term;
* State Machine Safety: no two different entries committed (applied) at one index;
* commit index monotonic within each incarnation of a node.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from protocols.check.invariants import (
    InvariantViolation,
    check_log_matching,
    check_single_leader_per_epoch,
)
from protocols.common.errors import NotLeader, Unavailable
from protocols.common.outbox import Answer
from protocols.kv.commands import KvCommand, KvResult
from protocols.raft import SPEC, RaftSpec
from protocols.raft.core import LEADER, RaftCore

if TYPE_CHECKING:
    from protocols.sim.world import World

__all__ = ["ADAPTER", "RaftAdapter", "RaftInvariants"]


class RaftInvariants:
    """Keeps what it has seen, so a crash cannot hide a violation."""

    def __init__(self) -> None:
        self.leaders: dict[int, str] = {}
        self.committed: dict[int, tuple[int, bytes]] = {}  # index -> (term, command)
        self.commit_seen: dict[tuple[str, int], int] = {}

    def __call__(self, world: World) -> None:
        cores = {n: node.core for n, node in world.nodes.items()
                 if node.up and isinstance(node.core, RaftCore)}
        for n, core in sorted(cores.items()):
            self._election_safety(n, core)
            self._commit_monotonic(n, world.nodes[n].incarnation, core)
            self._state_machine_safety(n, core)
        check_log_matching({n: [(e.term, e.command) for e in c.log.entries()]
                            for n, c in cores.items()})
        for n, core in cores.items():
            if core.role == LEADER:
                self._leader_completeness(n, core)

    def _election_safety(self, n: str, core: RaftCore) -> None:
        if core.role == LEADER:
            check_single_leader_per_epoch([(self.leaders.get(core.current_term, n),
                                            core.current_term, LEADER),
                                           (n, core.current_term, LEADER)])
            self.leaders[core.current_term] = n

    def _commit_monotonic(self, n: str, incarnation: int, core: RaftCore) -> None:
        key = (n, incarnation)
        if core.commit_index < self.commit_seen.get(key, 0):
            raise InvariantViolation(f"commit index of {n} went backwards: "
                                     f"{self.commit_seen[key]} -> {core.commit_index}")
        self.commit_seen[key] = core.commit_index

    def _state_machine_safety(self, n: str, core: RaftCore) -> None:
        for index in range(1, core.commit_index + 1):
            e = core.log.entry(index)
            seen = self.committed.setdefault(index, (e.term, e.command))
            if seen != (e.term, e.command):
                raise InvariantViolation(f"two entries committed at index {index}: "
                                         f"{seen!r} and, on {n}, {(e.term, e.command)!r}")

    def _leader_completeness(self, n: str, core: RaftCore) -> None:
        for index, (term, _) in self.committed.items():
            if term < core.current_term and (index > core.log.last_index
                                             or core.log.term_at(index) != term):
                raise InvariantViolation(f"leader {n} of term {core.current_term} lacks "
                                             f"the entry committed at index {index}")


class RaftAdapter:
    name = "raft"
    spec: RaftSpec = SPEC

    def invariants(self) -> list[Callable[[World], None]]:
        return [RaftInvariants()]

    def message_size(self, msg: Any) -> int:
        entries = getattr(msg, "entries", ())
        return 32 + sum(24 + len(e.command) for e in entries)

    def kv_command(self, f: str, key: str, value: Any, client_id: str, seq: int) -> Any:
        if f == "cas":
            expected, new = value
            return KvCommand("cas", key, new, expected, client_id, seq)
        return KvCommand(f, key, value or "", None, client_id, seq)  # type: ignore[arg-type]

    def kv_outcome(self, f: str, answer: Answer) -> tuple[str, Any, str | None]:
        if isinstance(answer.error, NotLeader):
            return "redirect", None, answer.error.leader_hint
        if isinstance(answer.error, Unavailable):
            return "retry", None, str(answer.error)
        if answer.error is not None:
            return "fail", None, str(answer.error)
        result = answer.result
        assert isinstance(result, KvResult)
        if f == "get":
            return "ok", (result.value if result.found else None), None
        if f == "cas":
            return "ok", result.ok, None
        return "ok", None, None


ADAPTER = RaftAdapter()
