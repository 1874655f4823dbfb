"""The toy protocol's shell: its peer messages travel on the ``protocols.toy.v1.Toy``
service (protos/toy.proto), and it serves the shared Kv service to clients."""

from __future__ import annotations

from typing import TYPE_CHECKING

from protocols._pb import kv_pb2_grpc, toy_pb2
from protocols.kv.service import SERVICE_NAME, KvServicer
from protocols.runtime.shell import ProtocolShell, routes_for
from tests.toy.protocol import SPEC, ToySpec

if TYPE_CHECKING:
    import grpc.aio

    from protocols.runtime.shell import ServiceHost

__all__ = ["SHELL"]


class ToyShell(ProtocolShell):
    name = "toy"
    spec: ToySpec = SPEC
    routes = routes_for(SPEC, "protocols.toy.v1.Toy", toy_pb2)

    def add_services(self, server: grpc.aio.Server, host: ServiceHost) -> list[str]:
        kv_pb2_grpc.add_KvServicer_to_server(KvServicer(host), server)
        return [SERVICE_NAME]


SHELL = ToyShell()
