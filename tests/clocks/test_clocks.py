"""Each clock on small hand-made examples: the rules of its paper, one by one."""

from __future__ import annotations

import pickle
from itertools import pairwise

import pytest

from protocols.clocks import (
    MAX_LOGICAL,
    ClockOffsetError,
    Dot,
    DottedVersionVector,
    DVVSet,
    Entry,
    HLCTimestamp,
    HybridLogicalClock,
    LamportClock,
    LogicalOverflowError,
    Ordering,
    SiblingStore,
    VectorClock,
    VVSiblings,
)

VC = VectorClock
B, A, E, C = Ordering.BEFORE, Ordering.AFTER, Ordering.EQUAL, Ordering.CONCURRENT


# -- Ordering ---------------------------------------------------------------------------


def test_ordering_flipped() -> None:
    assert [o.flipped() for o in (B, A, E, C)] == [A, B, E, C]


# -- Lamport ----------------------------------------------------------------------------


def test_lamport_ir1_tick_increments() -> None:
    assert LamportClock().tick() == LamportClock(1)
    assert LamportClock(4).tick().tick() == LamportClock(6)


def test_lamport_ir2_receive_is_max_plus_one() -> None:
    assert LamportClock(3).merge(LamportClock(7)) == LamportClock(8)
    assert LamportClock(7).merge(LamportClock(3)) == LamportClock(8)
    assert LamportClock(5).merge(LamportClock(5)) == LamportClock(6)


def test_lamport_compare_is_by_time_and_never_concurrent() -> None:
    # p sends at 1; q, which never heard of p, ticks to 2: L(p) < L(q) yet p -/-> q.
    p, q = LamportClock().tick(), LamportClock().tick().tick()
    assert p.compare(q) is B and q.compare(p) is A
    assert p.compare(LamportClock(1)) is E


def test_lamport_is_immutable_and_non_negative() -> None:
    clock = LamportClock(2)
    with pytest.raises(AttributeError):
        clock.time = 3  # type: ignore[misc]
    with pytest.raises(ValueError, match="negative"):
        LamportClock(-1)


# -- VectorClock ------------------------------------------------------------------------


def test_vector_zero_entries_are_dropped() -> None:
    clock = VC({"a": 1, "b": 0})
    assert clock == VC({"a": 1}) and hash(clock) == hash(VC({"a": 1}))
    assert len(clock) == 1 and clock["b"] == 0 and clock["zz"] == 0
    assert clock.as_dict() == {"a": 1} and dict(clock.items()) == {"a": 1}
    assert VC() == VC({}) == VC(None) and len(VC()) == 0


def test_vector_rejects_negative_counters() -> None:
    with pytest.raises(ValueError, match="negative"):
        VC({"a": -1})


@pytest.mark.parametrize("count", [1.5, 2.0, True, "3", None])
def test_vector_counters_are_ints(count: object) -> None:
    """Issue #31: ``VC({"a": 1.5})`` was a clock; no process makes half an event."""
    with pytest.raises(TypeError, match="counter of 'a' must be an int"):
        VC({"a": count})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="node ids are strings"):
        VC({1: 1})  # type: ignore[dict-item]


def test_vector_tick_and_receive() -> None:
    n1 = VC().tick("n1").tick("n1")
    assert n1 == VC({"n1": 2})
    n3 = VC({"n3": 1})
    assert n3.receive("n3", n1) == VC({"n1": 2, "n3": 2})


def test_vector_merge_is_pointwise_max_without_tick() -> None:
    a, b = VC({"a": 3, "b": 1}), VC({"b": 2, "c": 5})
    assert a.merge(b) == b.merge(a) == VC({"a": 3, "b": 2, "c": 5})
    assert a.merge(b).total == 10


def test_vector_merge_returns_the_dominating_input_as_is() -> None:
    big, small = VC({"a": 3, "b": 2}), VC({"a": 1})
    assert big.merge(small) is big and small.merge(big) is big


