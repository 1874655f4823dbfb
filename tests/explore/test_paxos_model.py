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


# The ballot reuse, as read from commits 72fc2db/aa06ad6 (3 nodes): n2 leads 1.n2 and X
# reaches its own acceptor alone; n1 learns round 1, runs phase 1 for 2.n1 with n2 (which
# reports X) and n3, and sends P2a(2.n1, slot 1, X) ahead of its own write; n2 accepts
# it; n1 crashes inside the write, restarts, leads 2.n1 again with n3 and proposes Y in
# slot 1. The explorer's search has not reached it within minutes (23 moves: BFS had
# 48 510 unique states at depth 14 after 90 s); the path replays on the explorer.
BALLOT_REUSE = [
    "tick n2", "tick n2", "deliver n2->n3 P1a", "deliver reply n3->n2 P1b", "submit 'X'",
    "deliver n2->n1 P1a", "persist n1", "tick n1", "tick n1", "deliver n1->n2 P1a",
    "deliver n1->n3 P1a", "deliver reply n2->n1 P1b", "deliver reply n3->n1 P1b",
    "deliver n1->n2 P2a", "crash n1", "restart n1", "tick n1", "tick n1",
    "deliver n1->n3 P1a", "deliver reply n3->n1 P1b", "persist n1", "submit 'Y'",
    "persist n1",
]


def _walk(adapter: ExploreAdapter, steps: list[str]) -> tuple[int, str | None]:
    """Take each step (the first enabled move whose label has all its words); the step
    at which an always-property broke and why, or (steps taken, None)."""
    from protocols.explore.model import Always
    from protocols.explore.search import check_always
    from protocols.explore.system import System

    props = [p for p in Explorer(adapter).properties if isinstance(p, Always)]
    system = System(adapter)
    for i, step in enumerate(steps, 1):
        words = step.split()
        move = next((m for m in system.moves() if all(w in str(m) for w in words)), None)
        if move is None:
            return i, f"step {i} ({step}) is not possible"
        system.apply(move)
        for p in props:
            why = check_always(p, system)
            if why is not None:
                return i, f"{p.name}: {why}"
    return len(steps), None


def test_multipaxos_ballot_reuse_path_breaks_the_code_before_the_fix_only() -> None:
    with planted("round-durable"):
        step, why = _walk(_model("paxos", "ballot-reuse", "full"), BALLOT_REUSE)
    assert (step, (why or "")[:48]) == (
        23, "sim:PaxosInvariants: paxos A4: ballot 2.n1 carri"), why
    step, why = _walk(_model("paxos", "ballot-reuse", "full"), BALLOT_REUSE)
    assert why is None or "A4" not in why, why  # the fixed code: n1 leads 3.n1 instead
