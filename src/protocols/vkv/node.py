"""The versioned KV's gRPC shell: replica messages on ``protocols.vkv.v1.Vkv`` and the
client-facing ``VersionedKv`` service (get siblings and context; put with a context)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from protocols._pb import vkv_pb2, vkv_pb2_grpc
from protocols.runtime.shell import ProtocolShell, routes_for
from protocols.vkv import SPEC, VkvSpec
from protocols.vkv.core import Get, Put

if TYPE_CHECKING:
    import grpc.aio

    from protocols.runtime.shell import ServiceHost

__all__ = ["SERVICE_NAME", "SHELL", "VersionedKvServicer"]

SERVICE_NAME = "protocols.vkv.v1.VersionedKv"
DEADLINE_S = 5.0


class VersionedKvServicer(vkv_pb2_grpc.VersionedKvServicer):
    def __init__(self, host: ServiceHost) -> None:
        self.host = host

    async def Get(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        values, ctx = await self.host.submit_for_rpc(context, lambda: Get(request.key),
                                                     DEADLINE_S)
        return vkv_pb2.GetReply(values=values, context=ctx)

    async def Put(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        values, ctx = await self.host.submit_for_rpc(
            context, lambda: Put(request.key, request.value, dict(request.context)),
            DEADLINE_S)
        return vkv_pb2.PutReply(values=values, context=ctx)


class VkvShell(ProtocolShell):
    name = "vkv"
    spec: VkvSpec = SPEC
    routes = routes_for(SPEC, "protocols.vkv.v1.Vkv", vkv_pb2)

    def add_services(self, server: grpc.aio.Server, host: ServiceHost) -> list[str]:
        vkv_pb2_grpc.add_VersionedKvServicer_to_server(VersionedKvServicer(host), server)
        return [SERVICE_NAME]


SHELL = VkvShell()
