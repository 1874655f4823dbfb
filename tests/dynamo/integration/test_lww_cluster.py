"""Last-write-wins on real processes (DeCandia et al., SOSP 2007, §4.4; Kingsbury,
"Jepsen: Cassandra", 2013): with n2's clock 2 s behind (its per-node option
``clock_offset_ms``), a write n2 coordinates *after* n1's, and acknowledged by all three
replicas, loses to it, and the set-full checker names it lost; under siblings the same
two writes both stay."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from cluster.runner import LocalCluster
from protocols.check.history import History
from protocols.check.setfull import check_set_full
from protocols.dynamo.client import DynamoClient

Factory = Callable[..., Awaitable[LocalCluster]]
OPTIONS = {"n": 3, "r": 3, "w": 3, "replica_timeout_ms": 1000,
           "swim": {"probe_interval_ms": 200, "probe_timeout_ms": 100}}
SKEW = {"n2": {"clock_offset_ms": -2000}}


@pytest.mark.parametrize("resolve, lost", [("lww", 1), ("siblings", 0)])
async def test_a_later_write_from_a_clock_behind_is_lost_only_under_lww(
        cluster: Factory, resolve: str, lost: int) -> None:
    c = await cluster("dynamo", nodes=3, options={**OPTIONS, "resolve": resolve},
                      node_options=SKEW)
    h = History()
    async with DynamoClient(c.client_addresses) as kv:
        for process, (node, element) in enumerate([("n1", "first"), ("n2", "second")]):
            add = h.invoke(process, "add", "k", element, float(process))
            await kv.put("k", element, node=node)  # every node owns k (N = 3 of 3)
            h.complete(add, "ok", element, float(process) + 0.5)
        read = h.invoke(2, "read", "k", None, 2.0)
        values, _ = await kv.get("k", node="n3")
        h.complete(read, "ok", sorted(values), 2.5)
    result = check_set_full(h)
    assert f" {lost} lost" in result.summary(), result.summary()
    assert values == (["first"] if resolve == "lww" else ["first", "second"])
