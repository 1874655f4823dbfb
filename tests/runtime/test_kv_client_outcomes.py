"""KvClient says what happened from structure, never from text (issue #19 bug 4): an
attempt counts as "not applied" only when a server said so (``x-refused``, NotLeader,
InvalidRequest); any other failure — "Connection reset by peer" after the request
reached the leader included — leaves the outcome unknown (Timeout, an ``info``)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import grpc
import grpc.aio
import pytest

from protocols._pb import kv_pb2, kv_pb2_grpc
from protocols.common.errors import NotLeader, Timeout, Unavailable, Unimplemented
from protocols.kv.client import KvClient
from protocols.runtime.errors import abort_with


class Scripted(kv_pb2_grpc.KvServicer):
    """Every Put ends the way the test says; ``puts`` counts what reached the server."""

    def __init__(self) -> None:
        self.puts = 0
        self.fail: Callable[[grpc.aio.ServicerContext], Any] | None = None

    async def Register(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return kv_pb2.RegisterReply()

    async def Put(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self.puts += 1
        assert self.fail is not None
        await self.fail(context)
        return kv_pb2.PutReply()


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, Scripted]]:
    srv = grpc.aio.server()
    servicer = Scripted()
    kv_pb2_grpc.add_KvServicer_to_server(servicer, srv)
    port = srv.add_insecure_port("127.0.0.1:0")
    await srv.start()
    yield f"127.0.0.1:{port}", servicer
    await srv.stop(grace=None)


async def put(address: str) -> None:
    async with KvClient({"n1": address}, deadline_s=0.6, attempt_timeout_s=0.2) as kv:
        await kv.put("k", "v")


async def test_a_reset_after_the_request_arrived_is_an_unknown_outcome(
        server: tuple[str, Scripted]) -> None:
    address, s = server

    async def reset(context: grpc.aio.ServicerContext) -> None:
        await context.abort(grpc.StatusCode.UNAVAILABLE, "Connection reset by peer")

    s.fail = reset
    with pytest.raises(Timeout, match="outcome unknown"):
        await put(address)
    assert s.puts >= 1


async def test_a_structured_refusal_is_not_applied(server: tuple[str, Scripted]) -> None:
    address, s = server

    async def refuse(context: grpc.aio.ServicerContext) -> None:
        await abort_with(context, Unavailable("busy: try later (the word connect here "
                                              "means nothing)", refused=True))

    s.fail = refuse
    with pytest.raises(Unavailable, match="not applied"):
        await put(address)


async def test_not_the_leader_everywhere_is_not_applied(server: tuple[str, Scripted]) -> None:
    address, s = server

    async def not_leader(context: grpc.aio.ServicerContext) -> None:
        await abort_with(context, NotLeader(None))

    s.fail = not_leader
    with pytest.raises(Unavailable, match="not applied"):
        await put(address)


async def test_a_server_without_the_kv_is_refused_at_once() -> None:
    """A server of another protocol answers UNIMPLEMENTED: nothing was applied and asking
    again cannot help, so the client stops at the first answer instead of retrying to its
    deadline and calling the outcome unknown (``cluster kv --endpoint`` at a swim node)."""
    srv = grpc.aio.server()  # serves nothing: every call is UNIMPLEMENTED
    port = srv.add_insecure_port("127.0.0.1:0")
    await srv.start()
    try:
        async with KvClient({"n1": f"127.0.0.1:{port}"}, deadline_s=30.0) as kv:
            with pytest.raises(Unimplemented) as caught:
                await asyncio.wait_for(kv.put("k", "v"), 10.0)
        assert caught.value.refused and kv.attempts == 1
    finally:
        await srv.stop(grace=None)
