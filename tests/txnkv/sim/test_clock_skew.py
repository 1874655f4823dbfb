"""Clock skew within and beyond the bound (``max_offset_ms``, 250 ms by default), in the
simulator: within it, the uncertainty interval absorbs it and the bank holds; beyond it,
the node that finds itself out of sync with most of its peers (``ClockCheck``) refuses to
serve: its leases lapse, it hands its ranges' leadership over, it refuses transactions;
the others carry on. The random nemesis skews clocks too (``skew``)."""

from __future__ import annotations

from typing import Any

import pytest

from protocols.common.errors import Unavailable
from protocols.sim.api import WorkloadParams
from protocols.sim.nemesis import DEFAULT_KINDS
from protocols.sim.runner import run_once
from protocols.sim.world import World
from protocols.twopc.messages import MicroOp, Transact
from protocols.txnkv.core import TxnKvCore
from protocols.txnkv.sim import ADAPTER, TxnKvBank

OFFSET = 250


def _world(skew: int, seed: int = 1) -> World:
    return World(ADAPTER, 3, seed, node_options={"n2": {"clock_offset_ms": skew}})


def _core(w: World, n: str) -> TxnKvCore:
    core = w.core(n)
    assert isinstance(core, TxnKvCore)
    return core


def _serving(w: World, n: str) -> list[str]:
    core = _core(w, n)
    return sorted(rid for rid, r in core.replicas.items() if r.serving(core.hlc.current))


def _bank(w: World) -> Any:
    load = TxnKvBank(w, WorkloadParams(clients=3, keys=3, stop_at_ms=4000))
    load.start()
    w.run_for(4000)
    w.run_until(lambda: load.idle, max_ms=30_000)
    return load.verdict()


def test_a_node_beyond_the_bound_refuses_to_serve_and_the_others_carry_on() -> None:
    w = _world(0)
    n2 = _core(w, "n2")
    w.run_until(lambda: _serving(w, "n2"), max_ms=10_000)  # n2 holds a lease
    n2.skew_ms = 3 * OFFSET  # its clock jumps ahead, beyond the bound
    w.run_until(lambda: n2.clock_suspect() == ["n1", "n3"], max_ms=5000)
    assert not _serving(w, "n2")  # at once, though its lease has not run out
    assert _core(w, "n1").clock_suspect() == []  # n1 sees one peer off: not the outlier
    w.run_until(lambda: sorted(_serving(w, "n1") + _serving(w, "n3")) == ["r1", "r2", "r3"],
                max_ms=10_000)
    assert not _serving(w, "n2")
    assert n2.status().details["clock"].startswith("beyond the bound")
    rid = w.submit("n2", Transact((MicroOp("w", "a", 1),)))
    w.run_until(lambda: rid in w.answers, max_ms=1000)
    refused = w.answers[rid].error
    assert isinstance(refused, Unavailable) and refused.refused
    verdict = _bank(w)
    assert verdict.ok, verdict.summary
    n2.skew_ms = 0  # back within the bound: it serves again
    w.run_until(lambda: n2.clock_suspect() == [], max_ms=5000)


def test_a_node_within_the_bound_keeps_serving_and_the_bank_holds() -> None:
    w = _world(OFFSET // 2)
    w.run_for(3000)
    assert _core(w, "n2").clock_suspect() == []
    verdict = _bank(w)
    assert verdict.ok, verdict.summary


@pytest.mark.parametrize("workload", ["bank", "list-append"])
def test_a_seed_with_clocks_skewed_by_the_nemesis(workload: str) -> None:
    result = run_once(ADAPTER, 1, workload=workload, nemesis_kinds=(*DEFAULT_KINDS, "skew"))
    assert result.ok, result.failure


@pytest.mark.slow  # 2 x 40 seeds, about 3 minutes; the default suite runs one of each
@pytest.mark.parametrize("workload", ["bank", "list-append"])
def test_a_sweep_with_clocks_skewed_by_the_nemesis(workload: str) -> None:
    failed = [r.replay for seed in range(1, 41)
              if not (r := run_once(ADAPTER, seed, workload=workload,
                                    nemesis_kinds=(*DEFAULT_KINDS, "skew"))).ok]
    assert not failed, failed
