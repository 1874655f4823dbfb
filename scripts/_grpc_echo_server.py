"""A bare grpc.aio server (Probe.Ping) for benchmark baselines; prints its port, then
serves until killed. Used by scripts/bench_proxy.py and scripts/bench_raft.py."""

from __future__ import annotations

import asyncio
from typing import Any

import grpc.aio

from protocols._pb import admin_pb2, admin_pb2_grpc


class Probe(admin_pb2_grpc.ProbeServicer):
    async def Ping(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return admin_pb2.PingReply(node_id="bare", seq=request.seq)


async def main() -> None:
    server = grpc.aio.server()
    admin_pb2_grpc.add_ProbeServicer_to_server(Probe(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    print(port, flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(main())
