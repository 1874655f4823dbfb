"""Raft's safety checker (protocols.check.raft): each property caught when a violation
is planted in otherwise valid node states, and the allowed case of a stale leader of an
earlier term, which must not be flagged. The last test plants a violation in a live
simulated run, so the simulator's wiring of the checker is proven too."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from protocols.check.invariants import InvariantViolation
from protocols.check.raft import RaftSafety
from protocols.raft.core import Role
from protocols.raft.log import RaftLog
from protocols.raft.messages import Entry, EntryKind
from protocols.raft.sim import ADAPTER
from protocols.sim import SimulationFailure, World
from tests.raft.raft_harness import check_one_leader, raft


def entries(*terms: int, tag: str = "") -> list[Entry]:
    return [Entry(t, i, EntryKind.NORMAL, f"{tag}{i}".encode()) for i, t in enumerate(terms, 1)]


@dataclass
class Node:
    role: str = "follower"
    current_term: int = 1
    commit_index: int = 0
    log: RaftLog = field(default_factory=RaftLog)


def node(terms: tuple[int, ...] = (), role: str = "follower", term: int = 1, commit: int = 0,
         tag: str = "") -> Node:
    return Node(role, term, commit, RaftLog(entries(*terms, tag=tag)))


def test_valid_states_pass() -> None:
    safety = RaftSafety()
    safety.observe({"n1": (1, node((1, 1, 2), "leader", 2, 3)),
                    "n2": (1, node((1, 1, 2), term=2, commit=3)),
                    "n3": (1, node((1,), term=1, commit=1))})


def test_election_safety_two_leaders_in_one_term() -> None:
    safety = RaftSafety()
    safety.observe({"n1": (1, node(role="leader", term=3))})
    with pytest.raises(InvariantViolation, match="election safety: two leaders in term 3"):
        safety.observe({"n2": (1, node(role="leader", term=3))})  # even seen later


def test_log_matching_same_index_and_term_different_command() -> None:
    safety = RaftSafety()
    with pytest.raises(InvariantViolation, match="log matching"):
        safety.observe({"n1": (1, node((1, 1))), "n2": (1, node((1, 1), tag="x"))})


def test_state_machine_safety_two_entries_committed_at_one_index() -> None:
    safety = RaftSafety()
    safety.observe({"n1": (1, node((1, 1), term=1, commit=2))})
    with pytest.raises(InvariantViolation, match="state machine safety"):
        safety.observe({"n2": (1, node((1, 2), term=2, commit=2))})


def test_commit_index_never_goes_backwards() -> None:
    safety = RaftSafety()
    safety.observe({"n1": (1, node((1, 1), commit=2))})
    with pytest.raises(InvariantViolation, match="went backwards"):
        safety.observe({"n1": (1, node((1, 1), commit=1))})
    safety.observe({"n1": (2, node((1, 1), commit=0))})  # a restart starts again from 0


def test_leader_completeness_a_later_leader_lacks_a_committed_entry() -> None:
    safety = RaftSafety()
    safety.observe({"n1": (1, node((1, 1, 2), "leader", 2, 3))})  # index 3 committed in term 2
    with pytest.raises(InvariantViolation, match="leader completeness: leader n2 of term 3"):
        safety.observe({"n2": (1, node((1, 1), "leader", 3, 2))})


def test_a_stale_leader_of_an_earlier_term_may_lack_it() -> None:
    """Raft allows this: n2 still leads term 2 in a minority while the majority committed
    index 3 in term 3 (the schedule Hypothesis found, issue #19)."""
    safety = RaftSafety()
    safety.observe({"n1": (1, node((1, 1, 3), "leader", 3, 3)),
                    "n2": (1, node((1, 1), "leader", 2, 2))})


def test_the_simulator_runs_the_checker_after_every_event() -> None:
    w = World(ADAPTER, 3, seed=5)
    leader = check_one_leader(w)
    follower = next(n for n in w.ids if n != leader)
    core = raft(w, follower)
    core.current_term = raft(w, leader).current_term
    core.role = Role.LEADER  # planted: a second leader in the same term
    with pytest.raises(SimulationFailure, match="election safety"):
        w.run_for(50)
