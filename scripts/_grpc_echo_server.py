"""A bare grpc.aio server (Probe.Ping, and a Peer.Stream that echoes each frame) for
benchmark baselines: the floor every RPC and stream message of ours stands on. Run as a
script it prints its port, then serves until killed; ``running()`` starts it in a process
of its own for scripts/bench_{proxy,raft,kv}.py."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import grpc
import grpc.aio

from protocols._pb import admin_pb2, admin_pb2_grpc, peer_pb2


@contextlib.contextmanager
def running() -> Iterator[tuple[int, int]]:
    """``with running() as (port, pid):`` the server, killed on exit."""
    server = subprocess.Popen([sys.executable, __file__], stdout=subprocess.PIPE,
                              start_new_session=True)
    try:
        assert server.stdout is not None
        yield int(server.stdout.readline()), server.pid
    finally:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()
        if server.stdout is not None:
            server.stdout.close()


class Probe(admin_pb2_grpc.ProbeServicer):
    async def Ping(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return admin_pb2.PingReply(node_id="bare", seq=request.seq)


async def echo_stream(frames: Any, context: grpc.aio.ServicerContext) -> Any:
    async for frame in frames:
        yield peer_pb2.Frame(id=frame.id, body=frame.body)


async def main() -> None:
    server = grpc.aio.server()
    admin_pb2_grpc.add_ProbeServicer_to_server(Probe(), server)
    stream = grpc.stream_stream_rpc_method_handler(
        echo_stream, request_deserializer=peer_pb2.Frame.FromString,
        response_serializer=lambda m: m.SerializeToString())
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "protocols.peer.v1.Peer", {"Stream": stream}),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main())
