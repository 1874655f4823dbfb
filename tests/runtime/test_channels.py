"""Clients' channels (protocols.runtime.channels): one channel, so one HTTP/2 connection,
per node, made on first use and reused by every call after."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc
import grpc.aio
import pytest

from protocols._pb import admin_pb2, admin_pb2_grpc
from protocols.common.errors import InvalidRequest
from protocols.runtime.channels import NodeChannels


class PeerRecorder(admin_pb2_grpc.ProbeServicer):
    """Remembers the client address (host:port) of every call: one per connection."""

    def __init__(self) -> None:
        self.peers: list[str] = []

    async def Ping(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self.peers.append(context.peer())
        return admin_pb2.PingReply(node_id="n", seq=request.seq)


async def test_every_call_to_a_node_shares_one_connection() -> None:
    servers, recorders, addresses = [], [], {}
    for node in ("n1", "n2"):
        server, recorder = grpc.aio.server(), PeerRecorder()
        admin_pb2_grpc.add_ProbeServicer_to_server(recorder, server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        servers.append(server)
        recorders.append(recorder)
        addresses[node] = f"127.0.0.1:{port}"
    try:
        async with NodeChannels(addresses, admin_pb2_grpc.ProbeStub) as channels:
            for node in ("n1", "n2"):
                await asyncio.gather(*(channels.stub(node).Ping(
                    admin_pb2.PingRequest(from_id="c", seq=i), timeout=5) for i in range(20)))
                for i in range(20):  # one after another, too
                    await channels.stub(node).Ping(admin_pb2.PingRequest(from_id="c", seq=i),
                                                   timeout=5)
            assert channels.stub("n1") is channels.stub("n1")
            with pytest.raises(InvalidRequest, match="unknown node 'n9'"):
                channels.stub("n9")
        for recorder in recorders:
            assert len(recorder.peers) == 40
            assert len(set(recorder.peers)) == 1, f"several connections: {set(recorder.peers)}"
    finally:
        for server in servers:
            await server.stop(grace=None)
