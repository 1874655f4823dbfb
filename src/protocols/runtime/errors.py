"""The single mapping from our error hierarchy to gRPC status codes, and back.

Servicers raise ``ProtocolError`` subclasses; ``abort_with`` turns them into a status the
client can act on. Clients turn a status back into the same exception with ``error_of``.
A ``NotLeader`` carries its leader hint in the trailing metadata ``x-leader-hint``; an
error the server raised before anything reached its log carries ``x-refused: 1``, so a
client knows the attempt changed nothing without reading the message. A status without
that trailer (a connection reset, a deadline, another server) leaves the outcome unknown.
"""

from __future__ import annotations

import grpc
import grpc.aio

from protocols.common.errors import (
    Aborted,
    ConfigError,
    InvalidRequest,
    NotLeader,
    ProtocolError,
    SessionExpired,
    StorageError,
    Timeout,
    Unavailable,
    Unimplemented,
    UnknownNode,
)

__all__ = ["ABORTED_KEY", "LEADER_HINT_KEY", "REFUSED_KEY", "abort_with", "error_of",
           "grpc_status_of"]

LEADER_HINT_KEY = "x-leader-hint"
REFUSED_KEY = "x-refused"
ABORTED_KEY = "x-aborted"  # ABORTED for a transaction that did not happen, not a session

_STATUS: list[tuple[type[ProtocolError], grpc.StatusCode]] = [
    (NotLeader, grpc.StatusCode.FAILED_PRECONDITION),
    (SessionExpired, grpc.StatusCode.ABORTED),
    (Aborted, grpc.StatusCode.ABORTED),
    (UnknownNode, grpc.StatusCode.NOT_FOUND),
    (Unimplemented, grpc.StatusCode.UNIMPLEMENTED),
    (InvalidRequest, grpc.StatusCode.INVALID_ARGUMENT),
    (ConfigError, grpc.StatusCode.INVALID_ARGUMENT),
    (Timeout, grpc.StatusCode.DEADLINE_EXCEEDED),
    (Unavailable, grpc.StatusCode.UNAVAILABLE),
    (StorageError, grpc.StatusCode.DATA_LOSS),
]


def grpc_status_of(error: BaseException) -> grpc.StatusCode:
    for cls, code in _STATUS:
        if isinstance(error, cls):
            return code
    return grpc.StatusCode.INTERNAL


async def abort_with(context: grpc.aio.ServicerContext, error: ProtocolError) -> None:
    """End the RPC with the status of ``error`` (never returns)."""
    trailers: list[tuple[str, str]] = []
    if isinstance(error, NotLeader):
        trailers.append((LEADER_HINT_KEY, error.leader_hint or ""))
    if error.refused:
        trailers.append((REFUSED_KEY, "1"))
    if isinstance(error, Aborted):
        trailers.append((ABORTED_KEY, "1"))
    context.set_trailing_metadata(tuple(trailers))
    await context.abort(grpc_status_of(error), str(error))


def error_of(e: grpc.aio.AioRpcError) -> ProtocolError:
    """The exception a client should raise for a failed RPC."""
    code = e.code()
    details = e.details() or code.name
    trailers = {k: str(v) for k, v in (e.trailing_metadata() or ())}
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        return NotLeader(trailers.get(LEADER_HINT_KEY) or None, details)
    if code == grpc.StatusCode.NOT_FOUND:
        return UnknownNode(details)
    if code == grpc.StatusCode.INVALID_ARGUMENT:
        return InvalidRequest(details)
    if code == grpc.StatusCode.UNIMPLEMENTED:  # another protocol's node: retrying is vain
        return Unimplemented(details)
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return Timeout(details)
    if code == grpc.StatusCode.DATA_LOSS:
        return StorageError(details)
    if code == grpc.StatusCode.ABORTED:
        if trailers.get(ABORTED_KEY) == "1":
            return Aborted(details)
        return SessionExpired(details)
    return Unavailable(f"{code.name}: {details}", refused=trailers.get(REFUSED_KEY) == "1")
