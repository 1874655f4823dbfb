"""The Paxos models of the explorer (``protocols.paxos.explore``, issue #33).

The Synod ("Paxos Made Simple" §2): 3 acceptors and 2 proposers are safe in every
state of the small model and a value is chosen in some; a planted bug of the Synod is
found. Multi-Paxos ("Paxos Made Moderately Complex"): with the ballot-reuse bug of
commits 72fc2db/aa06ad6 planted (``round-durable``: the leader's round is never
written, yet its P2a leave ahead of its write, as before the fix), a crash between a
P2a leaving and the write reaching the disk lets n1 lead again with the same ballot and
two commands are accepted in one slot under one ballot; the fixed code is safe within
the same bounds."""

from __future__ import annotations

import dataclasses

import pytest

from protocols.explore import ExploreAdapter
from protocols.explore.search import Explorer, Result
from tests.support.planted import planted


def _model(protocol: str, name: str, size: str) -> ExploreAdapter:
    from protocols.registry import load_models  # inside planted(): the planted modules
    return load_models(protocol)[name](size)


def _props(result: Result) -> list[str]:
    return [c.prop for c in result.counterexamples]


# ====================================================================== the Synod
def test_synod_small_is_safe_and_chooses_a_value() -> None:
    result = Explorer(_model("synod", "synod", "small")).run("bfs")
    assert result.complete and not result.counterexamples, result.verdicts()
    assert result.reached["a value is chosen"] is not None
    assert result.unique > 1000  # both proposers ran: not a model that does nothing


# the Synod's planted bugs the explorer reaches without a crash: depth first over every
# order of messages (12 in flight), each proposer trying once
@pytest.mark.parametrize("mutation", ["synod-highest-value"])
def test_synod_planted_bug_is_found(mutation: str) -> None:
    with planted(mutation):
        a = _model("synod", "synod", "small")
        a = dataclasses.replace(a, bounds=dataclasses.replace(a.bounds, in_flight=12))
        result = Explorer(a).run("dfs")
    assert _props(result) == ["sim:SynodInvariants"], result.verdicts()


# ====================================================================== Multi-Paxos
def test_multipaxos_small_is_safe_and_decides() -> None:
    result = Explorer(_model("paxos", "multipaxos", "small")).run("bfs")
    assert result.complete and not result.counterexamples, result.verdicts()
    assert result.reached["a command is decided"] is not None
    assert {"sim:PaxosInvariants", "linearizable"} <= set(result.properties)


@pytest.mark.slow
def test_multipaxos_ballot_reuse_is_found_on_the_code_before_the_fix() -> None:
    """Not yet seen to pass: breadth-first had visited 554 259 unique states (depth 17)
    without the counterexample, whose shortest path is about 30 moves by hand (n1 leads
    with n2 and n3, its P2a leaves ahead of its own acceptance, the crash erases that
    write, n1 leads again with the same ballot and n3, and proposes Y in slot 1)."""
    with planted("round-durable"):
        result = Explorer(_model("paxos", "multipaxos", "full")).run("bfs")
    assert _props(result) == ["sim:PaxosInvariants"], result.verdicts()
    (c,) = result.counterexamples
    assert "slot" in c.why, c.why
    print(f"ballot reuse: {c.why} after {len(c.path)} moves:",
          *(f"  {m}" for m in c.path), sep="\n")


@pytest.mark.slow
def test_multipaxos_is_safe_within_the_same_bounds() -> None:
    result = Explorer(_model("paxos", "multipaxos", "full")).run("bfs")
    assert result.complete and not result.counterexamples, result.verdicts()
    assert result.reached["a command is decided"] is not None
    print(result.summary())
