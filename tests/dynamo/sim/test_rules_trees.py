"""Anti-entropy's trees (DeCandia et al., SOSP 2007, §4.7) stay exact in the simulator:
at every node, the tree kept for a peer holds exactly the keys both own, at the version
this node holds, through writes, exchanges and a join (a ring change clears the trees,
every write updates them)."""

from __future__ import annotations

import pytest

from protocols.dynamo.aae import item_hash
from protocols.dynamo.core import Put
from tests.dynamo.harness import call, core, world

FAST = {"handoff_interval_ms": 100, "aae_interval_ms": 100}


def _check_trees(w) -> int:  # type: ignore[no-untyped-def]
    """Every tree against the store it summarises; the number of trees checked."""
    checked = 0
    for n in w.ids:
        c = core(w, n)
        for peer, tree in c.trees.items():
            held = {k: h for items in tree.keys.values() for k, h in items.items()}
            want = {k: item_hash(k, c._encode(s)) for k, s in c.store.items()
                    if n in c.owners(k) and peer in c.owners(k)}
            assert held == want, f"{n}'s tree for {peer}"
            checked += 1
    return checked


@pytest.mark.parametrize("tree", ["merkle", "tictac"])
def test_each_tree_holds_exactly_the_keys_both_own_at_their_versions(tree: str) -> None:
    w = world(n=3, r=2, w=2, anti_entropy=tree, **FAST)
    for i in range(30):
        assert call(w, w.ids[i % 5], Put(f"key{i}", "v1", w=3)).error is None
    w.run_for(1500)  # exchanges build the trees
    assert _check_trees(w) > 0
    for i in range(0, 30, 3):  # writes after the trees were built
        assert call(w, w.ids[i % 5], Put(f"key{i}", "v2", w=3)).error is None
    assert _check_trees(w) > 0
    new = w.add_node()
    w.run_until(lambda: all(new in core(w, n).view.nodes for n in w.ids), 5000)
    w.run_for(3000)  # keys move, exchanges rebuild the trees
    assert _check_trees(w) > 0