@pytest.mark.parametrize(("a", "b", "expected"), [
    ({"a": 1}, {"a": 2}, B),
    ({"a": 1}, {"a": 1, "b": 1}, B),
    ({}, {"x": 1}, B),
    ({"a": 2, "b": 1}, {"a": 2}, A),
    ({"a": 1, "b": 2}, {"a": 1, "b": 2}, E),
    ({}, {}, E),
    ({"a": 1}, {"b": 1}, C),                # same sum, different nodes
    ({"a": 2}, {"a": 1, "b": 1}, C),        # same sum
    ({"a": 3}, {"a": 1, "b": 1}, C),        # larger sum, still not >=
    ({"a": 1, "b": 5}, {"a": 2, "b": 1}, C),
])
def test_vector_compare(a: dict[str, int], b: dict[str, int], expected: Ordering) -> None:
    x, y = VC(a), VC(b)
    assert x.compare(y) is expected
    assert y.compare(x) is expected.flipped()
    assert (x < y) == (expected is B) and (x > y) == (expected is A)
    assert (x <= y) == (expected in (B, E)) and (x >= y) == (expected in (A, E))
    assert x.dominates(y) == (expected in (A, E))
    assert (x == y) == (expected is E)


def test_vector_repr_is_short_and_sorted() -> None:
    assert repr(VC({"n3": 1, "n1": 2})) == "VC{n1:2,n3:1}"
    assert repr(VC()) == "VC{}"


def test_vector_is_immutable() -> None:
    clock = VC({"a": 1})
    with pytest.raises(AttributeError, match="immutable"):
        clock._entries = {}
    copy = clock.as_dict()
    copy["a"] = 9
    assert clock["a"] == 1


def test_vector_pickles_and_hashes() -> None:
    clock = VC({"a": 1, "b": 2})
    back = pickle.loads(pickle.dumps(clock))
    assert back == clock and back.total == 3
    assert len({clock, back, VC({"b": 2, "a": 1})}) == 1


# -- DottedVersionVector ----------------------------------------------------------------


def test_dot_counters_start_at_one() -> None:
    with pytest.raises(ValueError):
        Dot("a", 0)


def test_dvv_readme_example() -> None:
    # Two blind writes at A, then one that read v1: v3 replaces v1, stays beside v2.
    v1 = DottedVersionVector(Dot("A", 1), VC())
    v2 = DottedVersionVector(Dot("A", 2), VC())
    v3 = DottedVersionVector(Dot("A", 3), VC({"A": 1}))
    assert v3.descends(v1) and not v3.descends(v2)
    assert v1.compare(v3) is B and v3.compare(v1) is A
    assert v2.compare(v3) is C and v1.compare(v2) is C
    assert v3.compare(v3) is E


def test_dvv_event_and_as_vector() -> None:
    past = VC({"A": 2, "B": 1})
    dvv = DottedVersionVector.event("A", past)
    assert dvv.dot == Dot("A", 3) and dvv.as_vector() == VC({"A": 3, "B": 1})
    gap = DottedVersionVector(Dot("A", 5), past)
    assert gap.as_vector() == past and gap.covers(Dot("A", 5)) and not gap.covers(Dot("A", 4))


def test_dvv_rejects_a_dot_inside_its_past() -> None:
    with pytest.raises(ValueError, match="already"):
        DottedVersionVector(Dot("A", 2), VC({"A": 2}))


def test_dvv_without_dot_is_a_bare_context() -> None:
    ctx = DottedVersionVector(None, VC({"A": 1}))
    write = DottedVersionVector(Dot("A", 2), VC({"A": 1}))
    assert write.descends(ctx) and not ctx.descends(write)
    assert ctx.compare(write) is B


# -- DVVSet: dvvset.erl's own examples --------------------------------------------------


def test_dvvset_join() -> None:
    a1 = DVVSet[str]().update(VC(), "a", "v1")
    b1 = a1.update(a1.join(), "b", "v2")
    assert DVVSet.new("v1").join() == VC()
    assert a1.join() == VC({"a": 1})
    assert b1.join() == VC({"a": 1, "b": 1})


def test_dvvset_update() -> None:
    a0 = DVVSet[str]().update(VC(), "a", "v1")
    a1 = a0.update(a0.join(), "a", "v2")
    a2 = a1.update(a1.join(), "b", "v3")
    a3 = a1.update(a0.join(), "b", "v4")
    a4 = a1.update(a0.join(), "a", "v5")
    assert a0 == DVVSet([Entry("a", 1, ("v1",))])
    assert a1 == DVVSet([Entry("a", 2, ("v2",))])
    assert a2 == DVVSet([Entry("a", 2, ()), Entry("b", 1, ("v3",))])
    assert a3 == DVVSet([Entry("a", 2, ("v2",)), Entry("b", 1, ("v4",))])
    assert a4 == DVVSet([Entry("a", 3, ("v5", "v2"))])


