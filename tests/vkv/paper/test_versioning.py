"""Dynamo's data versioning (§4.4) on replicas driven by hand: concurrent writes become
siblings returned together; a write whose context covers them resolves them; replicas
converge by merging states in any order; a write is durable before it is answered."""

from __future__ import annotations

import random

import pytest

from protocols.clocks import DVVSet
from protocols.clocks.dvv import Entry
from protocols.common.errors import ConfigError, InvalidRequest
from protocols.common.ids import NodeId
from protocols.vkv.core import Get, KeyRecord, Put, ReplicaIdRecord, VkvCore, VkvOptions
from protocols.vkv.messages import Digest, DigestReply, Replicate
from protocols.vkv.state import decode, encode

IDS = ["n1", "n2", "n3"]


def replica(node: str, clock: str = "dvv") -> VkvCore:
    return VkvCore(NodeId(node), [NodeId(p) for p in IDS if p != node], random.Random(1),
                   VkvOptions.from_mapping({"clock": clock}), {}, 0.01)


def get(r: VkvCore, key: str = "k") -> tuple[list[str], dict[str, int]]:
    r.submit("g", Get(key))
    result: tuple[list[str], dict[str, int]] = r.ready().answers[0].result
    return result


def put(r: VkvCore, value: str, context: dict[str, int], key: str = "k") -> list[Replicate]:
    r.submit("p", Put(key, value, context))
    out = r.ready()
    assert out.persist and out.answers, "the new state is persisted in the same Ready"
    return [e.msg for e in out.messages]


def deliver(msgs: list[Replicate], *to: VkvCore) -> None:
    for r in to:
        for m in msgs:
            r.on_message(NodeId("x"), m)
        r.ready()


@pytest.mark.parametrize("clock", ["dvv", "vv"])
def test_concurrent_writes_become_siblings_and_a_covering_write_resolves_them(clock: str
                                                                             ) -> None:
    a, b = replica("n1", clock), replica("n2", clock)
    deliver(put(a, "v0", {}), b)
    _, ctx = get(a)
    left = put(a, "left", ctx)  # both wrote over v0, neither saw the other
    right = put(b, "right", ctx)
    deliver(right, a)
    deliver(left, b)
    assert get(a)[0] == get(b)[0] == ["left", "right"]
    _, both = get(b)
    deliver(put(b, "resolved", both), a)
    assert get(a)[0] == get(b)[0] == ["resolved"]


def test_a_write_with_an_old_context_keeps_the_newer_value() -> None:
    a = replica("n1")
    put(a, "v1", {})
    _, old = get(a)
    put(a, "v2", old)
    put(a, "stale", old)  # a client that read before v2
    assert get(a)[0] == ["stale", "v2"]


def test_a_blind_write_is_a_sibling_of_everything() -> None:
    a = replica("n1")
    put(a, "v1", {})
    put(a, "blind", {})
    assert get(a)[0] == ["blind", "v1"]


def test_dotted_version_vectors_keep_siblings_to_the_truly_concurrent() -> None:
    """Riak's sibling explosion: two clients keep writing through one replica, each with
    the context of its own last write. Plain version vectors keep every value; dots keep
    one per client."""
    def run(clock: str) -> int:
        r = replica("n1", clock)
        contexts: dict[str, dict[str, int]] = {"c1": {}, "c2": {}}
        for i in range(10):
            for c in ("c1", "c2"):
                r.submit("p", Put("k", f"{c}-{i}", contexts[c]))
                contexts[c] = r.ready().answers[0].result[1]
        return len(get(r)[0])

    assert run("dvv") == 2 and run("vv") == 20


def test_replicas_converge_whatever_order_states_arrive_in() -> None:
    a, b, c = replica("n1"), replica("n2"), replica("n3")
    msgs = put(a, "x", {}) + put(b, "y", {}) + put(c, "z", {})
    for r in (a, b, c):
        for m in reversed(msgs) if r is b else msgs:
            r.on_message(NodeId("x"), m)
            r.on_message(NodeId("x"), m)  # duplicates change nothing
    assert encode(a.store["k"]) == encode(b.store["k"]) == encode(c.store["k"])


