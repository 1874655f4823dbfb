"""The composed scenario (tests/toy/scenario.py) on real processes: two cores per node
process, per-node roles, a node added and one removed mid-run, a crash at a named point;
the history is the one the simulator records (tests/toy/sim/test_composed.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc

from cluster.pytest_plugin import wait_until
from cluster.runner import LocalCluster
from protocols._pb import kv_pb2, kv_pb2_grpc
from protocols.runtime.crashpoints import CRASH_EXIT_CODE
from protocols.runtime.peers import GROUP_KEY
from tests.toy.scenario import (
    COMPOSED_GROUP,
    COMPOSED_HISTORY,
    COMPOSED_NODES,
    COMPOSED_ROLES,
    COMPOSED_STEPS,
    CRASH_POINT,
    PRIMARY,
)

Factory = Callable[..., Awaitable[LocalCluster]]
TOY = "tests.toy.protocol:ENTRY"


async def run(c: LocalCluster, step: tuple[str, ...], history: list[tuple[str, ...]]) -> None:
    match step:
        case ("put", group, key, value):
            async with _kv(c, group) as (kv, meta):
                await kv.Put(kv_pb2.PutRequest(key=key, value=value), metadata=meta,
                             timeout=15)
            history.append(("put", group, key, "ok"))
        case ("get", group, key):
            async with _kv(c, group) as (kv, meta):
                reply = await kv.Get(kv_pb2.GetRequest(key=key), metadata=meta, timeout=15)
            history.append(("get", group, key, reply.value if reply.found else "-"))
        case ("add_node", node):
            assert await c.add_node() == node
        case ("crash_at", node):
            await c.crash_at(node, CRASH_POINT, group="")
        case ("await_crash", node):
            proc = c.node(node).proc
            assert proc is not None
            await wait_until(lambda: proc.poll() is not None, 15, what=f"{node} crashed")
            assert proc.returncode == CRASH_EXIT_CODE
        case ("restart", node):
            await c.restart(node)
        case ("remove_node", node):
            await c.remove_node(node)
        case _:
            raise AssertionError(f"unknown step {step}")


class _kv:
    """A Kv stub to the group's primary, with the metadata naming the group."""

    def __init__(self, c: LocalCluster, group: str) -> None:
        self.channel = grpc.aio.insecure_channel(c.node(PRIMARY[group]).client_address)
        self.meta = ((GROUP_KEY, group),)

    async def __aenter__(self) -> tuple[kv_pb2_grpc.KvStub, tuple[tuple[str, str], ...]]:
        return kv_pb2_grpc.KvStub(self.channel), self.meta

    async def __aexit__(self, *exc: object) -> None:
        await self.channel.close()


async def test_the_composed_scenario_records_the_history_the_simulator_does(
        cluster: Factory) -> None:
    c = await cluster(TOY, nodes=COMPOSED_NODES, roles=COMPOSED_ROLES,
                      groups={COMPOSED_GROUP: {"protocol": TOY}})
    history: list[tuple[str, ...]] = []
    for step in COMPOSED_STEPS:
        await run(c, step, history)
    assert history == COMPOSED_HISTORY
    assert sorted(c.ids) == ["n1", "n3", "n4"]
    st = await c.status("n3")
    assert st is not None and st.configured_role == "primary"
    assert [g.group for g in st.groups] == [COMPOSED_GROUP]