def test_dvvset_sync() -> None:
    x = DVVSet[str]([Entry("x", 1, ())])
    a = DVVSet[str]().update(VC(), "a", "v1")
    y = DVVSet[str]().update(VC(), "b", "v2")
    a1 = a.update(a.join(), "a", "v2")
    a3 = a1.update(a1.join(), "b", "v3")
    a4 = a1.update(a1.join(), "c", "v3")
    w = DVVSet[str]([Entry("a", 1, ())])
    z = DVVSet([Entry("a", 2, ("v2", "v1"))])
    assert w.sync(z) == z.sync(w) == DVVSet([Entry("a", 2, ("v2",))])
    assert a.sync(a1) == a1.sync(a)
    assert a4.sync(a3) == a3.sync(a4) == DVVSet(
        [Entry("a", 2, ()), Entry("b", 1, ("v3",)), Entry("c", 1, ("v3",))])
    assert x.sync(a) == a.sync(x) == DVVSet([Entry("a", 1, ("v1",)), Entry("x", 1, ())])
    assert a.sync(y) == y.sync(a) == DVVSet([Entry("a", 1, ("v1",)), Entry("b", 1, ("v2",))])


def test_dvvset_sync_update() -> None:
    a0 = DVVSet[str]().update(VC(), "a", "v1")   # Mary writes v1 with no context
    vv1 = a0.join()                              # Peter reads v1
    a1 = a0.update(VC(), "a", "v2")              # Mary writes v2 with no context
    a2 = a1.update(vv1, "a", "v3")               # Peter writes v3 over what he read
    assert vv1 == VC({"a": 1})
    assert a1 == DVVSet([Entry("a", 2, ("v2", "v1"))])
    assert a2 == DVVSet([Entry("a", 3, ("v3", "v2"))])   # v1 replaced, v2 kept


def test_dvvset_size_values_and_dots() -> None:
    s = DVVSet([Entry("a", 4, ("v5", "v0")), Entry("c", 1, ("v3",))], ["v4", "v1"])
    assert s.size() == DVVSet.size(s) == 5
    assert sorted(s.values()) == ["v0", "v1", "v3", "v4", "v5"]
    assert s.dotted_values() == [(None, "v4"), (None, "v1"), (Dot("a", 4), "v5"),
                                 (Dot("a", 3), "v0"), (Dot("c", 1), "v3")]
    assert DVVSet.new("v1").size() == 1


def test_dvvset_rejects_malformed_entries() -> None:
    with pytest.raises(ValueError, match="values but"):
        DVVSet([Entry("a", 1, ("x", "y"))])
    with pytest.raises(ValueError, match="one entry per node"):
        DVVSet([Entry("a", 1, ()), Entry("a", 2, ())])


def test_dvvset_anonymous_values_are_replaced_only_by_a_strictly_dominating_context() -> None:
    # As in dvvset.erl's sync/2: an anonymous value has no dot, so only a context
    # strictly above the whole clock proves its writer saw it.
    s = DVVSet.new("old", VC({"a": 1}))
    for seen in (VC(), VC({"a": 1}), VC({"b": 1})):
        assert sorted(s.update(seen, "a", "new").values()) == ["new", "old"]
    assert s.update(VC({"a": 1, "b": 1}), "a", "new").values() == ["new"]


def test_dvvset_sync_is_not_associative_with_anonymous_values() -> None:
    """What the docstring of ``DVVSet.sync`` says, pinned: grouping changes which clock
    an anonymous value meets (as in dvvset.erl). Dotted values stay associative (the
    Hypothesis join test), and the versioned KV refuses anonymous values from peers."""
    a = DVVSet([Entry("n1", 1, ())], ["x"])
    b = DVVSet([Entry("n2", 1, ())], ["y"])
    c = DVVSet([Entry("n1", 1, ()), Entry("n2", 1, ())])
    assert sorted(a.sync(b).sync(c).values()) == ["x", "y"]
    assert a.sync(b.sync(c)).values() == []
    assert a.sync(b) == b.sync(a) and a.sync(a) == a  # commutative, idempotent


# -- DVVSet: sibling scenarios ----------------------------------------------------------


def test_two_concurrent_writes_with_the_same_context_are_two_siblings() -> None:
    s = DVVSet[str]().update(VC(), "r1", "v0")
    ctx = s.context()
    s = s.update(ctx, "r1", "x").update(ctx, "r1", "y")
    assert sorted(s.values()) == ["x", "y"]


