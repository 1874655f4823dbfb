"""The list-append workload (Jepsen's Elle) in the simulator, on Raft and Multi-Paxos:
transactions over several keys under the random nemesis, invariants after every event,
and the history judged strictly serializable by ``protocols.check.elle``. A stale read
planted in a live run is caught."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from protocols.check.elle import check_list_append
from protocols.contract import Answer
from protocols.kv.rsm import KvBinding
from protocols.raft.sim import RaftAdapter
from protocols.sim import runner
from protocols.sim.api import WorkloadFactory
from protocols.sim.nemesis import KINDS
from protocols.sim.workload import list_append_workload
from protocols.simulate import run_once


@pytest.mark.parametrize("protocol", ["raft", "paxos"])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_list_append_is_strictly_serializable_under_the_nemesis(protocol: str,
                                                                 seed: int) -> None:
    result = run_once(protocol, seed, duration_ms=5000, workload="list-append",
                      nemesis_kinds=KINDS, clients=5, keys=4, disk_latency_ms=seed % 3)
    print(result.describe(), "\n", result.replay)
    assert result.ok, result.failure
    assert result.verdicts[0].check == "strict-serializability"
    txns = [e for e in result.history if e.type == "ok"]
    assert len(txns) > 300, "the workload made almost no progress"
    reads = [op for e in txns for op in e.value if op[0] == "r" and op[2]]
    assert max(len(op[2]) for op in reads) > 20  # lists grew: the reads say something
    assert check_list_append(result.history).edges > len(txns)  # a dense graph was checked


class StaleReads(KvBinding):
    """A bug planted between the cluster and the history: every fifth answered txn
    shows its reads one append short (what a replica serving reads from stale state
    would answer)."""

    def __init__(self) -> None:
        self.answered = 0

    def kv_outcome(self, f: str, answer: Answer) -> tuple[str, Any, str | None]:
        status, result, why = super().kv_outcome(f, answer)
        if status == "ok" and f == "txn":
            self.answered += 1
            if self.answered % 5 == 0:
                result = [[g, k, v[:-1] if g == "r" and v else v] for g, k, v in result]
        return status, result, why


class StaleRaft(RaftAdapter):
    def workloads(self) -> Mapping[str, WorkloadFactory]:
        return {"list-append": list_append_workload(StaleReads())}


def test_a_stale_read_in_a_live_run_is_caught() -> None:
    result = runner.run_once(StaleRaft(), 1, duration_ms=3000, nemesis=False)
    assert result.verdict == "violation", result.describe()
    summary = result.verdicts[0].summary
    print(summary)
    assert "lost-append" in summary or "realtime" in summary
