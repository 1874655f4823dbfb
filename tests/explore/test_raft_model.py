"""Raft's models (#33, ``protocols.raft.explore``): on every path within the bounds the
fixed code keeps Election Safety, Log Matching, Leader Completeness and State Machine
Safety (§5.2-§5.4) and a linearizable client history, while a leader is elected and the
client's entry is committed (the model is not vacuous); and the explorer finds each
planted bug of docs/raft-rules.md it can reach, naming the property it breaks.

The small model (n1 campaigns, the client asks n1) takes seconds; the planted election
bugs need two candidates (n1's and n2's timers fire, no client: the bug is in the
votes). The other sizes and bugs run with ``--run-slow``.
"""

from __future__ import annotations

import dataclasses

import pytest

from protocols.explore import Bounds, ExploreAdapter
from protocols.explore.search import Explorer, Result
from tests.support.planted import planted

SAFETY = "sim:RaftInvariants"  # protocols.check.raft.RaftSafety, the simulator's checker
LEADER, COMMITTED = "a leader is elected", "the entry is committed"

# two candidates, every order of their votes; no client (what breaks is in the votes)
VOTES = Bounds(depth=40, ticks=2, in_flight=6, persist_moves=False, timeouts=False)
ELECTIONS = dict(bounds=VOTES, timers=("n1", "n2"), client=False)


def model(name: str, size: str = "small", *, bounds: Bounds | None = None,
          timers: tuple[str, ...] | None = None, crash: tuple[str, ...] = (),
          client: bool = True) -> ExploreAdapter:
    """Model ``name`` of the registry at ``size``, with its bounds, its ticking nodes
    (and the nodes that may crash) or its client replaced when given (load it inside
    ``planted`` to get the planted code)."""
    from protocols.raft.explore import OnlyTimers
    from protocols.registry import load_models
    adapter = load_models("raft")[name](size)
    changes: dict[str, object] = {}
    if bounds is not None:
        changes["bounds"] = bounds
    if timers is not None:
        changes["within"] = OnlyTimers(timers, crash=crash)
    if not client:
        changes.update(commands=(), targets=())
    return dataclasses.replace(adapter, **changes)  # type: ignore[arg-type]


def explore_planted(mutation: str, name: str, **changes: object) -> Result:
    """Breadth-first (the shortest counterexample) over ``name`` with ``mutation``."""
    with planted(mutation):
        return Explorer(model(name, **changes)).run("bfs")  # type: ignore[arg-type]


def broken(result: Result) -> list[str]:
    return [c.prop for c in result.counterexamples]


def test_the_fixed_code_is_safe_and_elects_and_commits() -> None:
    result = Explorer(model("raft")).run("bfs")
    assert result.ok, result.verdicts()
    assert result.complete and result.unique > 500, result.summary()
    assert result.reached[LEADER] is not None and result.reached[COMMITTED] is not None


@pytest.mark.slow
@pytest.mark.parametrize("name", ["raft-checkquorum", "raft-prevote",
                                  "raft-prevote-checkquorum"])
def test_every_small_model_is_safe_and_commits(name: str) -> None:
    result = Explorer(model(name)).run("bfs")
    assert result.ok, result.verdicts()
    assert result.reached[COMMITTED] is not None


@pytest.mark.parametrize("mutation", ["vote-once", "term-update"])
def test_a_planted_election_bug_elects_two_leaders_in_one_term(mutation: str) -> None:
    """vote-once (RequestVote 2: one vote per term) and term-update (§5.1: a larger
    term makes a server a follower of it, with its vote reset): n3 votes for both
    candidates of term 1, and both lead it. The counterexample is the shortest: each
    candidate's two timer firings, its RequestVote to n3 and n3's reply."""
    result = explore_planted(mutation, "raft", **ELECTIONS)
    assert broken(result) == [SAFETY]
    assert result.counterexamples[0].why.startswith("election safety: two leaders in term 1")
    assert len(result.counterexamples[0].path) == 8


@pytest.mark.slow
def test_a_planted_election_restriction_bug_elects_a_leader_without_a_committed_entry(
        ) -> None:
    """election-restriction (§5.4.1: vote only for a log at least as up-to-date): n1
    leads term 1 and commits its no-op on n1 and n2; n3, whose log is empty, campaigns
    in term 2 and n1 votes for it. Leader Completeness breaks (§5.4). n1's and n3's
    timers fire; no client: the committed entry is the new leader's no-op (§8)."""
    result = explore_planted("election-restriction", "raft", bounds=VOTES,
                             timers=("n1", "n3"), client=False)
    assert broken(result) == [SAFETY]
    assert result.counterexamples[0].why.startswith(
        "leader completeness: leader n3 of term 2 lacks the entry committed at index 1")


@pytest.mark.slow
def test_a_planted_unpersisted_vote_is_forgotten_in_a_crash() -> None:
    """persist-vote (Figure 2: votedFor is persistent): n3 votes for n1 in term 1 without
    writing it, crashes, restarts and votes for n2 in term 1: two leaders in term 1."""
    bounds = dataclasses.replace(VOTES, crashes=1)
    result = explore_planted("persist-vote", "raft", bounds=bounds, timers=("n1", "n2"),
                             crash=("n3",), client=False)
    assert broken(result) == [SAFETY]
    assert result.counterexamples[0].why.startswith("election safety: two leaders in term 1")
    assert [m.kind for m in result.counterexamples[0].path].count("crash") == 1


@pytest.mark.slow
@pytest.mark.parametrize("name", ["raft", "raft-checkquorum", "raft-prevote",
                                  "raft-prevote-checkquorum"])
def test_the_full_model_is_safe(name: str) -> None:
    """The issue's target: two candidates and the client at any node (many minutes
    each; scripts/check-models prints the figures)."""
    result = Explorer(model(name, "full")).run("bfs")
    assert result.ok, result.verdicts()
