"""The composed scenario (tests/toy/scenario.py) in the simulator: two cores per node,
per-node roles, a node added and one removed mid-run, a crash at a named point; the
history is the one real processes record (tests/toy/integration/test_composed.py)."""

from __future__ import annotations

from typing import Any

from protocols.common.ids import NodeId
from protocols.kv.commands import KvCommand, KvResult
from protocols.sim import World
from tests.toy.protocol.sim import ADAPTER
from tests.toy.scenario import (
    COMPOSED_GROUP,
    COMPOSED_HISTORY,
    COMPOSED_NODES,
    COMPOSED_ROLES,
    COMPOSED_STEPS,
    CRASH_POINT,
    PRIMARY,
)


def run(w: World, step: tuple[str, ...], history: list[tuple[str, ...]]) -> None:
    match step:
        case ("put", group, key, value):
            result = ask(w, group, KvCommand("put", key, value))
            history.append(("put", group, key, "ok" if result.ok else "failed"))
        case ("get", group, key):
            result = ask(w, group, KvCommand("get", key))
            history.append(("get", group, key, result.value if result.found else "-"))
        case ("add_node", node):
            assert w.add_node() == NodeId(node)
        case ("crash_at", node):
            w.crash_at(node, CRASH_POINT, group="")
        case ("await_crash", node):
            w.run_until(lambda: node not in w.up_nodes(), max_ms=5000)
        case ("restart", node):
            w.restart(node)
        case ("remove_node", node):
            w.remove_node(node)
        case _:
            raise AssertionError(f"unknown step {step}")


def ask(w: World, group: str, command: KvCommand) -> Any:
    rid = w.submit(PRIMARY[group], command, group=group)
    w.run_until(lambda: rid in w.answers, max_ms=5000)
    answer = w.answers[rid]
    assert answer.error is None, answer
    assert isinstance(answer.result, KvResult)
    return answer.result


def test_the_composed_scenario_records_the_history_processes_do() -> None:
    w = World(ADAPTER, COMPOSED_NODES, seed=11, roles=COMPOSED_ROLES)
    w.add_group(COMPOSED_GROUP, ADAPTER.spec, list(w.ids))
    w.trace_lines = []
    history: list[tuple[str, ...]] = []
    for step in COMPOSED_STEPS:
        run(w, step, history)
    assert history == COMPOSED_HISTORY
    assert any(f"crash point {CRASH_POINT} reached on n2" in line for line in w.trace_lines)
    assert sorted(w.ids) == ["n1", "n3", "n4"]
