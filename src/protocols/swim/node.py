"""SWIM's gRPC shell: its peer messages on the ``protocols.swim.v1.Swim`` service and the
client-facing ``Membership`` service (protos/swim.proto): read a node's view, add to the
PN-counter, set metadata, broadcast a user event, leave."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from protocols._pb import swim_pb2, swim_pb2_grpc
from protocols.runtime.shell import ProtocolShell, routes_for
from protocols.swim import SPEC, SwimSpec
from protocols.swim.commands import Broadcast, Incr, Leave, Members, MembersView, SetMeta

if TYPE_CHECKING:
    import grpc.aio

    from protocols.runtime.shell import ServiceHost

__all__ = ["SERVICE_NAME", "SHELL", "MembershipServicer", "members_reply"]

SERVICE_NAME = "protocols.swim.v1.Membership"
DEADLINE_S = 10.0  # when the client sent none (a leave waits for its dissemination)


def members_reply(view: MembersView) -> Any:
    """A member's view on the wire (also what a store embedding SWIM answers: Dynamo)."""
    return swim_pb2.MembersReply(
        members=[swim_pb2.Member(member=m.member, state=cast(Any, int(m.state)),
                                 incarnation=m.incarnation, address=m.address)
                 for m in view.members],
        meta=view.meta, counter=view.counter, health=view.health,
        events=[swim_pb2.UserEvent(origin=e.origin, seq=e.seq, name=e.name,
                                   payload=e.payload) for e in view.events])


class MembershipServicer(swim_pb2_grpc.MembershipServicer):
    def __init__(self, host: ServiceHost) -> None:
        self.host = host

    async def _run(self, context: grpc.aio.ServicerContext, build: Any) -> Any:
        return await self.host.submit_for_rpc(context, build, DEADLINE_S)

    async def Members(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        view: MembersView = await self._run(context, Members)
        return members_reply(view)

    async def Incr(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        total = await self._run(context, lambda: Incr(request.delta))
        return swim_pb2.IncrReply(counter=total)

    async def SetMeta(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self._run(context, lambda: SetMeta(request.key, request.value))
        return swim_pb2.SetMetaReply()

    async def Broadcast(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        seq = await self._run(context, lambda: Broadcast(request.name, request.payload))
        return swim_pb2.BroadcastReply(seq=seq)

    async def Leave(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self._run(context, Leave)
        return swim_pb2.LeaveReply()


class SwimShell(ProtocolShell):
    name = "swim"
    spec: SwimSpec = SPEC
    routes = routes_for(SPEC, "protocols.swim.v1.Swim", swim_pb2)

    def add_services(self, server: grpc.aio.Server, host: ServiceHost) -> list[str]:
        swim_pb2_grpc.add_MembershipServicer_to_server(MembershipServicer(host), server)
        return [SERVICE_NAME]


SHELL = SwimShell()
