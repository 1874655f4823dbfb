"""SWIM's model (#33, ``protocols.swim.explore``): with one member crashed, the explorer
proves the fixed code complete (the crashed member is declared dead by every live one,
SWIM §3.1) and accurate (no live member is declared dead without a loss or a pause,
§4.2) on every path within the bounds, and finds a planted bug that breaks detection,
naming the property it breaks. The small model (3 members, synchronous rounds) takes a
few seconds; the issue's full target (4 members) runs with ``--run-slow``."""

from __future__ import annotations

import pytest

from protocols.explore.search import Explorer, Result, check_always
from protocols.explore.system import System
from protocols.swim.explore import crash
from tests.support.planted import planted

DETECTED = "the crashed member is declared dead by every live member"
ACCURATE = "no live member is declared dead without a loss or a pause"


def explore(size: str = "small", mutation: str | None = None) -> Result:
    """SWIM's crash model at ``size``, breadth-first, with ``mutation`` planted if
    given; the first counterexample ends the search."""
    if mutation is None:
        from protocols.registry import load_models
        return Explorer(load_models("swim")["crash"](size)).run("bfs")
    with planted(mutation):
        from protocols.registry import load_models
        return Explorer(load_models("swim")["crash"](size)).run("bfs")


def test_the_fixed_code_detects_the_crash_and_kills_no_live_member() -> None:
    result = explore()
    assert result.ok, result.verdicts()
    assert result.complete and result.unique > 100, result.summary()
    assert result.reached["a member is suspected"] is not None


def test_a_live_member_is_killed_only_after_a_pause() -> None:
    """n1's timer fires twice while its ping to n2 is still in flight: n1 suspects n2,
    then declares it dead. The explorer counts that as a pause (``System.late``), which
    excuses it; without it, the accuracy property reports the death."""
    adapter = crash("small")
    system = System(adapter)
    accuracy = next(p for p in adapter.properties if p.name == ACCURATE)
    for kind, node in [("crash", "n3"), ("tick", "n1"), ("tick", "n1"), ("tick", "n1")]:
        system.apply(next(m for m in system.moves() if (m.kind, m.node) == (kind, node)))
    assert system.late and system.drops == 0
    assert check_always(accuracy, system) is None
    system.late = False  # as if the ping had been delivered in time
    assert check_always(accuracy, system) == "n1 holds n2 dead (no message lost or late)"


@pytest.mark.parametrize("mutation", ["suspicion-timeout", "suspect-silent"])
def test_a_member_that_never_confirms_or_suspects_leaves_the_crash_undetected(
        mutation: str) -> None:
    """§4.2 without the suspicion timeout (a suspect is never confirmed dead), or §3.1
    without suspecting a silent target: some maximal path ends with the crashed member
    not dead everywhere."""
    result = explore(mutation=mutation)
    assert [c.prop for c in result.counterexamples] == [DETECTED], result.verdicts()
    (found,) = result.counterexamples
    assert found.kind == "eventually"
    assert [m.kind for m in found.path].count("crash") == 1


@pytest.mark.slow
def test_the_full_target_four_members_one_crash() -> None:
    result = explore("full")
    assert result.ok, result.verdicts()
    assert result.complete, result.summary()
