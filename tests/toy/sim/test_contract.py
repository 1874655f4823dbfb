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
    rid = w.submit("n2", KvCommand("put", "k", "v1", None, "c1", 1))
    w.run_until(lambda: rid in w.answers, max_ms=2000)
    assert w.answers[rid].error is None and isinstance(w.answers[rid].result, KvResult)
    w.run_for(500)  # Committed rounds reach the backups; n5 stays dead
    check_after_forward(details(w))
    for other in ("n3", "n4", "n5"):  # the primary can reach only n2: nothing commits
        w.cut("n1", other)
    rid = w.submit("n2", KvCommand("put", "k", "v2", None, "c1", 2))
    w.run_until(lambda: rid in w.answers, max_ms=2000)
    assert isinstance(w.answers[rid].error, Unavailable), w.answers[rid]
    check_after_cut(details(w))


def test_a_deferred_reply_leaves_only_after_its_write_is_durable() -> None:
    """With a slow disk, the primary's deferred reply waits for the write of the entry
    it answers for; the trace shows the order."""
    w = World(ADAPTER, 3, seed=2, disk_latency_ms=20)
    w.trace_lines = []
    rid = w.submit("n2", KvCommand("put", "k", "v", None, "c1", 1))
    w.run_until(lambda: rid in w.answers, max_ms=2000)
    sent_at = next(int(line.split()[0]) for line in w.trace_lines if "reply n1->n2" in line
                   and "Forwarded" in line)
    assert sent_at >= 2 * 20, "the deferred reply left before two writes (primary, backup)"


@pytest.mark.parametrize("seed", range(1, 9))
def test_toy_histories_are_linearizable_under_the_random_nemesis(seed: int) -> None:
    result = run_once(ADAPTER, seed, duration_ms=4000)
    assert result.ok, result.failure
    assert result.verdict == "ok" and len(result.history) > 50
