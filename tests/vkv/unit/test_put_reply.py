"""What a write's answer carries (issue #31, bug 3), on a replica driven by hand.

A write used to be answered with the key's whole context and no values. The context
covers every sibling, other clients' concurrent values too, so a client that wrote
again with it replaced a value it had never been shown: an acknowledged write lost
(``lost_writes`` flags it). The answer now lists the siblings the context covers, as a
read right after the write would."""

from __future__ import annotations

import random

import pytest

from protocols.check.vkv import Write, lost_writes
from protocols.common.ids import NodeId
from protocols.vkv.core import Get, Put, VkvCore, VkvOptions

IDS = ("n1", "n2", "n3")


def replica(clock: str) -> VkvCore:
    return VkvCore(NodeId("n1"), [NodeId("n2"), NodeId("n3")], random.Random(1),
                   VkvOptions.from_mapping({"clock": clock}), {}, 0.01)


def put(r: VkvCore, value: str, context: dict[str, int]) -> tuple[list[str], dict[str, int]]:
    r.submit(value, Put("k", value, context))
    answer: tuple[list[str], dict[str, int]] = r.ready().answers[0].result
    return answer


@pytest.mark.parametrize("clock", ["dvv", "vv"])
def test_writing_again_with_a_writes_answer_replaces_only_what_it_showed(clock: str
                                                                         ) -> None:
    r = replica(clock)
    put(r, "bob's", {})  # acknowledged to Bob
    shown, context = put(r, "alice's", {})  # Alice writes blind, concurrently
    assert sorted(shown) == ["alice's", "bob's"], "Bob's sibling is shown with the context"
    put(r, "alice's again", context)  # Alice writes again with her answer's context
    r.submit("read", Get("k"))
    final = r.ready().answers[0].result[0]
    writes: list[Write] = [("k", "bob's", frozenset()), ("k", "alice's", frozenset()),
                           ("k", "alice's again", frozenset(shown))]
    assert lost_writes(writes, writes, {"k": final}) == []
    assert final == ["alice's again"], "her context covered both: she resolved them"


def test_the_answers_context_is_what_a_read_right_after_returns() -> None:
    r = replica("dvv")
    put(r, "x", {})
    answer = put(r, "y", {})
    r.submit("read", Get("k"))
    assert r.ready().answers[0].result == answer
