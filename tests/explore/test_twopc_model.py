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
