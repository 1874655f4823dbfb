"""Per-node roles and nodes that come and go in the simulator (``World(roles=,
node_options=)``, ``World.add_node`` / ``remove_node``, the nemesis kinds ``join`` and
``leave``): on the toy (a closed membership its primary adopts through
``Core.on_peers_changed``) and on SWIM (which joins by address on its own)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from protocols.check.spacetime import render_spacetime
from protocols.common.errors import ConfigError
from protocols.kv.commands import KvCommand
from protocols.sim.nemesis import RandomNemesis
from protocols.sim.world import World
from protocols.swim.messages import State
from protocols.swim.sim import ADAPTER as SWIM
from protocols.swim.sim import all_see, cores, settle
from tests.toy.protocol.core import ToyCore
from tests.toy.protocol.sim import ADAPTER as TOY


def put(w: World, node: str, key: str, value: str) -> None:
    rid = w.submit(node, KvCommand("put", key, value))
    w.run_until(lambda: rid in w.answers, 5000)
    assert w.answers[rid].error is None, w.answers[rid]


def toy(w: World, n: str) -> ToyCore:
    core = w.core(n)
    assert isinstance(core, ToyCore)
    return core


def test_roles_and_per_node_options_reach_the_node() -> None:
    w = World(TOY, 3, seed=1, roles={"n3": "primary", "n1": "backup"},
              node_options={"n2": {"resend_ticks": 3}})
    w.run_for(50)
    assert w.leader() == "n3" and toy(w, "n1").primary == "n3"
    assert toy(w, "n2").options.resend_ticks == 3 and toy(w, "n1").options.resend_ticks == 10


@pytest.mark.parametrize(("roles", "options", "error"), [
    ({"n1": "witness"}, None, "node n1: protocol 'toy' has no role 'witness'"),
    ({"n1": "primary", "n3": "primary"}, None, "n1, n3 are all given the role 'primary'"),
    ({"n7": "backup"}, None, "role given for 'n7', which is not a node"),
    (None, {"n2": {"resend_ticks": -1}}, "node n2: .*resend_ticks"),
    (None, {"n2": {"nonsense": 1}}, "node n2: .*nonsense"),
])
def test_a_bad_role_or_node_option_is_refused_before_anything_runs(
        roles: dict[str, str] | None, options: dict[str, dict[str, int]] | None,
        error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        World(TOY, 3, seed=1, roles=roles, node_options=options)


def test_swim_takes_no_roles() -> None:
    with pytest.raises(ConfigError, match="protocol 'swim' has no role 'seed' .it takes no"):
        World(SWIM, 3, seed=1, roles={"n1": "seed"})


def test_toy_a_backup_added_is_caught_up_and_one_removed_is_not_waited_for() -> None:
    w = World(TOY, 3, seed=2)
    for i in range(5):
        put(w, "n1", f"k{i}", str(i))
    n4 = w.add_node(role="backup")
    assert n4 == "n4" and w.ids == ["n1", "n2", "n3", "n4"] and w.nodes[n4].address == "n4:7946"
    w.run_until(lambda: len(toy(w, n4).log) == 5, 2000)
    assert toy(w, "n1").peers == ["n2", "n3", "n4"]
    w.remove_node("n2")
    w.remove_node("n3")  # n1 and n4 are a majority of the two left
    put(w, "n4", "after", "x")  # forwarded to the primary, committed by n1 + n4
    assert toy(w, "n1").peers == ["n4"] and toy(w, n4).log == toy(w, "n1").log
    with pytest.raises(ValueError, match="n2 was removed"):
        w.restart("n2")
    assert w.add_node() == "n5"  # ids of removed nodes are never reused


def test_add_node_refuses_a_bad_role_and_changes_nothing() -> None:
    w = World(TOY, 3, seed=3, roles={"n1": "primary"})
    with pytest.raises(ConfigError, match="n1, n4 are all given"):
        w.add_node(role="primary")
    with pytest.raises(ConfigError, match="node n4: protocol 'toy' has no role 'witness'"):
        w.add_node(role="witness")
    with pytest.raises(ConfigError, match="node n4: .*resend_max"):
        w.add_node(options={"resend_max": 0})
    assert w.ids == ["n1", "n2", "n3"] and "n4" not in w.nodes and w.roles == {"n1": "primary"}


def test_a_removed_node_never_comes_back_and_restarted_members_know_the_newcomer() -> None:
    w = World(TOY, 3, seed=4)
    w.crash("n2")
    n4 = w.add_node()
    w.restart("n2")  # built knowing n4
    assert toy(w, "n2").peers == ["n1", "n3", n4]
    with pytest.raises(ValueError, match="not in the cluster"):
        w.remove_node("n9")


def test_swim_a_new_node_joins_by_address_and_a_removed_one_is_declared_dead() -> None:
    w = World(SWIM, 3, seed=5, tick_ms=50)
    settle(w, lambda: all(len(c.members) == 3 for c in cores(w).values()), 30_000)
    n4 = w.add_node()
    settle(w, lambda: all_see(w, n4, State.ALIVE) and len(cores(w)[n4].members) == 4, 30_000)
    w.remove_node("n2")
    settle(w, lambda: all_see(w, "n2", State.DEAD), 60_000)
    assert sorted(cores(w)) == ["n1", "n3", "n4"]


def test_the_nemesis_adds_and_removes_nodes_when_asked() -> None:
    w = World(SWIM, 4, seed=6, tick_ms=50, event_log=True)
    nemesis = RandomNemesis(w, mean_gap_ms=300, mean_fault_ms=300, stop_at_ms=20_000,
                            kinds=("join", "leave"))
    nemesis.start()
    w.run_for(25_000)
    labels = [label for _, _, label in nemesis.intervals]
    joined = [lab.split()[1] for lab in labels if lab.startswith("join n")]
    left = [lab.split()[1] for lab in labels if lab.startswith("leave n")]
    assert joined and left, labels
    assert sorted(w.ids) == sorted({*[f"n{i}" for i in range(1, 5)], *joined} - set(left))
    kinds = {(e["node"], e["kind"]) for e in w.event_log or [] if e["kind"] in ("join", "leave")}
    assert {(n, "join") for n in joined} | {(n, "leave") for n in left} == kinds
    settle(w, lambda: all(all_see(w, n, State.ALIVE) for n in w.ids), 60_000)


def test_the_space_time_diagram_starts_a_joined_lane_late_and_ends_a_removed_one(
        tmp_path: Path) -> None:
    w = World(TOY, 3, seed=7, event_log=True)
    w.run_for(200)
    n4 = w.add_node()
    w.run_for(200)
    w.remove_node("n2")
    w.run_for(200)
    assert w.event_log is not None
    page = render_spacetime(w.event_log, tmp_path / "spacetime.html").read_text()
    absent = re.findall(r'<rect class="absent" data-node="(\w+)" data-s="([\d.]+)" '
                        r'data-e="([\d.]+)"', page)
    assert [(n, float(s), float(e)) for n, s, e in absent] == [
        (n4, 0.0, pytest.approx(0.2, abs=0.011)), ("n2", pytest.approx(0.4, abs=0.011),
                                                   pytest.approx(0.6, abs=0.011))]
