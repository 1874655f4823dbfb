"""What keeps Dynamo's replicas whole, rule by rule, in the simulator (DeCandia et al.,
SOSP 2007): membership and failure detection by SWIM (§4.8), hinted handoff (§4.6),
rebalancing on a join and a leave (§4.9), anti-entropy with Merkle and Tictac trees
(§4.7), and a put whose context came from a read coordinated elsewhere."""

from __future__ import annotations

import pytest

from protocols.common.ids import NodeId
from protocols.dynamo.core import Get, Put
from protocols.swim.commands import Leave
from tests.dynamo.harness import KEY, call, core, preference, values, world

FAST = {"handoff_interval_ms": 100, "aae_interval_ms": 200}


def _settled(w, nodes=None) -> bool:  # type: ignore[no-untyped-def]
    return all(not core(w, n).hinted and not core(w, n).moving
               for n in (nodes or w.ids) if w.nodes[NodeId(n)].up)


def test_swim_tells_the_coordinator_an_owner_is_down_before_any_request_fails() -> None:
    """§4.8.3 with SWIM: a crashed owner is suspected by gossip alone, so the very first
    write after it goes to a stand-in with a hint instead of waiting out a timeout."""
    w = world(n=3, r=2, w=3)
    o1, _o2, o3, stand_in, *_ = preference(w)
    w.crash(o3)
    w.run_until(lambda: not core(w, o1).healthy(o3), 5000)
    assert not core(w, o1).view.failed_at  # no request of o1's failed: SWIM told it
    assert call(w, o1, Put(KEY, "a")).error is None  # W = 3 met at once, with the stand-in
    assert core(w, stand_in).hinted[KEY][o3].values() == ["a"]


def test_a_hint_is_handed_back_to_its_owner_and_then_dropped() -> None:
    """§4.6: once the owner is back, the stand-in delivers the hinted version and drops
    it only after the owner acknowledged it (durable there)."""
    w = world(n=3, r=2, w=2, **FAST)
    o1, _o2, o3, stand_in, *_ = preference(w)
    w.crash(o3)
    w.run_until(lambda: not core(w, o1).healthy(o3), 5000)
    assert call(w, o1, Put(KEY, "a")).error is None
    assert KEY in core(w, stand_in).hinted
    w.restart(o3)
    w.run_until(lambda: KEY not in core(w, stand_in).hinted, 5000)
    assert core(w, o3).store[KEY].values() == ["a"]
    assert core(w, stand_in).stats["handed_off"] == 1
    w.crash(stand_in)  # the drop is durable: it does not come back with a restart
    w.restart(stand_in)
    assert KEY not in core(w, stand_in).hinted


def test_a_hint_is_kept_while_the_owner_does_not_acknowledge_it() -> None:
    w = world(n=3, r=2, w=2, **FAST)
    o1, _o2, o3, stand_in, *_ = preference(w)
    w.crash(o3)
    w.run_until(lambda: not core(w, o1).healthy(o3), 5000)
    assert call(w, o1, Put(KEY, "a")).error is None
    w.restart(o3)
    w.hook("ReplicaPut", "drop_reply", src=stand_in, dst=o3)
    w.run_for(2000)
    assert KEY in core(w, stand_in).hinted  # delivered, maybe; acknowledged, never
    assert core(w, o3).store[KEY].values() == ["a"]


def _keys(w, count: int = 40) -> dict[str, str]:  # type: ignore[no-untyped-def]
    written = {}
    for i in range(count):
        key = f"key{i}"
        assert call(w, w.ids[i % len(w.ids)], Put(key, f"v{i}", w=3)).error is None
        written[key] = f"v{i}"
    return written


def test_a_join_moves_only_the_keys_whose_owners_changed() -> None:
    """§4.9: the new node learns the ring by SWIM and everybody places it; each key whose
    top N now includes it is streamed to it, a holder no longer among a key's owners
    drops it once every owner acknowledged, and nothing else moves."""
    w = world(n=3, r=2, w=2, **FAST)
    written = _keys(w)
    before = {key: core(w, w.ids[0]).owners(key) for key in written}
    new = w.add_node()
    w.run_until(lambda: all(new in core(w, n).view.nodes for n in w.ids), 5000)
    w.run_until(lambda: _settled(w), 10000)
    after = {key: core(w, new).owners(key) for key in written}
    changed = {k for k in written if before[k] != after[k]}
    assert changed and len(changed) < len(written)  # some keys moved, not all
    for key, value in written.items():
        holders = sorted(n for n in w.ids if key in core(w, n).store)
        assert holders == sorted(after[key]), key  # exactly its owners hold it
        assert values(call(w, new, Get(key, r=3))) == [value]
    # the newcomer got exactly the keys it now owns, all of them among the changed
    assert set(core(w, new).store) == {k for k in written if new in after[k]} <= changed


def test_a_leave_hands_the_leavers_keys_to_their_new_owners() -> None:
    """SWIM's graceful leave takes the node off every ring; the keys it owned are
    re-replicated to their new owners, and nothing acknowledged is lost."""
    w = world(n=3, r=2, w=2, **FAST)
    written = _keys(w)
    leaver = w.ids[2]
    assert call(w, leaver, Leave(), max_ms=10000).error is None
    w.run_until(lambda: all(leaver not in core(w, n).view.nodes for n in w.ids
                            if n != leaver), 10000)
    w.run_until(lambda: _settled(w), 10000)
    others = [n for n in w.ids if n != leaver]
    for key, value in written.items():
        owners = core(w, others[0]).owners(key)
        assert leaver not in owners
        assert all(key in core(w, o).store for o in owners), key
        assert values(call(w, others[0], Get(key, r=3))) == [value]
    assert not core(w, leaver).store  # it handed everything over


