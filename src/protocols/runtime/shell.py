"""What a protocol's ``node.py`` hands the shared shell (``protocols.runtime.host``).

A protocol declares:

* its ``ProtocolSpec`` (how to build a core + storage, used by the simulator too);
* its peer RPCs as ``Route``s: which core message dataclass travels as which protobuf
  request on which gRPC method, and how its reply comes back. The host builds both the
  server handlers and the client calls from this table with the generic codec;
* optionally, extra client-facing services (e.g. the Kv service) through ``add_services``.

Everything else — server lifecycle, health, reflection, Admin, ticker, pump, transport,
message faults, signals — is the host's job and is the same for every protocol.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from google.protobuf.message import Message

from protocols.runtime.core import ProtocolSpec

if TYPE_CHECKING:
    import grpc.aio

    from protocols.runtime.host import NodeHost

__all__ = ["ProtocolShell", "Route"]


@dataclass(frozen=True, slots=True)
class Route:
    """One peer RPC: ``request_type`` (a core dataclass) sent as ``request_pb`` to
    ``/<service>/<method>``; the reply (``reply_type`` / ``reply_pb``) comes back."""

    service: str  # full proto service name, e.g. "protocols.raft.v1.Raft"
    method: str  # e.g. "RequestVote"
    request_type: type[Any]
    request_pb: type[Message]
    reply_type: type[Any]
    reply_pb: type[Message]

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.method}"


class ProtocolShell(Protocol):
    """The plug-in a protocol's node.py exports as ``SHELL``."""

    name: str
    spec: ProtocolSpec
    routes: Sequence[Route]

    def add_services(self, server: grpc.aio.Server, host: NodeHost) -> list[str]:
        """Register client-facing servicers; return their full service names."""
        ...
