"""The toy protocol in the simulator: the contract's message kinds (see
tests/toy/scenario.py; tests/toy/integration/test_contract.py runs the same scenario on
real processes), linearizable histories under the random nemesis (with the toy's own
fault, a backup restarting), trace lines and message sizes."""

from __future__ import annotations

import random

import pytest

from protocols.common.errors import Unavailable
from protocols.common.ids import NodeId
from protocols.kv.commands import KvCommand, KvResult
from protocols.sim import World, run_once
from tests.toy.protocol.core import ToyCore
from tests.toy.protocol.sim import ADAPTER, restart_backup
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


def test_commits_are_traced_and_messages_counted_by_their_size() -> None:
    """Trace lines reach the simulator's trace (prefixed by the node); the simulator's byte
    counters use the spec's message_size."""
    w = World(ADAPTER, 3, seed=2)
    w.trace_lines = []
    rid = w.submit("n1", KvCommand("put", "k", "v" * 50))
    w.run_until(lambda: rid in w.answers, max_ms=2000)
    assert any(line.startswith("n1 commit 1..1") or " n1 commit 1..1" in line
               for line in w.trace_lines), w.trace_lines[-20:]
    command = KvCommand("put", "k", "v" * 50).encode()
    assert w.rpc_bytes["Replicate"] >= 2 * (12 + len(command))  # one to each backup
    assert w.rpc_bytes["Replicate"] % (12 + len(command)) == 0


def test_the_toys_own_nemesis_action_restarts_a_backup_that_catches_up() -> None:
    w = World(ADAPTER, 3, seed=3)
    w.submit("n1", KvCommand("put", "a", "1"))
    w.run_for(200)
    label = restart_backup(w, random.Random(1))
    assert label in ("restart-backup n2", "restart-backup n3")
    restarted = label.split()[-1]
    assert w.nodes[NodeId(restarted)].incarnation == 2
    rid = w.submit("n1", KvCommand("put", "b", "2"))
    w.run_until(lambda: rid in w.answers, max_ms=2000)
    w.run_for(500)  # the primary's resends reach it
    core = w.core(restarted)
    assert isinstance(core, ToyCore) and core.commit_index == 2


@pytest.mark.parametrize("seed", range(1, 5))
def test_histories_stay_linearizable_with_backups_restarting(seed: int) -> None:
    result = run_once(ADAPTER, seed, duration_ms=4000,
                      nemesis_kinds=("restart-backup", "partition", "crash"))
    assert result.ok, result.failure
    assert result.verdict == "ok" and len(result.history) > 20
