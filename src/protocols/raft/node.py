"""Raft's gRPC shell: which dataclass travels as which protobuf message, plus the Kv
service and the RaftAdmin service (membership change, leadership transfer). Everything
else (server, health, Admin, ticker, pump, transport, faults) is the shared
``protocols.runtime.host``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import grpc.aio

from protocols._pb import kv_pb2_grpc, raft_pb2, raft_pb2_grpc
from protocols.kv.service import SERVICE_NAME, KvServicer
from protocols.raft import SPEC, RaftSpec
from protocols.raft.messages import ChangeMembership, Membership, TransferLeadership
from protocols.runtime.shell import ProtocolShell, routes_for

if TYPE_CHECKING:
    from protocols.runtime.shell import ServiceHost

__all__ = ["ADMIN_SERVICE_NAME", "SHELL", "RaftAdminServicer"]

_SERVICE = "protocols.raft.v1.Raft"
ADMIN_SERVICE_NAME = "protocols.raft.v1.RaftAdmin"
_DEADLINE_S = 10.0  # when the client sent none


class RaftAdminServicer(raft_pb2_grpc.RaftAdminServicer):
    """Operator requests go through the log like any command (thesis §4.1)."""

    def __init__(self, host: ServiceHost) -> None:
        self.host = host

    async def _run(self, context: grpc.aio.ServicerContext, command: Any) -> Any:
        return await self.host.submit_for_rpc(context, lambda: command, _DEADLINE_S)

    async def ChangeMembership(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        m: Membership = await self._run(context, ChangeMembership(request.action,
                                                                  request.node_id))
        return raft_pb2.MembershipReply(voters=sorted(m.voters), learners=sorted(m.learners))

    async def TransferLeadership(self, request: Any, context: grpc.aio.ServicerContext
                                 ) -> Any:
        target = await self._run(context, TransferLeadership(request.target))
        return raft_pb2.TransferLeadershipReply(target=target)


class RaftShell(ProtocolShell):
    name = "raft"
    spec: RaftSpec = SPEC
    routes = routes_for(SPEC, _SERVICE, raft_pb2)

    def add_services(self, server: grpc.aio.Server, host: ServiceHost) -> list[str]:
        kv_pb2_grpc.add_KvServicer_to_server(KvServicer(host), server)
        raft_pb2_grpc.add_RaftAdminServicer_to_server(RaftAdminServicer(host), server)
        return [SERVICE_NAME, ADMIN_SERVICE_NAME]


SHELL = RaftShell()