def test_a_write_whose_context_covers_both_siblings_leaves_one_value() -> None:
    s = DVVSet[str]().update(VC(), "r1", "x").update(VC(), "r2", "y")
    assert s.size() == 2
    assert s.update(s.context(), "r1", "merged").values() == ["merged"]


def test_a_write_with_an_old_context_does_not_erase_a_newer_value() -> None:
    s = DVVSet[str]().update(VC(), "r1", "v1")
    old = s.context()
    s = s.update(s.context(), "r1", "v2")           # v2 replaces v1
    s = s.update(old, "r1", "late")                 # read v1 only: v2 must stay
    assert sorted(s.values()) == ["late", "v2"]


def test_sync_across_replicas_is_commutative_and_keeps_concurrent_writes() -> None:
    base = DVVSet[str]().update(VC(), "r1", "v0")
    left = base.update(base.context(), "r1", "L")
    right = base.update(base.context(), "r2", "R")
    assert left.sync(right) == right.sync(left)
    assert sorted(left.sync(right).values()) == ["L", "R"]
    assert left.sync(left) == left and left.sync(DVVSet()) == left


def test_vv_siblings_basic_and_never_lose_a_concurrent_write() -> None:
    s = VVSiblings[str]().update(VC(), "r1", "x")
    s = s.update(VC(), "r1", "y")
    assert s.values() == ["x", "y"] and s.context() == VC({"r1": 2})
    assert s.update(s.context(), "r1", "z").values() == ["z"]
    other = VVSiblings[str]().update(VC(), "r2", "w")
    assert sorted(s.sync(other).values()) == ["w", "x", "y"] == sorted(other.sync(s).values())
    assert s.sync(VVSiblings()) is s


def _interleaved_writers(store: SiblingStore[str], rounds: int) -> list[int]:
    """Riak's sibling-explosion scenario (Riak blog "Vector Clocks Revisited Part 2",
    the DVV README's "Scenario 2"): clients X and Y write the same key in turn through
    one coordinator, each with the context returned by its own previous write (Riak's
    return_body), so each context misses exactly the other client's latest write."""
    contexts = {"X": VC(), "Y": VC()}
    sizes = []
    for i in range(rounds):
        for client in ("X", "Y"):
            store = store.update(contexts[client], "vnode1", f"{client}{i}")
            contexts[client] = store.context()
            sizes.append(store.size())
    return sizes


def test_sibling_explosion_grows_vv_siblings_every_write_and_dvv_stays_at_two() -> None:
    vv = _interleaved_writers(VVSiblings[str](), 10)
    dvv = _interleaved_writers(DVVSet[str](), 10)
    assert vv == list(range(1, 21))                 # one more sibling per write
    assert dvv == [1] + [2] * 19                     # exactly the two truly concurrent ones


# -- HLC --------------------------------------------------------------------------------


def test_hlc_send_or_local_event_rules() -> None:
    hlc = HybridLogicalClock(max_offset=100)
    assert hlc.now(10) == HLCTimestamp(10, 0)       # pt moved l: c restarts
    assert hlc.now(10) == HLCTimestamp(10, 1)       # same l: c counts
    assert hlc.now(12) == HLCTimestamp(12, 0)


def test_hlc_receive_rules_each_branch() -> None:
    def at(wall: int, logical: int) -> HybridLogicalClock:
        return HybridLogicalClock(100, HLCTimestamp(wall, logical))

    assert at(10, 3).update(HLCTimestamp(10, 7), 5) == HLCTimestamp(10, 8)  # l'=l.m won
    assert at(10, 3).update(HLCTimestamp(8, 7), 5) == HLCTimestamp(10, 4)   # l' won
    assert at(10, 3).update(HLCTimestamp(20, 7), 5) == HLCTimestamp(20, 8)  # l.m won
    assert at(10, 3).update(HLCTimestamp(20, 7), 30) == HLCTimestamp(30, 0)  # pt won


def test_hlc_never_runs_backwards_when_physical_time_does() -> None:
    hlc = HybridLogicalClock(max_offset=10)
    stamps = [hlc.now(pt) for pt in (100, 90, 80, 95, 100, 101, 50)]
    stamps.append(hlc.update(HLCTimestamp(40, 9), 45))
    assert all(x < y for x, y in pairwise(stamps))
    assert stamps[1:5] == [HLCTimestamp(100, c) for c in range(1, 5)]  # pt below l: c counts
    assert stamps[-3:] == [HLCTimestamp(101, 0), HLCTimestamp(101, 1), HLCTimestamp(101, 2)]


