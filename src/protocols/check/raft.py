"""Raft's safety properties (§5.2-§5.4, Figure 3), checked over observed node states.

``RaftSafety`` is fed snapshots of nodes — anything with the fields below, a ``RaftCore``
among them — after every simulated event (``protocols.raft.sim``) or every step of a
Hypothesis schedule (``tests/raft/unit/test_core_hypothesis.py``). It keeps what it has
seen, so a crash cannot hide a violation:

* Election Safety: at most one leader per term (§5.2);
* Log Matching: if two logs hold an entry with the same index and term, the logs are
  identical up to it (§5.3). Checked in its inductive form: every (index, term) ever
  seen names one command and one previous term, across all nodes and all time;
* Leader Completeness: an entry committed in term T is in the log of every leader of a
  term *later* than T (§5.4). (A stale leader of an earlier term, cut off in a minority,
  may lack it: Raft allows that.) T is taken as the current term of the first node seen
  with the entry committed: at least the term it was committed in, so the check may
  skip a leader it could have checked, but never raises a false alarm;
* State Machine Safety: no two different entries committed at one index (§5.4.3);
* each node's commit index never goes backwards within one incarnation.

Incremental, so it can run after every event of long runs: per node incarnation it
remembers how far it has checked, and rechecks a log only when entries were removed.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from protocols.check.invariants import InvariantViolation

__all__ = ["RaftEntryView", "RaftLogView", "RaftNodeView", "RaftSafety"]


class RaftEntryView(Protocol):
    @property
    def term(self) -> int: ...

    @property
    def command(self) -> bytes: ...


class RaftLogView(Protocol):
    @property
    def snapshot_index(self) -> int: ...

    @property
    def snapshot_term(self) -> int: ...

    @property
    def last_index(self) -> int: ...

    @property
    def truncations(self) -> int: ...  # bumped whenever entries are removed or replaced

    def entry(self, index: int) -> RaftEntryView: ...

    def term_at(self, index: int) -> int: ...


class RaftNodeView(Protocol):
    @property
    def role(self) -> str: ...

    @property
    def current_term(self) -> int: ...

    @property
    def commit_index(self) -> int: ...

    @property
    def log(self) -> RaftLogView: ...


_Key = tuple[str, int]  # (node, incarnation)


class RaftSafety:
    def __init__(self) -> None:
        self.leaders: dict[int, str] = {}  # term -> its leader
        self.committed: dict[int, tuple[int, bytes]] = {}  # index -> (term, command)
        self.commit_term: dict[int, int] = {}  # index -> term it was committed by
        self.max_committed = 0
        self._commit_seen: dict[_Key, int] = {}
        self._entries_seen: dict[tuple[int, int], tuple[bytes, int]] = {}
        self._log_checked: dict[_Key, tuple[int, int, int]] = {}
        self._commit_checked: dict[_Key, tuple[int, int]] = {}
        self._leader_checked: dict[tuple[str, int, int], int] = {}

    def observe(self, nodes: Mapping[str, tuple[int, RaftNodeView]]) -> None:
        """Check ``nodes`` (node id -> (incarnation, state)); raise InvariantViolation."""
        for n, (inc, node) in sorted(nodes.items()):
            self._election_safety(n, node)
            self._commit_monotonic((n, inc), node)
            self._log_matching(n, (n, inc), node)
            self._state_machine_safety(n, (n, inc), node)
        for n, (inc, node) in sorted(nodes.items()):
            if node.role == "leader":
                self._leader_completeness(n, inc, node)

    def _election_safety(self, n: str, node: RaftNodeView) -> None:
        if node.role != "leader":
            return
        other = self.leaders.setdefault(node.current_term, n)
        if other != n:
            raise InvariantViolation(f"election safety: two leaders in term "
                                     f"{node.current_term}: {other} and {n}")

    def _commit_monotonic(self, key: _Key, node: RaftNodeView) -> None:
        if node.commit_index < self._commit_seen.get(key, 0):
            raise InvariantViolation(f"commit index of {key[0]} went backwards: "
                                     f"{self._commit_seen[key]} -> {node.commit_index}")
        self._commit_seen[key] = node.commit_index

    def _log_matching(self, n: str, key: _Key, node: RaftNodeView) -> None:
        log = node.log
        checked, truncations, last = self._log_checked.get(key, (0, -1, 0))
        first = log.snapshot_index + 1
        if truncations == log.truncations and last <= log.last_index:
            first = max(first, checked + 1)
        for index in range(first, log.last_index + 1):
            e = log.entry(index)
            try:
                prev = log.term_at(index - 1)
            except IndexError:
                prev = -1
            seen = self._entries_seen.setdefault((index, e.term), (e.command, prev))
            if seen != (e.command, prev):
                raise InvariantViolation(
                    f"log matching: two different entries at index {index} term {e.term}: "
                    f"{seen!r} and, on {n}, {(e.command, prev)!r} (command, previous term)")
        self._log_checked[key] = (log.last_index, log.truncations, log.last_index)

    def _state_machine_safety(self, n: str, key: _Key, node: RaftNodeView) -> None:
        log = node.log
        if log.snapshot_index:  # a snapshot holds only committed entries
            self._committed(n, node, log.snapshot_index, log.snapshot_term, None)
        checked, truncations = self._commit_checked.get(key, (0, -1))
        first = log.snapshot_index + 1
        if truncations == log.truncations:
            first = max(first, checked + 1)
        for index in range(first, node.commit_index + 1):
            e = log.entry(index)
            self._committed(n, node, index, e.term, e.command)
        self._commit_checked[key] = (node.commit_index, log.truncations)

    def _committed(self, n: str, node: RaftNodeView, index: int, term: int,
                   command: bytes | None) -> None:
        seen = self.committed.get(index)
        if seen is None:
            if command is None:
                return  # only the term is known: nothing to record
            self.committed[index] = (term, command)
            self.commit_term[index] = node.current_term
            self.max_committed = max(self.max_committed, index)
        elif seen[0] != term or (command is not None and seen[1] != command):
            raise InvariantViolation(f"state machine safety: two entries committed at index "
                                     f"{index}: {seen!r} and, on {n}, {(term, command)!r}")

    def _leader_completeness(self, n: str, incarnation: int, node: RaftNodeView) -> None:
        key = (n, incarnation, node.current_term)
        log = node.log
        for index in range(max(self._leader_checked.get(key, 0), log.snapshot_index) + 1,
                           self.max_committed + 1):
            seen = self.committed.get(index)
            if seen is None or self.commit_term[index] >= node.current_term:
                continue  # committed in this leader's term or later: not its to hold
            if index > log.last_index or log.term_at(index) != seen[0]:
                raise InvariantViolation(
                    f"leader completeness: leader {n} of term {node.current_term} lacks the "
                    f"entry committed at index {index} in term {self.commit_term[index]}")
        self._leader_checked[key] = self.max_committed
