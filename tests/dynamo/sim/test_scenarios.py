"""Dynamo's rules by name, in the simulator (DeCandia et al., SOSP 2007): quorums (§4.5),
the stale read R = W = 1 allows, the sloppy quorum's hinted stand-in (§4.6), siblings of
concurrent blind writes (§4.4), read repair."""

from __future__ import annotations

from protocols.common.errors import Unavailable
from protocols.dynamo.core import Get, Put
from tests.dynamo.harness import KEY, call, core, preference, values, world


def test_r_plus_w_over_n_reads_its_own_write() -> None:
    """R + W > N: every read quorum meets every write quorum of the key's top N, so a
    read at any node sees the acknowledged write, even with one owner cut off."""
    w = world(n=3, r=2, w=2)
    o1, o2, o3, *rest = preference(w)
    w.disconnect(o3)
    for i, (writer, reader) in enumerate([(o1, o2), (rest[0], o1), (o2, rest[1])]):
        assert call(w, writer, Put(KEY, f"v{i}")).error is None
        assert f"v{i}" in values(call(w, reader, Get(KEY)))


def test_r_equals_w_equals_one_reads_stale_under_a_partition() -> None:
    """The lesson: R = W = 1 (R + W <= N) acknowledges a write its coordinator alone
    holds, and a read on the other side of a partition misses it. The write is not lost:
    once healed, a read of all N sees it (and read repair copies it over)."""
    w = world(n=3, r=1, w=1)
    o1, o2, o3, *_ = preference(w)
    assert call(w, o1, Put(KEY, "v1", w=3)).error is None
    w.partition([[o1], [n for n in w.ids if n != o1]])
    assert call(w, o1, Put(KEY, "v2")).error is None  # acknowledged by o1 alone
    assert values(call(w, o2, Get(KEY))) == ["v1"]  # stale: v2 was acknowledged before
    # with W = 2 the same write is refused an answer: only its coordinator has it
    answer = call(w, o1, Put(KEY, "v3", w=2))
    assert isinstance(answer.error, Unavailable)
    w.heal()
    w.run_for(2000)  # o1 forgets that o2 and o3 failed its requests
    assert values(call(w, o2, Get(KEY, r=3))) == ["v1", "v2", "v3"]
    w.run_for(500)  # read repair
    assert sorted(core(w, o3).store[KEY].values()) == ["v1", "v2", "v3"]


def test_a_node_down_the_write_goes_to_a_stand_in_with_a_hint() -> None:
    """§4.6: an owner that failed a request is skipped; the next node on the ring stands
    in, keeps the version apart under a hint naming the owner, keeps it across a
    restart, and serves it to gets."""
    w = world(n=3, r=3, w=3)
    o1, o2, o3, stand_in, *_ = preference(w)
    w.crash(o3)
    first = call(w, o1, Put(KEY, "a"))
    assert isinstance(first.error, Unavailable)  # o3 failed it: 2 of the 3 acks
    assert call(w, o1, Put(KEY, "b")).error is None  # o1, o2 and the stand-in
    held = core(w, stand_in)
    assert KEY not in held.store  # not among its own keys
    assert sorted(held.hinted[KEY][o3].values()) == ["a", "b"]
    w.crash(stand_in)
    w.restart(stand_in)
    assert sorted(core(w, stand_in).hinted[KEY][o3].values()) == ["a", "b"]
    w.run_for(50)
    assert core(w, o1).targets(KEY)[stand_in] == o3
    # o2 has not seen o3 fail yet: its first read asks o3 and gets 2 of the R = 3 replies;
    # its next one skips o3 for the stand-in, which answers with the hinted version
    assert isinstance(call(w, o2, Get(KEY)).error, Unavailable)
    assert values(call(w, o2, Get(KEY))) == ["a", "b"]


def test_concurrent_blind_writes_become_siblings_and_a_context_resolves_them() -> None:
    """§4.4: two writes that saw nothing (empty contexts) both survive as siblings; a
    write with the context of a read that showed both replaces them."""
    w = world(n=3, r=2, w=1)
    o1, o2, *_ = preference(w)
    a, b = w.submit(o1, Put(KEY, "x")), w.submit(o2, Put(KEY, "y"))
    w.run_until(lambda: a in w.answers and b in w.answers, 1000)
    read = call(w, o1, Get(KEY, r=3))
    assert values(read) == ["x", "y"]
    _, context = read.result
    assert call(w, o1, Put(KEY, "z", context, w=3)).error is None
    assert values(call(w, o2, Get(KEY, r=3))) == ["z"]


def test_a_non_owner_forwards_to_an_owner() -> None:
    """§4.5: a request at a node outside the key's top N is coordinated by an owner."""
    w = world(n=3, r=2, w=2)
    o1, _, _, outsider, _ = preference(w)
    assert call(w, outsider, Put(KEY, "v")).error is None
    assert core(w, outsider).stats["forwarded"] == 1
    assert KEY not in core(w, outsider).store
    assert core(w, o1).stats["coordinated"] == 1
