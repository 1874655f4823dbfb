"""Claims about events no one could have shown, and a replica whose disk was wiped
(issue #31, bug 4), on replicas driven by hand.

A context ``{n2: 1000}`` sent to n1 used to be taken at its word: n1's state recorded
n2's first 1000 writes of the key as seen, and every value n2 wrote (acknowledged) that
n1 had not yet synced, and its next ones, were dropped as already replaced. A replica
now refuses a claim beyond what it has seen, and a peer's state claiming more of its own
writes than it made. And a replica that started on a wiped disk used to count its writes
from 1 again under its node id: its peers held those dots with the old values and
dropped the new, acknowledged ones as duplicates. Each disk now counts under an id of
its own (``n1~5e0c2a17``)."""

from __future__ import annotations

import random

import pytest

from protocols.clocks import DVVSet, Entry
from protocols.common.errors import InvalidRequest
from protocols.common.ids import NodeId
from protocols.common.wal import SyncPolicy
from protocols.sim.disk import SimFileSystem
from protocols.vkv import VkvStorage
from protocols.vkv.core import Get, Put, VkvCore, VkvOptions
from protocols.vkv.messages import DigestReply, Replicate
from protocols.vkv.state import encode

IDS = ("n1", "n2", "n3")


def replica(node: str, life: int = 1, storage: VkvStorage | None = None) -> VkvCore:
    """``life`` seeds the node's randomness, as each start of a process does."""
    return VkvCore(NodeId(node), [NodeId(p) for p in IDS if p != node],
                   random.Random(f"{node}/{life}"), VkvOptions(),
                   storage.latest if storage else {}, 0.01,
                   storage.replica_id if storage else None)


def put(r: VkvCore, value: str, context: dict[str, int]) -> list[Replicate]:
    r.submit(value, Put("k", value, context))
    out = r.ready()
    assert out.answers[0].error is None
    return [e.msg for e in out.messages if isinstance(e.msg, Replicate)]


def values(r: VkvCore) -> list[str]:
    r.submit("get", Get("k"))
    got: list[str] = r.ready().answers[0].result[0]
    return got


def deliver(msgs: list[Replicate], to: VkvCore) -> None:
    for m in msgs:
        to.on_message(NodeId("x"), m)
    to.ready()


def test_a_context_naming_writes_this_replica_has_not_seen_is_refused() -> None:
    """The issue's schedule: n2 writes twice, n1 has seen the first only; a context
    claiming 1000 writes of n2 is refused at n1, and n2's second write survives."""
    n1, n2 = replica("n1"), replica("n2")
    deliver(put(n2, "first", {}), n1)
    second = put(n2, "second", {n2.replica_id: 1})  # acknowledged, not yet at n1
    before = encode(n1.store["k"])
    with pytest.raises(InvalidRequest, match=f"context\\[{n2.replica_id}\\] claims 1000 "
                                             f"writes to 'k'; this replica has seen 1"):
        n1.submit("forged", Put("k", "forged", {n2.replica_id: 1000}))
    assert encode(n1.store["k"]) == before and not n1.ready().persist
    deliver(second, n1)
    assert values(n1) == ["second"]


def test_a_context_from_a_read_elsewhere_is_taken_once_this_replica_has_synced() -> None:
    n1, n2 = replica("n1"), replica("n2")
    msgs = put(n2, "v", {})
    n2.submit("read", Get("k"))
    _, context = n2.ready().answers[0].result
    with pytest.raises(InvalidRequest, match="has seen 0"):
        n1.submit("w", Put("k", "w", context))
    deliver(msgs, n1)
    put(n1, "w", context)
    assert values(n1) == ["w"], "the context covered v: w replaced it"


def test_a_peer_state_claiming_more_of_our_writes_than_we_made_is_refused() -> None:
    """Only n1 makes events under its id: a state saying it made 50 would make n1
    drop its own values (its count would jump, its dots would look replaced)."""
    n1, n2 = replica("n1"), replica("n2")
    deliver(put(n1, "mine", {}), n2)
    deliver(put(n2, "theirs", {n1.replica_id: 1}), n1)  # true: n1 made 1
    assert values(n1) == ["theirs"]
    before = encode(n1.store["k"])
    forged = encode(DVVSet([Entry(n1.replica_id, 50, ()), Entry("n3~1", 1, ("y",))]))
    with pytest.raises(InvalidRequest, match=f"claims 50 writes of {n1.replica_id}; "
                                             f"it made 1"):
        n1.on_message(NodeId("n3"), Replicate("k", forged))
    n1.on_reply(NodeId("n3"), None, DigestReply({"k": forged}, ()))  # skipped
    assert encode(n1.store["k"]) == before


def test_a_peer_state_or_context_naming_strangers_is_refused() -> None:
    n1 = replica("n1")
    put(n1, "v", {})
    with pytest.raises(InvalidRequest, match="replicas of this cluster"):
        n1.submit("w", Put("k", "w", {"n9~00000001": 1}))
    stranger = b'{"dvv":[["n9~1",1,["x"]]],"anonymous":[]}'
    with pytest.raises(InvalidRequest, match="replicas of this cluster"):
        n1.on_message(NodeId("n2"), Replicate("k", stranger))


def test_a_replica_on_a_wiped_disk_counts_under_a_new_id() -> None:
    n1, n2 = replica("n1"), replica("n2")
    deliver(put(n1, "old", {}), n2)
    wiped = replica("n1", life=2)  # the same node, an empty disk, a new process
    assert wiped.replica_id != n1.replica_id
    deliver(put(wiped, "new", {}), n2)  # acknowledged
    assert values(n2) == ["new", "old"], "the new write is not taken for the old one"


def test_the_replica_id_survives_a_restart_on_the_same_disk() -> None:
    fs = SimFileSystem()
    storage = VkvStorage(fs, "/d", SyncPolicy.ALWAYS)
    n1 = replica("n1", storage=storage)
    n1.submit("w", Put("k", "v", {}))
    storage.save(n1.ready().persist)
    again = VkvStorage(fs, "/d", SyncPolicy.ALWAYS)
    restarted = replica("n1", life=2, storage=again)
    assert restarted.replica_id == n1.replica_id
    restarted.submit("w2", Put("k", "v2", {n1.replica_id: 1}))
    assert restarted.ready().answers[0].result == (["v2"], {n1.replica_id: 2})
