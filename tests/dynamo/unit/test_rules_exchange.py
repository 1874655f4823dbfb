"""Anti-entropy's repair (DeCandia et al., SOSP 2007, §4.7) between two cores driven by
hand: one exchange, started by one side only, leaves both with every key: the starter
pushes its version of each differing key and pulls the peer's."""

from __future__ import annotations

import random
from typing import Any

from protocols.common.ids import NodeId
from protocols.dynamo.core import DynamoCore, DynamoOptions, Put

NODES = [NodeId(f"n{i}") for i in range(1, 4)]  # N = 3: every node owns every key


def make(me: str, recovered: dict[str, bytes] | None = None) -> DynamoCore:
    opts = DynamoOptions.from_mapping({"membership": "static", "n": 3}, NODES)
    c = DynamoCore(NodeId(me), [n for n in NODES if n != me], random.Random(0), opts,
                   recovered or {}, 0.01, f"{me}~0000000{me[1:]}")
    c.ready()
    return c


def test_one_exchange_pushes_and_pulls_every_differing_key() -> None:
    writer = make("n3")
    raw: dict[str, Any] = {}
    for key in ("mine", "theirs", "both"):
        writer.submit(1, Put(key, f"{key}-1", w=1))
        raw[key] = writer._encode(writer.store[key])
    _, context = writer.ready().answers[-1].result
    writer.submit(2, Put("both", "both-2", context, w=1))  # a later version of "both"
    later = writer._encode(writer.store["both"])
    a = make("n1", {"mine": raw["mine"], "both": raw["both"]})
    b = make("n2", {"theirs": raw["theirs"], "both": later})
    a._start_exchange()
    for _ in range(20):  # deliver a's messages to b (and nothing else), b's replies back
        sent = [e for e in a.ready().messages if e.dst == "n2"]
        if not sent:
            break
        for e in sent:
            a.on_reply(NodeId("n2"), e.msg, b.on_message(NodeId("n1"), e.msg))
    assert a.exchange is None and a.aae["exchanges"] == 1
    assert b.store["mine"].values() == ["mine-1"]  # pushed
    assert a.store["theirs"].values() == ["theirs-1"]  # pulled
    assert a.store["both"].values() == b.store["both"].values() == ["both-2"]
