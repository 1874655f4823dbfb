"""Dynamo's gRPC shell (DeCandia et al., "Dynamo", SOSP 2007): its replica messages on
``protocols.dynamo.v1.Dynamo``, the messages of the SWIM member each node embeds (§4.8)
on SWIM's own ``protocols.swim.v1.Swim``, and the client-facing ``DynamoKv`` service:
get and put with a context and a quorum of their own (§4.4-4.5), the ring's ownership
and the SWIM view."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from protocols._pb import dynamo_pb2, dynamo_pb2_grpc
from protocols.contract import MessageTable, ProtocolSpec
from protocols.dynamo import SPEC, DynamoSpec
from protocols.dynamo.core import Get, Ownership, Put
from protocols.runtime.shell import ProtocolShell, routes_for
from protocols.swim import SPEC as SWIM_SPEC
from protocols.swim.commands import Members, MembersView
from protocols.swim.node import SHELL as SWIM_SHELL
from protocols.swim.node import members_reply

if TYPE_CHECKING:
    import grpc.aio

    from protocols.runtime.shell import ServiceHost

__all__ = ["PEER_SERVICE", "SERVICE_NAME", "SHELL", "DynamoKvServicer"]

PEER_SERVICE = "protocols.dynamo.v1.Dynamo"
SERVICE_NAME = "protocols.dynamo.v1.DynamoKv"
DEADLINE_S = 5.0  # when the client sent none


class _OwnMessages(ProtocolSpec):
    """Dynamo's own message kinds, without the SWIM kinds its spec also declares: the
    routes of ``protocols.dynamo.v1.Dynamo``."""

    name = "dynamo"
    messages = MessageTable(k for k in SPEC.messages.kinds
                            if k not in SWIM_SPEC.messages.kinds)


class DynamoKvServicer(dynamo_pb2_grpc.DynamoKvServicer):
    """Any node takes any request (§4.5: a node outside a key's top N forwards it)."""

    def __init__(self, host: ServiceHost) -> None:
        self.host = host

    async def Get(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        values, ctx = await self.host.submit_for_rpc(
            context, lambda: Get(request.key, request.r), DEADLINE_S)
        return dynamo_pb2.GetReply(values=values, context=ctx)

    async def Put(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        values, ctx = await self.host.submit_for_rpc(
            context, lambda: Put(request.key, request.value, dict(request.context),
                                 request.w), DEADLINE_S)
        return dynamo_pb2.PutReply(values=values, context=ctx)

    async def Ownership(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        o = await self.host.submit_for_rpc(context, Ownership, DEADLINE_S)
        return dynamo_pb2.OwnershipReply(
            shares=[dynamo_pb2.NodeShare(node=n, first=o["first"][n],
                                         replica=o["replica"][n]) for n in o["nodes"]],
            keys=o["keys"], hinted=o["hinted"], moving=o["moving"])

    async def Members(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        view: MembersView = await self.host.submit_for_rpc(context, Members, DEADLINE_S)
        return members_reply(view)


class DynamoShell(ProtocolShell):
    name = "dynamo"
    spec: DynamoSpec = SPEC
    routes = (*routes_for(_OwnMessages(), PEER_SERVICE, dynamo_pb2), *SWIM_SHELL.routes)

    def add_services(self, server: grpc.aio.Server, host: ServiceHost) -> list[str]:
        dynamo_pb2_grpc.add_DynamoKvServicer_to_server(DynamoKvServicer(host), server)
        return [SERVICE_NAME]


SHELL = DynamoShell()
