"""Membership by SWIM (DeCandia et al., SOSP 2007, §4.8; §4.6): a member SWIM declares
dead stays on the ring, since an outage is temporary: its keys do not move, and writes
meant for it go to a stand-in under a hint naming it, to be handed back."""

from __future__ import annotations

from protocols.dynamo.core import Put
from protocols.swim.messages import State
from tests.dynamo.harness import KEY, call, core, preference, world


def test_a_member_swim_holds_dead_stays_on_the_ring() -> None:
    w = world(n=3, r=2, w=2)
    o1, o2, o3, stand_in, *_ = preference(w)
    w.crash(o3)

    def dead_everywhere() -> bool:
        return all(core(w, n).swim.members[o3].state == State.DEAD  # type: ignore[union-attr]
                   for n in w.ids if n != o3)

    w.run_until(dead_everywhere, 20000)
    assert dead_everywhere()
    for n in w.ids:
        if n != o3:
            assert o3 in core(w, n).view.nodes and core(w, n).owners(KEY) == [o1, o2, o3]
    assert call(w, o1, Put(KEY, "a")).error is None
    assert core(w, stand_in).hinted[KEY][o3].values() == ["a"]