def test_hlc_stays_within_the_skew_of_physical_time_and_c_stays_bounded() -> None:
    """Three processes pass a message round a ring; process 2's clock runs ``eps``
    ahead of the others. Every process's physical clock advances one tick per event.
    The paper's bounds: ``pt <= l <= pt + eps`` and ``c <= N * (eps + 1)``."""
    eps, n = 5, 3
    clocks = [HybridLogicalClock(max_offset=eps) for _ in range(n)]
    skew = [0, 0, eps]
    stamp = clocks[0].now(skew[0])
    worst_l, worst_c = 0, 0
    for t in range(1, 300):
        j = t % n
        pt = t + skew[j]
        stamp = clocks[j].update(stamp, pt) if t % 2 else clocks[j].now(pt)
        assert pt <= stamp.wall <= pt + eps
        worst_l, worst_c = max(worst_l, stamp.wall - pt), max(worst_c, stamp.logical)
    assert 0 < worst_l <= eps                  # the fast clock drags l ahead, within eps
    assert 0 < worst_c <= n * (eps + 1)


def test_hlc_refuses_a_peer_too_far_ahead_and_changes_nothing() -> None:
    hlc = HybridLogicalClock(max_offset=50, current=HLCTimestamp(1000, 2))
    with pytest.raises(ClockOffsetError) as err:
        hlc.update(HLCTimestamp(1100, 0), 1049)
    assert hlc.current == HLCTimestamp(1000, 2)
    message = str(err.value)
    assert "1100" in message and "1049" in message and "50" in message
    assert err.value.received == HLCTimestamp(1100, 0) and err.value.physical == 1049
    assert hlc.update(HLCTimestamp(1100, 0), 1050) == HLCTimestamp(1100, 1)  # exactly at


def test_hlc_logical_counter_stays_within_16_bits() -> None:
    """Issue #31: ``c`` grew without bound though the docstring promised 16 bits. An
    event that would pass the bound, a local one or a peer's message, is refused and
    changes nothing; a timestamp beyond it cannot be built (so a peer's cannot be
    decoded)."""
    top = HLCTimestamp(7, MAX_LOGICAL)
    hlc = HybridLogicalClock(max_offset=10, current=top)
    with pytest.raises(LogicalOverflowError, match="would pass 65535"):
        hlc.now(5)  # pt below l: c would count on
    assert hlc.current == top
    assert hlc.now(8) == HLCTimestamp(8, 0)  # pt moved on: c restarts
    peer = HybridLogicalClock(max_offset=10, current=HLCTimestamp(3, 0))
    with pytest.raises(LogicalOverflowError, match="on receiving HLC\\(7,65535\\)"):
        peer.update(top, 5)  # l.m won, its c is at the bound
    assert peer.current == HLCTimestamp(3, 0)
    assert peer.update(top, 8) == HLCTimestamp(8, 0)  # pt won
    with pytest.raises(ValueError, match="does not fit in 16 bits"):
        HLCTimestamp(1, MAX_LOGICAL + 1)
    for bad in ((1.5, 0), (1, 2.0), (True, 0)):
        with pytest.raises(TypeError, match="is an integer"):
            HLCTimestamp(*bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="a received HLC timestamp"):
        peer.update((7, 1), 8)  # type: ignore[arg-type]


def test_hlc_timestamp_order_and_compare() -> None:
    assert HLCTimestamp(1, 9) < HLCTimestamp(2, 0) < HLCTimestamp(2, 1)
    assert HLCTimestamp(1, 9).compare(HLCTimestamp(2, 0)) is B
    assert HLCTimestamp(2, 0).compare(HLCTimestamp(1, 9)) is A
    assert HLCTimestamp(2, 0).compare(HLCTimestamp(2, 0)) is E
    with pytest.raises(ValueError):
        HybridLogicalClock(max_offset=-1)


def test_vv_siblings_at_the_same_clock_are_united_not_dropped() -> None:
    """One clock for all siblings cannot tell two sibling sets apart: a sync of equal
    clocks keeps both sides' values (else replicas never converge, and values are lost)."""
    clock = VectorClock({"n1": 2, "n2": 1})
    a, b = VVSiblings(clock, ["x"]), VVSiblings(clock, ["x", "y"])
    assert sorted(a.sync(b).values()) == sorted(b.sync(a).values()) == ["x", "y"]
