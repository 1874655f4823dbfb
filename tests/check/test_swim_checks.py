"""SWIM's checkers (protocols.check.swim), each caught when a violation is planted, and
the simulator's wiring of the incarnation rule proven on a live run."""

from __future__ import annotations

import pytest

from protocols.check.invariants import InvariantViolation
from protocols.check.swim import (
    IncarnationAuthority,
    counter_disagreements,
    membership_disagreements,
)
from protocols.sim import SimulationFailure
from protocols.swim.core import SwimCore
from protocols.swim.messages import MemberUpdate, State
from protocols.swim.sim import swim_world


def test_an_incarnation_only_its_member_raised_passes() -> None:
    check = IncarnationAuthority()
    check.own_incarnation("n2", 3, "alive")
    check.opinion("n1", "n2", "suspect", 3)
    check.opinion("n1", "n2", "dead", 2)


def test_an_incarnation_invented_for_another_member_is_caught() -> None:
    check = IncarnationAuthority()
    check.own_incarnation("n2", 3, "alive")
    with pytest.raises(InvariantViolation, match="only a member may raise"):
        check.opinion("n1", "n2", "dead", 4)


def test_the_running_member_is_consulted_before_judging() -> None:
    check = IncarnationAuthority(current=lambda m: 5)
    check.opinion("n1", "n2", "alive", 5)  # n2 refuted, we were not told yet
    with pytest.raises(InvariantViolation):
        check.opinion("n1", "n2", "alive", 6)


@pytest.mark.parametrize("state", ["suspect", "dead"])
def test_a_member_that_believes_itself_failed_is_caught(state: str) -> None:
    with pytest.raises(InvariantViolation, match="believes itself"):
        IncarnationAuthority().opinion("n1", "n1", state, 1)


def test_membership_disagreements() -> None:
    views = {"n1": {"n1": "alive", "n2": "alive", "n3": "dead"},
             "n2": {"n1": "suspect", "n2": "alive", "n3": "alive"}}
    assert membership_disagreements(views, ["n1", "n2"], ["n3"]) == [
        "n2 sees n1 as suspect", "n2 sees failed n3 as alive"]
    views["n2"] = {"n1": "alive", "n2": "alive", "n3": "left"}
    assert membership_disagreements(views, ["n1", "n2"], ["n3"]) == []


def test_counter_disagreements() -> None:
    assert counter_disagreements({"n1": 5, "n2": 5}, 4, 6) == []
    assert counter_disagreements({"n1": 5, "n2": 3}, 4, 6) == [
        "n2 counts 3, outside [4, 6]", "totals differ: {'n1': 5, 'n2': 3}"]


def test_the_simulator_catches_an_invented_incarnation_on_the_spot(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Plant the bug: a node that hears a suspicion bumps the suspect's incarnation
    itself (as if it could refute on its behalf)."""
    original = SwimCore._apply

    def meddling(self: SwimCore, u: MemberUpdate) -> None:
        if u.state == State.SUSPECT and u.member != self.node_id:
            u = MemberUpdate(u.member, State.ALIVE, u.incarnation + 1, self.node_id)
        original(self, u)

    monkeypatch.setattr(SwimCore, "_apply", meddling)
    w = swim_world(8, 1)
    w.run_for(2000)
    w.crash("n4")
    with pytest.raises(SimulationFailure, match="only a member may raise"):
        w.run_for(20_000)


def test_a_member_suspecting_itself_is_caught_on_the_spot(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Plant the bug: a member accepts a suspicion of itself instead of refuting."""
    def accept(self: SwimCore, u: MemberUpdate) -> None:
        if u.state == State.SUSPECT and self.events is not None:
            self.events.append((self.node_id, self.node_id, State.SUSPECT, u.incarnation))

    monkeypatch.setattr(SwimCore, "_about_me", accept)
    w = swim_world(8, 2)
    w.run_for(2000)
    w.disconnect("n3")
    w.run_for(3000)
    w.connect("n3")
    with pytest.raises(SimulationFailure, match="believes itself suspect"):
        w.run_for(10_000)
