"""The toy protocol in the simulator: the contract's message kinds (see
tests/toy/scenario.py; tests/toy/integration/test_contract.py runs the same scenario on
real processes), and linearizable histories under the random nemesis."""

from __future__ import annotations

import pytest

from protocols.common.errors import Unavailable
from protocols.kv.commands import KvCommand, KvResult
from protocols.sim import World, run_once
from tests.toy.protocol.sim import ADAPTER
from tests.toy.scenario import NODES, check_after_cut, check_after_forward


def details(w: World) -> dict[str, dict[str, str]]:
    out = {}
    for n in w.up_nodes():
        st = w.status(n)
        assert st is not None
        out[str(n)] = st.details
    return out


def test_one_way_and_deferred_reply_semantics() -> None:
    w = World(ADAPTER, NODES, seed=1)
    w.crash("n5")
    rid = w.submit("n2", KvCommand("put", "k", "v1"))
    w.run_until(lambda: rid in w.answers, max_ms=2000)
    assert w.answers[rid].error is None and isinstance(w.answers[rid].result, KvResult)
    w.run_for(500)  # Committed rounds reach the backups; n5 stays dead
    check_after_forward(details(w))
    for other in ("n3", "n4", "n5"):  # the primary can reach only n2: nothing commits
        w.cut("n1", other)
    rid = w.submit("n2", KvCommand("put", "k", "v2"))
    w.run_until(lambda: rid in w.answers, max_ms=2000)
    assert isinstance(w.answers[rid].error, Unavailable), w.answers[rid]
    check_after_cut(details(w))


@pytest.mark.parametrize("seed", range(1, 9))
def test_toy_histories_are_linearizable_under_the_random_nemesis(seed: int) -> None:
    result = run_once(ADAPTER, seed, duration_ms=4000)
    assert result.ok, result.failure
    assert result.verdict == "ok" and len(result.history) > 20
