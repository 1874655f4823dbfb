"""List-append transactions (Jepsen's Elle workload) on a real Raft cluster under
partitions, kills and pauses, through the generic chaos harness
(``tests.support.chaos.chaos_test``): the history is strictly serializable
(``protocols.check.elle``), and no acknowledged append is lost (the final read of every
key, after healing, is in the history)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from cluster.runner import LocalCluster
from cluster.workload import ListAppendWorkload
from protocols.check.history import History
from protocols.sim.api import Verdict
from tests.support.chaos import Serializable, chaos_test, run_chaos

Factory = Callable[..., Awaitable[LocalCluster]]


def list_append(c: LocalCluster, seed: int) -> ListAppendWorkload:
    return ListAppendWorkload(c.client_addresses, clients=5, keys=4, seed=seed,
                              op_deadline_s=4.0, attempt_timeout_s=0.5)


async def test_list_append_on_raft_is_strictly_serializable(cluster: Factory,
                                                             tmp_path: Path) -> None:
    checker = Serializable()
    _, verdict = await chaos_test(cluster, "raft", list_append, checker, seed=11,
                                  tmp_path=tmp_path, duration_s=6.0,
                                  kinds=("partition_halves", "isolate", "kill", "pause"))
    assert verdict.ok and checker.result is not None
    final = [e for e in checker.result.txns.values() if e.process == 5]
    assert len(final) == 1 and final[0].status == "ok", "the final read did not complete"
    read = {k: v for _, k, v in final[0].ops}
    assert sum(len(v or ()) for v in read.values()) > 20, read  # appends were made and kept
    assert checker.result.edges > 50


class Refuses:
    """A checker that finds every history wrong: the harness must fail the test."""

    name = "refuses-everything"

    def __call__(self, history: History) -> Verdict:
        return Verdict(self.name, "violation", f"{len(history)} events, all refused")

    def artifacts(self, history: History, out: Path, shade: list[tuple[float, float, str]]
                  ) -> list[Path]:
        path = out / "refused.txt"
        path.write_text(f"{len(shade)} faults\n")
        return [path]


async def test_the_harness_fails_a_test_whose_checker_finds_a_violation(
        cluster: Factory, tmp_path: Path) -> None:
    c = await cluster("raft", nodes=3, seed=12)
    with pytest.raises(pytest.fail.Exception, match="refuses-everything: violation"):
        await run_chaos(c, list_append(c, 12), Refuses(), seed=12, duration_s=2.5,
                        tmp_path=tmp_path, kinds=("latency",))
    assert (tmp_path / "refused.txt").exists()
    assert History.from_jsonl((tmp_path / "history.jsonl").read_text()).events
