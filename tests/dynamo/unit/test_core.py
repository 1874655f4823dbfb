"""Dynamo's core alone: options, the sloppy quorum's choice of nodes (§4.6), and bad
input refused with nothing changed."""

from __future__ import annotations

import random

import pytest

from protocols.common.errors import ConfigError, InvalidRequest
from protocols.common.ids import NodeId
from protocols.dynamo.core import DynamoCore, DynamoOptions, Get, Put, split_hinted_key
from protocols.dynamo.messages import ReplicaGet, ReplicaPut
from protocols.vkv.core import KeyRecord
from protocols.vkv.state import encode

NODES = [NodeId(f"n{i}") for i in range(1, 6)]


def make(me: str = "n1", **options: object) -> DynamoCore:
    opts = DynamoOptions.from_mapping(options, NODES)
    c = DynamoCore(NodeId(me), [n for n in NODES if n != me], random.Random(0), opts, {},
                   0.01, f"{me}~00000001")
    c.ready()
    return c


@pytest.mark.parametrize("options, words", [
    ({"n": 6}, "more replicas than the 5 nodes"),
    ({"n": 3, "w": 4}, "w=4"),
    ({"n": 3, "r": 4}, "r=4"),
    ({"r": 0}, "r"),
])
def test_options_refuse_quorums_that_cannot_be_met(options: dict[str, int], words: str
                                                    ) -> None:
    with pytest.raises(ConfigError, match=words):
        DynamoOptions.from_mapping(options, NODES)


def test_targets_are_the_top_n_while_all_are_healthy() -> None:
    c = make()
    prefs = c.preference_list("k")
    assert sorted(prefs) == sorted(NODES)
    assert c.targets("k") == {n: "" for n in prefs[:3]}


def test_a_failed_owner_is_replaced_by_the_next_node_with_a_hint_until_forgotten() -> None:
    prefs = make().preference_list("k")
    c = make(prefs[0], failure_memory_ms=100)  # 10 ticks of 10 ms
    c.on_send_failed(NodeId(prefs[1]), ReplicaGet("k", 99))
    assert c.targets("k") == {prefs[0]: "", prefs[2]: "", prefs[3]: prefs[1]}
    c.on_send_failed(NodeId(prefs[2]), ReplicaGet("k", 99))
    assert c.targets("k") == {prefs[0]: "", prefs[3]: prefs[1], prefs[4]: prefs[2]}
    for _ in range(10):
        c.tick()
    assert c.targets("k") == {n: "" for n in prefs[:3]}


def test_when_too_few_are_healthy_the_unhealthy_are_asked_anyway() -> None:
    prefs = make().preference_list("k")
    c = make(prefs[0], n=3)
    for p in prefs[1:]:
        c.on_send_failed(NodeId(p), ReplicaGet("k", 99))
    assert sorted(c.targets("k")) == sorted(prefs[:3])


@pytest.mark.parametrize("command", [
    Put("", "v"), Put("\x00n2\x00k", "v"), Put("k", "v", w=4), Put("k", "v", {"x~1": 1}),
    Get("k", r=-1), Get("k", r=True),
])
def test_bad_client_input_is_refused_and_changes_nothing(command: object) -> None:
    c = make()
    with pytest.raises(InvalidRequest):
        c.submit(1, command)
    out = c.ready()
    assert not out.persist and not out.messages and not out.answers


def test_a_hint_must_name_a_node_of_the_cluster() -> None:
    c = make()
    with pytest.raises(InvalidRequest, match="hint"):
        c.on_message(NodeId("n2"), ReplicaPut("k", b'{"anonymous":[],"dvv":[]}', "n9"))


def test_a_hinted_version_is_persisted_under_its_own_key() -> None:
    owner, other, _, stand_in, _ = make().preference_list("k")
    writer = make(owner)
    writer.submit(1, Put("k", "v", w=1))  # coordinated by an owner: written here
    state = encode(writer.store["k"])
    c = make(stand_in)
    c.on_message(NodeId(owner), ReplicaPut("k", state, other))
    (record,) = c.ready().persist
    assert isinstance(record, KeyRecord)
    assert split_hinted_key(record.key) == (other, "k")
    assert "k" not in c.store and c.hinted["k"][other].values() == ["v"]
