"""SWIM's checkers (protocols.check.swim), each caught when a violation is planted, and
the simulator's wiring of the incarnation rules proven on live runs."""

from __future__ import annotations

import pytest

from protocols.check.invariants import InvariantViolation
from protocols.check.swim import (
    IncarnationAuthority,
    counter_disagreements,
    membership_disagreements,
)
from protocols.sim import SimulationFailure
from protocols.sim.world import World
from protocols.swim.core import SwimCore
from protocols.swim.messages import MemberUpdate, State
from protocols.swim.sim import cores, swim_world


def test_an_incarnation_only_its_member_raised_passes() -> None:
    check = IncarnationAuthority()
    check.own_incarnation("n2", 3)
    check.opinion("n1", "n2", "suspect", 3)
    check.opinion("n1", "n2", "dead", 2)


def test_an_incarnation_invented_for_another_member_is_caught() -> None:
    check = IncarnationAuthority()
    check.own_incarnation("n2", 3)
    with pytest.raises(InvariantViolation, match="only a member may raise"):
        check.opinion("n1", "n2", "dead", 4)


def test_the_running_member_is_consulted_before_judging() -> None:
    check = IncarnationAuthority(current=lambda m: 5)
    check.opinion("n1", "n2", "alive", 5)  # n2 refuted, we were not told yet
    with pytest.raises(InvariantViolation):
        check.opinion("n1", "n2", "alive", 6)


def test_a_new_life_must_start_above_the_old_one() -> None:
    check = IncarnationAuthority()
    check.own_incarnation("n2", 0, new_life=True)
    check.opinion("n2", "n2", "alive", 3)  # it refuted, up to 3
    check.own_incarnation("n2", 4, new_life=True)  # a restart: one above
    with pytest.raises(InvariantViolation, match="started a new life at incarnation 4"):
        check.own_incarnation("n2", 4, new_life=True)
    with pytest.raises(InvariantViolation, match="went back to incarnation 2"):
        check.opinion("n2", "n2", "alive", 2)


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


def _refute_and_crash(seed: int) -> World:
    """n3 is cut off until someone suspects it, refutes when it is back, then crashes and
    restarts: its new life must start above the incarnation it refuted with."""
    w = swim_world(8, seed)
    w.run_for(2000)
    w.disconnect("n3")
    w.run_until(lambda: any(c.members["n3"].state == State.SUSPECT
                            for n, c in cores(w).items() if n != "n3"), 10_000)
    w.connect("n3")
    w.run_until(lambda: cores(w)["n3"].incarnation > 0, 10_000)
    w.crash("n3")
    w.run_for(100)
    w.restart("n3")
    w.run_for(2000)
    return w


def test_a_restart_above_the_refuted_incarnation_passes() -> None:
    w = _refute_and_crash(4)
    assert cores(w)["n3"].incarnation == 2


def test_a_refutation_forgotten_in_a_crash_is_caught_on_the_spot(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Plant the bug: the refutation is not made durable, so the restarted member starts
    its new life at the incarnation its old life already refuted with."""
    def forgetful(self: SwimCore, heard: int) -> None:
        self.incarnation = max(self.incarnation, heard) + 1
        self.members[self.node_id].incarnation = self.incarnation
        self._full = None
        if self.events is not None:
            self.events.append((self.node_id, self.node_id, State.ALIVE, self.incarnation))
        self._gossip_member(self.node_id)

    monkeypatch.setattr(SwimCore, "_refute", forgetful)
    with pytest.raises(SimulationFailure, match="n3 started a new life at incarnation 1"):
        _refute_and_crash(4)