def test_a_node_removed_by_the_runner_leaves_the_ring_and_its_keys_are_re_replicated() -> None:
    w = world(n=3, r=2, w=2, **FAST)
    written = _keys(w)
    gone = w.ids[1]
    w.remove_node(gone)
    w.run_until(lambda: gone not in core(w, w.ids[0]).view.nodes, 1000)
    w.run_until(lambda: _settled(w), 10000)
    for key in written:
        owners = core(w, w.ids[0]).owners(key)
        assert gone not in owners and all(key in core(w, o).store for o in owners), key


@pytest.mark.parametrize("tree", ["merkle", "tictac"])
def test_anti_entropy_repairs_a_replica_nobody_reads(tree: str) -> None:
    """§4.7: an owner cut off while keys were written (and no hints: the stand-ins' copies
    were never handed back, handoff is off) gets them from its peers' trees alone."""
    w = world(n=3, r=1, w=1, anti_entropy=tree, aae_interval_ms=200,
              handoff_interval_ms=10**9)
    o1, _o2, o3, *_ = preference(w)
    w.partition([[o3], [n for n in w.ids if n != o3]])
    w.run_until(lambda: all(not core(w, n).healthy(o3) for n in w.ids if n != o3), 5000)
    written = {f"key{i}": f"v{i}" for i in range(60)}
    for key, value in written.items():
        assert call(w, o1, Put(key, value)).error is None
    missing = [k for k in written if o3 in core(w, o1).owners(k)
               and k not in core(w, o3).store]
    assert missing
    w.heal()
    w.run_until(lambda: all(k in core(w, o3).store for k in missing), 20000)
    assert sum(core(w, n).aae["keys_repaired"] for n in w.ids) >= len(missing)


def test_without_anti_entropy_that_replica_stays_behind() -> None:
    """The control: the same run with anti-entropy off leaves the keys missing."""
    w = world(n=3, r=1, w=1, anti_entropy="off", handoff_interval_ms=10**9)
    o1, _o2, o3, *_ = preference(w)
    w.partition([[o3], [n for n in w.ids if n != o3]])
    w.run_until(lambda: all(not core(w, n).healthy(o3) for n in w.ids if n != o3), 5000)
    for i in range(60):
        assert call(w, o1, Put(f"key{i}", "v")).error is None
    missing = [f"key{i}" for i in range(60) if o3 in core(w, o1).owners(f"key{i}")]
    w.heal()
    w.run_for(5000)
    assert all(k not in core(w, o3).store for k in missing)


def test_a_context_read_elsewhere_is_taken_after_reading_the_replicas() -> None:
    """A context from a read coordinated at o1 names o1's write, which o2 never got (the
    replication was lost); o2, coordinating the next write with it, reads the key from
    the replicas first, and the write replaces what the client read."""
    w = world(n=3, r=1, w=1)
    o1, o2, _o3, *_ = preference(w)
    lost = w.hook("ReplicaPut", "drop", src=o1)
    first = call(w, o1, Put(KEY, "a"))
    assert first.error is None
    _values, context = first.result
    assert KEY not in core(w, o2).store
    w.run_for(1500)  # the dropped puts' failures are forgotten
    w.unhook(lost)
    answer = call(w, o2, Put(KEY, "b", context, w=2))
    assert answer.error is None, answer.error
    assert values(answer) == ["b"]
    assert core(w, o2).stats["prereads"] == 1


def test_a_context_no_replica_has_seen_is_refused() -> None:
    w = world(n=3)
    o1, *_ = preference(w)
    made_up = {f"{o1}~ffffffff": 5}
    answer = call(w, o1, Put(KEY, "x", made_up))
    assert answer.error is not None and "claims" in str(answer.error)
    assert KEY not in core(w, o1).store


def _key_that_leaves_and_returns(n: int = 2) -> tuple[str, str]:
    """A key one of whose owners on n1..n4 is no owner once n5 joins: (key, that owner)."""
    from protocols.hashing import Ring

    four, five = Ring(64), Ring(64)
    for i in range(1, 6):
        five.add(f"n{i}")
        if i < 5:
            four.add(f"n{i}")
    for i in range(1000):
        key = f"key{i}"
        gone = set(four.nodes_for(key, n)) - set(five.nodes_for(key, n))
        if gone:
            return key, gone.pop()
    raise AssertionError("no such key")


def test_a_node_that_handed_a_key_over_never_reuses_one_of_its_dots() -> None:
    """A writes a key, hands it over when n5 joins (and drops it), and owns it again when
    n5 is removed; its next write of the key must not reuse its first write's dot (a DVV
    would take the two for one and keep only one value). A keeps the count of its writes
    of every key it dropped, and reads the key from the replicas before writing it."""
    key, a = _key_that_leaves_and_returns()
    w = world(nodes=4, n=2, r=1, w=2, **FAST)
    assert a in core(w, a).owners(key)
    assert call(w, a, Put(key, "v1")).error is None
    new = w.add_node()
    w.run_until(lambda: key not in core(w, a).store, 10000)
    assert core(w, a).dropped[key] == 1
    w.crash(a)  # the count is durable
    w.restart(a)
    assert core(w, a).dropped[key] == 1
    w.hook("ReplicaPut", "drop", dst=a)  # the key does not come back to a by itself
    w.remove_node(new)
    w.run_until(lambda: a in core(w, a).owners(key)
                and all(a in core(w, n).owners(key) for n in w.ids), 5000)
    assert key not in core(w, a).store
    assert call(w, a, Put(key, "v2", w=1)).error is None  # a blind write: two siblings
    w.unhook()
    assert values(call(w, a, Get(key, r=2))) == ["v1", "v2"]
