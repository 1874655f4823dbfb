"""Multi-Paxos's gRPC shell: its peer messages on the ``protocols.paxos.v1.Paxos``
service (protos/paxos.proto), and the same Kv service Raft serves, so the same
``KvClient``, chaos tests and benchmarks work against both."""

from __future__ import annotations

from typing import TYPE_CHECKING

from protocols._pb import kv_pb2_grpc, paxos_pb2
from protocols.kv.service import SERVICE_NAME, KvServicer
from protocols.paxos import SPEC, PaxosSpec
from protocols.runtime.shell import ProtocolShell, routes_for

if TYPE_CHECKING:
    import grpc.aio

    from protocols.runtime.shell import ServiceHost

__all__ = ["SHELL"]


class PaxosShell(ProtocolShell):
    name = "paxos"
    spec: PaxosSpec = SPEC
    routes = routes_for(SPEC, "protocols.paxos.v1.Paxos", paxos_pb2)

    def add_services(self, server: grpc.aio.Server, host: ServiceHost) -> list[str]:
        kv_pb2_grpc.add_KvServicer_to_server(KvServicer(host), server)
        return [SERVICE_NAME]


SHELL = PaxosShell()
