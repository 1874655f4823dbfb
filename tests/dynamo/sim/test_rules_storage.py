"""Dynamo's durable state (``storage.py``) across a restart in the simulator: SWIM's self
record is kept beside the keys, so a restarted member comes back in a new incarnation
(above anything the group remembers of its old life); a dropped key stays dropped."""

from __future__ import annotations

from tests.dynamo.harness import core, world


def test_a_restarted_node_comes_back_in_a_later_swim_incarnation() -> None:
    w = world(n=3)
    w.run_for(500)
    n = w.ids[0]
    before = core(w, n).swim.incarnation  # type: ignore[union-attr]
    w.crash(n)
    w.restart(n)
    assert core(w, n).swim.incarnation > before  # type: ignore[union-attr]
