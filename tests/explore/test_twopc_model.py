"""Two-phase commit's models (``protocols.twopc.explore``, issue #34): atomic on every
path the explorer walks, and 2PC's blocking found as a counterexample when the
coordinator does not come back (BHG §7.4)."""

from __future__ import annotations

import pytest

from protocols.explore.search import Explorer
from protocols.registry import load_models


def test_without_the_coordinators_recovery_a_participant_stays_in_doubt() -> None:
    """The coordinator dies with its decision (the write under way is lost) after both
    participants voted YES; they ask each other, neither knows: blocked, locks held.
    Depth first finds it at once; atomicity holds on the way."""
    result = Explorer(load_models("twopc")["blocking"]("small")).run("dfs")
    (cx,) = result.counterexamples
    assert (cx.prop, cx.kind) == ("an uncertain participant learns the outcome",
                                  "eventually")
    kinds = [m.kind for m in cx.path]
    assert kinds.count("crash") == 1 and "restart" not in kinds
    assert [m.node for m in cx.path if m.kind == "crash"] == ["n1"]


@pytest.mark.slow
def test_the_shortest_blocking_path() -> None:
    """Breadth first: the shortest such path is 12 moves (about a minute)."""
    result = Explorer(load_models("twopc")["blocking"]("small")).run("bfs")
    (cx,) = result.counterexamples
    assert len(cx.path) == 12 and result.reached["the transaction commits"] is not None


@pytest.mark.slow
def test_with_recovery_2pc_is_atomic() -> None:
    """The first 20 000 states breadth first of the small model (the coordinator crashes
    once, in any of its writes, and restarts from its log; every path to depth 12 or so):
    no transaction both committed and aborted, both outcomes reached. The whole model
    takes longer than five minutes (``scripts/check-models twopc``)."""
    result = Explorer(load_models("twopc")["atomic"]("small"), max_states=20_000).run("bfs")
    assert not result.counterexamples and all(result.reached.values()), result.verdicts()


@pytest.mark.slow
def test_with_three_participants_2pc_is_atomic_on_every_path_walked() -> None:
    """The issue's size, a coordinator and three participants (``three-shards``): the
    first 20 000 states depth first (deep paths: the crash in any of the coordinator's
    writes, its restart, the inquiries after it); no transaction both committed and
    aborted on any. The whole model is out of reach at these speeds (about 300 states/s:
    68 000 unique states at depth 14 after ten minutes breadth first)."""
    result = Explorer(load_models("twopc")["three-shards"]("small"),
                      max_states=20_000).run("dfs")
    assert not result.counterexamples, result.verdicts()
    assert result.states >= 20_000 and any(p is not None for p in result.reached.values())


def test_3pc_does_not_block_when_the_coordinator_crashes() -> None:
    """The ``blocking`` model's crash under 3PC, messages on time (Skeen's synchronous
    model): the participants' termination protocol finishes every path, atomically, and
    both outcomes are reached (about 2000 states, every path)."""
    result = Explorer(load_models("twopc")["nonblocking"]("small")).run("bfs")
    assert not result.counterexamples and all(result.reached.values()), result.verdicts()
    assert result.complete


def test_3pc_splits_when_the_participants_messages_are_late() -> None:
    """The same crash, the participants' messages now as late as a partition makes them:
    the shortest path to a split decision (breadth first, about 2500 states) is 12 moves:
    the PRECOMMIT reaches n2 only, the coordinator crashes, n2 and n3 each ask the other
    (one tick), hear nothing, and decide alone (a second tick): n2, PRECOMMITTED, commits;
    n3, PREPARED, aborts. Skeen's termination rule is safe only while a silent site is a
    failed one."""
    result = Explorer(load_models("twopc")["split"]("small")).run("bfs")
    (cx,) = result.counterexamples
    assert (cx.prop, cx.kind) == ("sim:Atomicity", "always") and len(cx.path) == 12
    assert "committed at ['n2'] and aborted at ['n3']" in cx.why
    moves = [(m.kind, m.node) for m in cx.path]
    assert moves.count(("crash", "n1")) == 1 and "restart" not in {k for k, _ in moves}
    assert moves.count(("tick", "n2")) == moves.count(("tick", "n3")) == 2
    precommits = [m for m in cx.path if m.kind == "deliver" and "PreCommit(" in str(m)]
    assert [m.node for m in precommits] == ["n2"]
