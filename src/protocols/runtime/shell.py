"""What a protocol's ``node.py`` hands the shared shell (``protocols.runtime.host``).

A protocol declares:

* its ``ProtocolSpec`` (``protocols.contract``: how to build a core and its storage,
  the kinds of its peer messages, its options), shared with the simulator;
* its peer gRPC service: each message of ``spec.messages`` travels as the protobuf
  message *of the same name* in the protocol's generated module, on the method of the
  same name (``/protocols.raft.v1.Raft/AppendEntries``). ``routes_for`` builds that table;
  the host builds the server handlers and the client calls from it, with the generic
  codec (``protocols.runtime.codec``), or the protocol's own for a message the generic
  one cannot map (``routes_for(..., codecs={Message: codec})``: a field of any type, as
  txnkv's range-wrapped Raft messages). A one-way message returns ``common.v1.Empty``;
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
from protocols.runtime import codec as generic

if TYPE_CHECKING:
    import grpc.aio

__all__ = ["ProtocolShell", "Route", "ServiceHost", "WireCodec", "routes_for"]


class WireCodec(Protocol):
    """How one route's messages become protobuf and back: ``protocols.runtime.codec``'s
    two functions by default. Raise ``InvalidRequest`` on a message that does not decode."""

    def to_proto(self, obj: Any, pb_type: type[Any]) -> Any: ...

    def from_proto(self, msg: Any, cls: type[Any]) -> Any: ...


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
    codec: WireCodec | None = None  # None: the generic codec

    def encode(self, obj: Any, reply: bool = False) -> Message:
        """The request (or reply) ``obj`` as its protobuf message."""
        pb_type = self.reply_pb if reply else self.request_pb
        if self.codec is not None:
            encoded: Message = self.codec.to_proto(obj, pb_type)
            return encoded
        return generic.to_proto(obj, pb_type)

    def decode(self, msg: Message, reply: bool = False) -> Any:
        """The request (or reply) ``msg`` as the core's dataclass; InvalidRequest if it
        does not fit."""
        cls = self.reply_type if reply else self.request_type
        assert cls is not None, f"{self.method} has no reply"
        if self.codec is not None:
            return self.codec.from_proto(msg, cls)
        return generic.from_proto(msg, cls)

    @property
    def path(self) -> str:
        return f"/{self.service}/{self.method}"

    @property
    def one_way(self) -> bool:
        return self.reply_type is None


def routes_for(spec: ProtocolSpec, service: str, pb_module: ModuleType,
               codecs: dict[type[Any], WireCodec] | None = None) -> tuple[Route, ...]:
    """The route of every message in ``spec.messages``: the protobuf message of the same
    name in ``pb_module``, on method ``/<service>/<MessageName>``; ``codecs``: the codec
    of a request type whose messages (request and reply) the generic one cannot map."""
    routes = []
    for kind in spec.messages.kinds:
        if isinstance(kind, Rpc):
            routes.append(Route(service, kind.request.__name__, kind.request,
                                _pb(pb_module, kind.request), kind.reply,
                                _pb(pb_module, kind.reply),
                                (codecs or {}).get(kind.request)))
        elif isinstance(kind, OneWay):
            routes.append(Route(service, kind.message.__name__, kind.message,
                                _pb(pb_module, kind.message), None, common_pb2.Empty,
                                (codecs or {}).get(kind.message)))
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
