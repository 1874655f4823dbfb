"""A request that is not its message gets INVALID_ARGUMENT, on every unary service a node
serves (Admin, Probe, the protocol's routes, Kv and the other client services).

gRPC decodes a request before any handler of ours runs. Bytes that are not the message
(a corrupt wire format, a string field that is not UTF-8) raise ``DecodeError`` in that
decoder, and grpc.aio answers UNKNOWN ("Unexpected <class DecodeError>"), which says
nothing useful to the caller. ``RefuseMalformed`` wraps the server the services register
on: each unary method's decoder hands back a ``Malformed`` marker instead of raising, and
its handler ends the call with INVALID_ARGUMENT naming the message and what is wrong,
before the servicer (and so the core) sees anything. Nothing changes, and the node stays
up. A request over gRPC's message size limit never reaches a decoder: gRPC refuses it
with RESOURCE_EXHAUSTED.

The cost on the hot path is one extra coroutine frame per call; registration-time
wrapping (not a server interceptor) keeps the lookup of a method free.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import grpc
import grpc.aio
from google.protobuf.message import DecodeError

__all__ = ["Malformed", "RefuseMalformed"]


class Malformed:
    """What a tolerant decoder returns for bytes that are not its message."""

    __slots__ = ("error", "message")

    def __init__(self, message: str, error: str) -> None:
        self.message = message
        self.error = error

    def __str__(self) -> str:
        return f"malformed {self.message}: {self.error}"


def _tolerant(decode: Callable[[bytes], Any]) -> Callable[[bytes], Any]:
    descriptor = getattr(getattr(decode, "__self__", None), "DESCRIPTOR", None)
    name = getattr(descriptor, "full_name", "request")

    def tolerant(data: bytes) -> Any:
        try:
            return decode(data)
        except DecodeError as e:  # "Error parsing message with type 'X': why" -> why
            why = str(e).rpartition("': ")[2] or "cannot be decoded"
            field = bad_utf8_field(descriptor, data) if descriptor is not None else None
            return Malformed(name, f"{field}: not UTF-8" if field else why)

    return tolerant


def bad_utf8_field(descriptor: Any, data: bytes, depth: int = 0) -> str | None:
    """The path (``links[1].peer``) of the first string field of ``data`` that is not
    UTF-8, walking the wire format with ``descriptor``; None if there is none or the
    bytes are not even well-formed (the decoder's own words say it then)."""
    counts: dict[str, int] = {}
    at = 0
    try:
        while at < len(data):
            tag, at = _varint(data, at)
            number, wire = tag >> 3, tag & 7
            if wire == 0:
                _, at = _varint(data, at)
                continue
            if wire in (1, 5):
                at += 8 if wire == 1 else 4
                continue
            if wire != 2:
                return None
            size, at = _varint(data, at)
            body, at = data[at:at + size], at + size
            field = descriptor.fields_by_number.get(number)
            if field is None:
                continue
            path: str = field.name
            if _repeated(field):
                counts[path] = counts.get(path, 0) + 1
                path = f"{path}[{counts[path] - 1}]"
            if field.type == field.TYPE_STRING:
                try:
                    body.decode("utf-8")
                except UnicodeDecodeError:
                    return path
            elif field.type == field.TYPE_MESSAGE and depth < 8:
                inner = bad_utf8_field(field.message_type, body, depth + 1)
                if inner is not None:
                    return f"{path}.{inner}"
    except IndexError:
        return None
    return None


def _repeated(field: Any) -> bool:
    is_repeated = getattr(field, "is_repeated", None)  # protobuf >= 5.28
    if is_repeated is not None:
        return bool(is_repeated)
    return bool(field.label == field.LABEL_REPEATED)


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]  # IndexError past the end: not well-formed
        at += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80 or shift > 63:
            return value, at
        shift += 7


def _guarded(behaviour: Callable[..., Any]) -> Callable[..., Any]:
    async def handle(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if type(request) is Malformed:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(request))
        result = behaviour(request, context)
        return await result if inspect.isawaitable(result) else result

    return handle


def refuse_malformed(handler: Any) -> Any:
    """``handler`` (a grpc.RpcMethodHandler) with a tolerant decoder and a guard; other
    kinds (request streams, no decoder) unchanged."""
    if (handler is None or handler.request_streaming or handler.response_streaming
            or handler.request_deserializer is None or handler.unary_unary is None):
        return handler
    return handler._replace(request_deserializer=_tolerant(handler.request_deserializer),
                            unary_unary=_guarded(handler.unary_unary))


class _Generic(grpc.GenericRpcHandler):  # type: ignore[misc]
    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.cache: dict[str, Any] = {}

    def service(self, handler_call_details: Any) -> Any:
        method = handler_call_details.method
        handler = self.cache.get(method)
        if handler is None:
            handler = refuse_malformed(self.inner.service(handler_call_details))
            if handler is not None:  # only methods that exist: the cache stays bounded
                self.cache[method] = handler
        return handler


class RefuseMalformed:
    """A grpc.aio.Server as the generated ``add_*Servicer_to_server`` functions see it:
    every unary method registered through it refuses malformed requests (see above).
    Everything else is the server's own."""

    def __init__(self, server: grpc.aio.Server) -> None:
        self.server = server

    def add_generic_rpc_handlers(self, handlers: Iterable[Any]) -> None:
        self.server.add_generic_rpc_handlers(tuple(_Generic(h) for h in handlers))

    def add_registered_method_handlers(self, service: str,
                                       handlers: Mapping[str, Any]) -> None:
        self.server.add_registered_method_handlers(
            service, {name: refuse_malformed(h) for name, h in handlers.items()})

    def __getattr__(self, name: str) -> Any:
        return getattr(self.server, name)
