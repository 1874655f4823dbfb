"""Causal broadcast's gRPC shell: peer messages on ``protocols.causal.v1.Causal``, and the
client-facing ``Broadcaster`` service (send a broadcast, read this member's deliveries)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from protocols._pb import causal_pb2, causal_pb2_grpc
from protocols.causal import SPEC, CausalSpec
from protocols.causal.core import Delivered, Deliveries, Send
from protocols.runtime.shell import ProtocolShell, routes_for

if TYPE_CHECKING:
    import grpc.aio

    from protocols.runtime.shell import ServiceHost

__all__ = ["SERVICE_NAME", "SHELL", "BroadcasterServicer"]

SERVICE_NAME = "protocols.causal.v1.Broadcaster"
DEADLINE_S = 5.0


class BroadcasterServicer(causal_pb2_grpc.BroadcasterServicer):
    def __init__(self, host: ServiceHost) -> None:
        self.host = host

    async def Send(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        origin, seq, clock = await self.host.submit_for_rpc(
            context, lambda: Send(request.payload), DEADLINE_S)
        return causal_pb2.SendReply(origin=origin, seq=seq, clock=clock)

    async def Deliveries(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        log: list[Delivered] = await self.host.submit_for_rpc(
            context, lambda: Deliveries(request.since), DEADLINE_S)
        st = self.host.status()
        return causal_pb2.DeliveriesReply(
            deliveries=[causal_pb2.Delivery(origin=d.origin, seq=d.seq, payload=d.payload,
                                            index=d.index) for d in log],
            held=int(st.details["held"]), max_held=int(st.details["max_held"]),
            mode=st.role)


class CausalShell(ProtocolShell):
    name = "causal"
    spec: CausalSpec = SPEC
    routes = routes_for(SPEC, "protocols.causal.v1.Causal", causal_pb2)

    def add_services(self, server: grpc.aio.Server, host: ServiceHost) -> list[str]:
        causal_pb2_grpc.add_BroadcasterServicer_to_server(BroadcasterServicer(host), server)
        return [SERVICE_NAME]


SHELL = CausalShell()