def test_anti_entropy_sends_each_side_what_differs() -> None:
    a, b = replica("n1"), replica("n2")
    put(a, "only-a", {}, key="a")
    put(b, "only-b", {}, key="b")
    for _ in range(100):
        a.tick()
    (digest,) = [e.msg for e in a.ready().messages if isinstance(e.msg, Digest)]
    reply = b.on_message(NodeId("n1"), digest)
    assert isinstance(reply, DigestReply) and set(reply.states) == {"b"}
    assert reply.wanted == ("a",)
    a.on_reply(NodeId("n2"), digest, reply)
    deliver([e.msg for e in a.ready().messages], b)
    assert get(a, "b")[0] == ["only-b"] and get(b, "a")[0] == ["only-a"]


def test_states_round_trip_and_bad_input_is_refused() -> None:
    a = replica("n1")
    put(a, "v", {})
    s = a.store["k"]
    assert decode(encode(s), "dvv") == s
    with pytest.raises(InvalidRequest):
        a.on_message(NodeId("n2"), Replicate("k", b"{not json"))
    with pytest.raises(InvalidRequest):
        a.submit(1, Get(""))
    with pytest.raises(InvalidRequest):
        a.submit(1, Put("k", "v", {"n1": -1}))
    with pytest.raises(ConfigError):
        VkvOptions.from_mapping({"clock": "lamport"})


def test_a_write_persists_the_keys_new_state_before_it_is_answered() -> None:
    a = replica("n1")
    a.submit("p", Put("k", "v", {}))
    out = a.ready()
    assert out.persist == [ReplicaIdRecord(a.replica_id), KeyRecord("k", encode(a.store["k"]))]
    assert out.answers[0].result == (["v"], {a.replica_id: 1})
    a.submit("p", Put("k", "w", {a.replica_id: 1}))
    assert a.ready().persist == [KeyRecord("k", encode(a.store["k"]))]


@pytest.mark.parametrize("bad", [b'{"vv":[1]}', b"[" * 5000 + b"]" * 5000,
                                 b'{"dvv":[["n2",-1,[]]],"anonymous":[]}', b"\xff",
                                 b'{"dvv":[],"anonymous":["no dot"]}'])
def test_any_malformed_state_from_a_peer_is_refused_and_changes_nothing(bad: bytes) -> None:
    a = replica("n1", "vv" if b"vv" in bad else "dvv")
    put(a, "v", {})
    before = encode(a.store["k"])
    with pytest.raises(InvalidRequest):
        a.on_message(NodeId("n2"), Replicate("k", bad))
    a.on_reply(NodeId("n2"), Digest({}), DigestReply({"k": bad, "": b"{}"}, ()))
    assert encode(a.store["k"]) == before


def test_deep_nesting_is_refused_before_the_json_parser_recurses() -> None:
    # json.loads on 5 000 '[' recurses to the interpreter's limit, and a finalizer the
    # garbage collector runs down there fails (seen once in CI): refuse it by counting
    with pytest.raises(ValueError, match="nested 5000 deep"):
        decode(b"[" * 5000 + b"]" * 5000, "dvv")
    # brackets inside strings are values, not nesting
    tricky = b'{"dvv":[["n2",2,["[[[[\\"{{","]]}}"]]],"anonymous":[]}'
    assert decode(tricky, "dvv") == DVVSet([Entry("n2", 2, ('[[[["{{', "]]}}"))])


def test_a_context_that_could_not_come_from_a_read_is_refused() -> None:
    a = replica("n1")
    put(a, "v", {})
    me = a.replica_id
    with pytest.raises(InvalidRequest, match="replicas of this cluster"):
        a.submit(1, Put("k", "x", {"n9": 1}))
    with pytest.raises(InvalidRequest, match=f"context\\[{me}\\] claims 100 .* seen 1"):
        a.submit(1, Put("k", "x", {me: 100}))


def test_the_lost_write_check() -> None:
    from protocols.check.vkv import lost_writes
    w1 = ("k", "a", frozenset())
    w2 = ("k", "b", frozenset({"a"}))  # read a, replaced it
    assert lost_writes([w1, w2], [w1, w2], {"k": ["b"]}) == []
    assert lost_writes([w1], [w1], {"k": []}) == [
        "k: acknowledged 'a' is gone, and no write that saw it replaced it"]
    # an unanswered write that was applied (its value was read later) replaced a
    assert lost_writes([w1], [w1, w2], {"k": []}, observed=[("k", "b")]) == []
    # ... but one never seen applied replaced nothing
    assert lost_writes([w1], [w1, w2], {"k": []}) != []
    assert lost_writes([], [w1], {"k": ["zzz"]}) == ["k: sibling 'zzz' was never written"]
