"""Two-phase commit's gRPC shell: the peer messages on ``protocols.twopc.v1.TwoPc`` and
the client-facing ``Transactions`` service (protos/twopc.proto): run a transaction of
micro-operations at a coordinator, and read the routing table (who owns which keys, who
coordinates)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from protocols._pb import twopc_pb2, twopc_pb2_grpc
from protocols.common.errors import InvalidRequest
from protocols.runtime.shell import ProtocolShell, routes_for
from protocols.twopc import SPEC, TwoPcSpec
from protocols.twopc.messages import MicroOp, Read, Transact

if TYPE_CHECKING:
    import grpc.aio

    from protocols.runtime.shell import ServiceHost

__all__ = ["SERVICE_NAME", "SHELL", "TransactionsServicer", "transact_of"]

SERVICE_NAME = "protocols.twopc.v1.Transactions"
DEADLINE_S = 10.0  # when the client sent none: phase one may wait for locks


def transact_of(request: Any) -> Transact:
    """The core's command for a ``TransactRequest``; InvalidRequest when malformed."""
    try:
        return Transact(tuple(MicroOp(op.f, op.key, op.value) for op in request.ops))
    except ValueError as e:
        raise InvalidRequest(f"bad transaction: {e}") from None


def read_pb(r: Read) -> Any:
    return twopc_pb2.Read(key=r.key, values=list(r.values), present=r.present,
                          is_list=r.is_list)


class TransactionsServicer(twopc_pb2_grpc.TransactionsServicer):
    def __init__(self, host: ServiceHost) -> None:
        self.host = host

    async def Transact(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        reads: tuple[Read, ...] = await self.host.submit_for_rpc(
            context, lambda: transact_of(request), DEADLINE_S)
        return twopc_pb2.TransactReply(reads=[read_pb(r) for r in reads])

    async def Routing(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        details = self.host.status().details
        return twopc_pb2.RoutingReply(
            participants=[p for p in details.get("shards", "").split(",") if p],
            coordinators=[c for c in details.get("coordinators", "").split(",") if c])


class TwoPcShell(ProtocolShell):
    name = "twopc"
    spec: TwoPcSpec = SPEC
    routes = routes_for(SPEC, "protocols.twopc.v1.TwoPc", twopc_pb2)

    def add_services(self, server: grpc.aio.Server, host: ServiceHost) -> list[str]:
        twopc_pb2_grpc.add_TransactionsServicer_to_server(TransactionsServicer(host), server)
        return [SERVICE_NAME]


SHELL = TwoPcShell()
