"""What a protocol's ``node.py`` hands the shared shell (``protocols.runtime.host``).

A protocol declares:

* its ``ProtocolSpec`` (``protocols.contract``: how to build a core and its storage,
  the kinds of its peer messages, its options), shared with the simulator;
* its peer gRPC service: each message of ``spec.messages`` travels as the protobuf
  message *of the same name* in the protocol's generated module, on the method of the
  same name (``/protocols.raft.v1.Raft/AppendEntries``). ``routes_for`` builds that table;
  the host builds the server handlers and the client calls from it, with the generic
  codec (``protocols.runtime.codec``). A one-way message returns ``common.v1.Empty``;
* optionally, client-facing services (the Kv service, an admin service) through
  ``add_services``.

Everything else — server lifecycle, health, reflection, Admin, ticker, pump, transport,
message faults, signals — is the host's job and is the same for every protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from google.protobuf.message import Message

from protocols._pb import common_pb2
from protocols.contract import NodeStatus, OneWay, ProtocolSpec, Rpc

if TYPE_CHECKING:
    import grpc.aio

__all__ = ["ProtocolShell", "Route", "ServiceHost", "routes_for"]


@dataclass(frozen=True, slots=True)
class Route:
    """One peer message: ``request_type`` (a core dataclass) sent as ``request_pb`` to
    ``/<service>/<method>``; for an ``Rpc`` the reply (``reply_type``/``reply_pb``)
    comes back, a one-way message gets ``Empty``."""

    service: str  # full proto service name, e.g. "protocols.raft.v1.Raft"
    method: str  # e.g. "RequestVote"
    request_type: type[Any]
    request_pb: type[Message]
    reply_type: type[Any] | None  # None: one-way
    reply_pb: type[Message]

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.method}"

    @property
    def one_way(self) -> bool:
        return self.reply_type is None


def routes_for(spec: ProtocolSpec, service: str, pb_module: ModuleType) -> tuple[Route, ...]:
    """The route of every message in ``spec.messages``: the protobuf message of the same
    name in ``pb_module``, on method ``/<service>/<MessageName>``."""
    routes = []
    for kind in spec.messages.kinds:
        if isinstance(kind, Rpc):
            routes.append(Route(service, kind.request.__name__, kind.request,
                                _pb(pb_module, kind.request), kind.reply,
                                _pb(pb_module, kind.reply)))
        elif isinstance(kind, OneWay):
            routes.append(Route(service, kind.message.__name__, kind.message,
                                _pb(pb_module, kind.message), None, common_pb2.Empty))
    return tuple(routes)


def _pb(module: ModuleType, cls: type[Any]) -> type[Message]:
    pb = getattr(module, cls.__name__, None)
    if pb is None:
        raise TypeError(f"{module.__name__} has no protobuf message {cls.__name__}: each "
                        f"peer message travels as the protobuf message of the same name")
    return pb  # type: ignore[no-any-return]


class ServiceHost(Protocol):
    """What a protocol's client-facing services may ask of the node hosting them (the
    host, ``protocols.runtime.host.NodeHost``, is one; the shell needs no more of it)."""

    async def submit_for_rpc(self, context: grpc.aio.ServicerContext,
                             build: Callable[[], Any], default_deadline_s: float) -> Any:
        """Build the command from the request, submit it to the core the call is for,
        answer or end the RPC with the mapped status."""
        ...

    def status(self) -> NodeStatus: ...


class ProtocolShell:
    """The plug-in a protocol's node.py exports as ``SHELL``. Subclass it."""

    name: str = ""
    spec: ProtocolSpec
    routes: Sequence[Route] = ()

    def add_services(self, server: grpc.aio.Server, host: ServiceHost) -> list[str]:
        """Register client-facing servicers; return their full service names."""
        return []
