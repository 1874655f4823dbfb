"""The Synod (single-decree Paxos, "Paxos Made Simple" §2) in the simulator: dueling
proposers (every client asks a different node for a different value), message loss,
duplication, partitions and crashes. After every event at most one value is chosen
(``check.paxos.SynodAgreement``); once the faults heal, every client learns the one
value (with a stable majority, one is chosen)."""

from __future__ import annotations

import pytest

from protocols.sim.nemesis import KINDS
from protocols.simulate import run_once


@pytest.mark.parametrize("seed", range(1, 21))
def test_at_most_one_value_chosen_and_every_client_learns_it(seed: int) -> None:
    result = run_once("synod", seed, nodes=5, clients=5, duration_ms=5000,
                      nemesis_kinds=KINDS)
    assert result.ok, result.failure or result.describe()
    assert result.verdict == "ok"


@pytest.mark.parametrize("seed", range(1, 6))
def test_duplicated_and_lost_messages_choose_one_value(seed: int) -> None:
    from protocols.paxos.sim import SYNOD
    from protocols.sim import NetworkConfig, World

    w = World(SYNOD, 3, seed, network=NetworkConfig(delay_min_ms=0, delay_max_ms=30,
                                                     drop_request_rate=0.2,
                                                     drop_reply_rate=0.2,
                                                     duplicate_rate=0.3))
    rids = [w.submit(n, f"v{n}") for n in w.ids]  # three proposers at once
    w.run_until(lambda: all(r in w.answers for r in rids), max_ms=30_000)
    assert len({w.answers[r].result for r in rids}) == 1


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(21, 221))
def test_synod_sweep(seed: int) -> None:
    result = run_once("synod", seed, nodes=5, clients=5, duration_ms=5000,
                      nemesis_kinds=KINDS)
    assert result.ok, result.failure or result.describe()
