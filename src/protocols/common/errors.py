"""One small error hierarchy, mapped to gRPC status codes in exactly one place.

Bad input (a malformed request, an unknown node, a bad config) raises a subclass of
``ProtocolError`` with a message a user can act on, and changes nothing. An
``AssertionError`` anywhere means a bug in this code, never bad input.

The mapping to gRPC lives in ``protocols.runtime.errors`` (``grpc_status_of``) so that
this module, which cores import, stays free of any IO library.
"""

from __future__ import annotations

__all__ = [
    "Aborted",
    "ConfigError",
    "CorruptLogError",
    "InvalidRequest",
    "NotLeader",
    "ProtocolError",
    "SessionExpired",
    "StorageError",
    "Timeout",
    "Unavailable",
    "Unimplemented",
    "UnknownNode",
]


class ProtocolError(Exception):
    """Base of every error this project raises on purpose.

    ``refused``: the server turned the request down before anything reached its log or
    state, so this attempt changed nothing (a client may report the operation as not
    done). False means the outcome of the attempt is unknown. It travels to clients
    structurally (the ``x-refused`` trailer), never as text to parse.
    """

    refused: bool = False


class ConfigError(ProtocolError):
    """A configuration is invalid: the message names the field and the fix."""

    refused = True


class UnknownNode(ConfigError):
    """A node id that is not a member of the cluster."""

    def __init__(self, node_id: str, known: list[str] | None = None) -> None:
        self.node_id = node_id
        self.known = sorted(known or [])
        hint = f"; members are {', '.join(self.known)}" if self.known else ""
        super().__init__(f"unknown node id {node_id!r}{hint}")


class InvalidRequest(ProtocolError):
    """A client or peer request that is malformed; nothing was changed."""

    refused = True


class Unimplemented(InvalidRequest):
    """The server does not serve the service or method called (a node of another protocol,
    or not one of ours): nothing was changed, and asking it again cannot help."""


class NotLeader(ProtocolError):
    """This node cannot serve the request; ``leader_hint`` names who might (or is None)."""

    refused = True

    def __init__(self, leader_hint: str | None = None, message: str | None = None) -> None:
        self.leader_hint = leader_hint
        super().__init__(message or f"not the leader (leader hint: {leader_hint or 'unknown'})")


class Unavailable(ProtocolError):
    """The operation could not be done now (no quorum, shutting down, peer unreachable).
    ``refused=True`` when the server turned it down before it reached the log (a
    membership change while another is in flight, a learner still catching up)."""

    def __init__(self, message: str = "", *, refused: bool = False) -> None:
        self.refused = refused
        super().__init__(message)


class SessionExpired(ProtocolError):
    """The client's session expired (or was never registered, Raft thesis §6.3): this
    attempt changed nothing, but earlier attempts of the same request may have."""

    refused = True


class Aborted(ProtocolError):
    """The transaction did not happen (a participant voted no, a vote never came): this
    attempt changed nothing, and the client may run it again as a new transaction."""

    refused = True


class Timeout(ProtocolError):
    """The deadline passed; the outcome of the operation is unknown (Jepsen's ``info``)."""


class StorageError(ProtocolError):
    """Durable storage failed or holds something we cannot use."""


class CorruptLogError(StorageError):
    """A log record in the middle of a write-ahead log failed its checksum.

    A torn *tail* (the last record half-written by a crash) is normal and is truncated on
    recovery; corruption *before* valid records is not, and we refuse to guess.
    """

    def __init__(self, path: str, offset: int, reason: str) -> None:
        self.path = path
        self.offset = offset
        self.reason = reason
        super().__init__(
            f"corrupt write-ahead log {path} at byte {offset}: {reason}; valid records follow "
            "it, so this is not a torn tail. Refusing to start: restore the file or remove the "
            "node's data dir to rejoin as a new member."
        )
