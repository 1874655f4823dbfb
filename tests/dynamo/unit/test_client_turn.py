"""The client spreads its requests: each call starts one node further along (every node
coordinates, §4.5), and still tries every node in turn when the first cannot answer."""

from __future__ import annotations

from protocols.dynamo.client import DynamoClient


async def test_each_call_starts_at_the_next_node_and_lists_them_all() -> None:
    async with DynamoClient({"n1": "127.0.0.1:1", "n2": "127.0.0.1:2",
                             "n3": "127.0.0.1:3"}) as c:
        orders = [c._in_turn() for _ in range(4)]
    assert orders == [["n1", "n2", "n3"], ["n2", "n3", "n1"], ["n3", "n1", "n2"],
                      ["n1", "n2", "n3"]]
