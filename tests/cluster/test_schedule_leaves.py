"""``random_schedule`` with joins and leaves: once a node has left, no later fault names
it (it would raise UnknownNode mid-run), and leaves stop at two members."""

from __future__ import annotations

import pytest

from cluster.nemesis import random_schedule

NODES = ["n1", "n2", "n3", "n4", "n5"]


@pytest.mark.parametrize("seed", range(40))
def test_no_fault_names_a_node_that_left(seed: int) -> None:
    schedule = random_schedule(seed, NODES, 60.0, kinds=("leave", "kill", "pause", "isolate",
                                                          "partition_one_way", "join"))
    left: set[str] = set()
    for fault in schedule:
        named = {a for a in fault.args if isinstance(a, str) and a in NODES}
        assert not named & left, (seed, fault, left)
        if fault.action == "leave":
            left |= named
    assert len(left) <= len(NODES) - 2
