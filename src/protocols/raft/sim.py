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
    """Keeps what it has seen, so a crash cannot hide a violation.

    Incremental, so it can run after every event of long runs: per node incarnation it
    remembers how far it has checked, and rechecks a log only when entries were removed
    (``RaftLog.truncations``). Log Matching is checked in its inductive form: every
    (index, term) ever seen names one entry - one command and one term before it -
    across all nodes and all time, which implies identical prefixes.
    """

    def __init__(self) -> None:
        self.leaders: dict[int, str] = {}
        self.committed: dict[int, tuple[int, bytes]] = {}  # index -> (term, command)
        self.max_committed = 0
        self.commit_seen: dict[tuple[str, int], int] = {}
        self.entries_seen: dict[tuple[int, int], tuple[bytes, int]] = {}
        self.log_checked: dict[tuple[str, int], tuple[int, int, int]] = {}
        self.commit_checked: dict[tuple[str, int], tuple[int, int]] = {}
        self.leader_checked: dict[tuple[str, int, int], int] = {}

    def __call__(self, world: World) -> None:
        cores = {n: (node.incarnation, node.core) for n, node in world.nodes.items()
                 if node.up and isinstance(node.core, RaftCore)}
        for n, (inc, core) in sorted(cores.items()):
            self._election_safety(n, core)
            self._commit_monotonic(n, inc, core)
            self._log_matching(n, inc, core)
            self._state_machine_safety(n, inc, core)
        for n, (inc, core) in cores.items():
            if core.role == LEADER:
                self._leader_completeness(n, inc, core)

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

    def _log_matching(self, n: str, incarnation: int, core: RaftCore) -> None:
        log = core.log
        checked, truncations, last = self.log_checked.get((n, incarnation), (0, -1, 0))
        first = log.snapshot_index + 1
        if truncations == log.truncations and last <= log.last_index:
            first = max(first, checked + 1)
        for index in range(first, log.last_index + 1):
            e = log.entry(index)
            try:
                prev = log.term_at(index - 1)
            except IndexError:
                prev = -1
            seen = self.entries_seen.setdefault((index, e.term), (e.command, prev))
            if seen != (e.command, prev):
                raise InvariantViolation(
                    f"log matching: two different entries at index {index} term {e.term}: "
                    f"{seen!r} and, on {n}, {(e.command, prev)!r} (command, previous term)")
        self.log_checked[(n, incarnation)] = (log.last_index, log.truncations, log.last_index)

    def _state_machine_safety(self, n: str, incarnation: int, core: RaftCore) -> None:
        log = core.log
        if log.snapshot_index:  # a snapshot holds only committed entries
            self._committed(n, log.snapshot_index, log.snapshot_term, None)
        checked, truncations = self.commit_checked.get((n, incarnation), (0, -1))
        first = log.snapshot_index + 1
        if truncations == log.truncations:
            first = max(first, checked + 1)
        for index in range(first, core.commit_index + 1):
            e = log.entry(index)
            self._committed(n, index, e.term, e.command)
        self.commit_checked[(n, incarnation)] = (core.commit_index, log.truncations)

    def _committed(self, n: str, index: int, term: int, command: bytes | None) -> None:
        seen = self.committed.get(index)
        if seen is None:
            if command is None:
                return  # only the term is known: nothing to record
            self.committed[index] = (term, command)
            self.max_committed = max(self.max_committed, index)
        elif seen[0] != term or (command is not None and seen[1] != command):
            raise InvariantViolation(f"two entries committed at index {index}: {seen!r} "
                                     f"and, on {n}, {(term, command)!r}")

    def _leader_completeness(self, n: str, incarnation: int, core: RaftCore) -> None:
        key = (n, incarnation, core.current_term)
        log = core.log
        for index in range(max(self.leader_checked.get(key, 0), log.snapshot_index) + 1,
                           self.max_committed + 1):
            seen = self.committed.get(index)
            if seen is None or seen[0] >= core.current_term:
                continue
            if index > log.last_index or log.term_at(index) != seen[0]:
                raise InvariantViolation(f"leader {n} of term {core.current_term} lacks "
                                         f"the entry committed at index {index}")
        self.leader_checked[key] = self.max_committed


class RaftAdapter:
    name = "raft"
    spec: RaftSpec = SPEC

    def invariants(self) -> list[Callable[[World], None]]:
        return [RaftInvariants()]

    def message_size(self, msg: Any) -> int:
        entries = getattr(msg, "entries", ())
        return 32 + len(getattr(msg, "data", b"")) + sum(24 + len(e.command) for e in entries)

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
