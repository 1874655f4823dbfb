"""The CockroachDB-style store's models (``protocols.txnkv.explore``, issue #36): the
cores of three nodes, two keys on two ranges, Ann's parallel commit and Bob's read that
pushes and recovers it, explored move by move; the TLA+ model's properties, atomicity
and the clients' view checked in every state. The whole space is out of reach at the
explorer's speed here (about 300 states/s: every message carries an HLC, and each
range's Raft log and lease are part of the state), so the tests walk its first states
depth first, deep paths first: a coordinator killed in the middle of its commit, and the
reader's recovery that follows."""

from __future__ import annotations

import pytest

from protocols.explore.search import Explorer
from protocols.registry import load_models
from tests.support.planted import planted


def test_a_recovery_that_commits_without_checking_the_writes_is_caught() -> None:
    """The issue's planted bug, found by the explorer in its first thousand states: Ann's
    coordinator dies with her STAGING record and writes in flight; Bob finds the record
    abandoned and commits it blind; a write it named is not there."""
    with planted("txnkv-recovery-queries-writes"):
        model = load_models("txnkv")["recovery"]("small")
        result = Explorer(model, max_states=5000).run("dfs")
    (cx,) = result.counterexamples
    assert cx.prop == "atomicity" and "COMMITTED" in cx.why and "without its write" in cx.why
    assert [m.node for m in cx.path if m.kind == "crash"] == ["n3"]


def test_the_real_recovery_holds_on_the_same_paths() -> None:
    """The same first states with the real recovery (it queries each write and prevents
    a missing one): no property broken, and a STAGING record is recovered on the way
    (by the 800th state)."""
    result = Explorer(load_models("txnkv")["recovery"]("small"), max_states=1000).run("dfs")
    assert not result.counterexamples, result.verdicts()
    assert result.reached["a STAGING record recovered"] is not None


@pytest.mark.slow
@pytest.mark.parametrize("model", ["recovery", "store"])
@pytest.mark.parametrize("size", ["small", "full"])
def test_the_first_states_of_each_model(model: str, size: str) -> None:
    """20 000 states of each model depth first (about a minute each): no property
    broken. ``full`` adds a lost message and timeouts (``recovery``), a crash of any
    node restarting from its WAL (``store``)."""
    result = Explorer(load_models("txnkv")[model](size), max_states=20_000).run("dfs")
    assert not result.counterexamples, result.verdicts()
    assert result.states >= 20_000
