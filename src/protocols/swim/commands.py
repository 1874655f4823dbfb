"""What a client asks one SWIM node (the ``Membership`` service): read its view, change
its own entry of the replicated state, broadcast a user event, leave the group."""

from __future__ import annotations

from dataclasses import dataclass

from protocols.common.errors import InvalidRequest
from protocols.swim.messages import State, UserEvent

__all__ = ["Broadcast", "Incr", "Leave", "MemberView", "Members", "MembersView", "SetMeta"]

MAX_META_BYTES = 1024
MAX_EVENT_BYTES = 64 * 1024
MAX_DELTA = 2**40  # one increment; each member's share stays within messages.MAX_COUNT


@dataclass(frozen=True, slots=True)
class Members:
    """Read this node's membership view (answered locally, at once)."""


@dataclass(frozen=True, slots=True)
class Incr:
    """Add ``delta`` (may be negative) to the PN-counter, in this node's own entry."""

    delta: int

    def __post_init__(self) -> None:
        if isinstance(self.delta, bool) or not isinstance(self.delta, int) \
                or self.delta == 0 or abs(self.delta) > MAX_DELTA:
            raise InvalidRequest(f"delta: must be a non-zero integer of magnitude at most "
                                 f"2**40, got {self.delta!r}")


@dataclass(frozen=True, slots=True)
class SetMeta:
    """Set ``key`` to ``value`` in this node's metadata (an empty value removes it)."""

    key: str
    value: str

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key:
            raise InvalidRequest("key: must be a non-empty string")
        if not isinstance(self.value, str):
            raise InvalidRequest("value: must be a string")
        size = len(self.key.encode()) + len(self.value.encode())
        if size > MAX_META_BYTES:
            raise InvalidRequest(f"key, value: {size} bytes together; the limit is "
                                 f"{MAX_META_BYTES}")


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Broadcast a user event to every member through gossip."""

    name: str
    payload: bytes = b""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise InvalidRequest("name: an event needs a non-empty name")
        if not isinstance(self.payload, bytes):
            raise InvalidRequest("payload: must be bytes")
        size = len(self.name.encode()) + len(self.payload)
        if size > MAX_EVENT_BYTES:
            raise InvalidRequest(f"name, payload: {size} bytes together; the limit is "
                                 f"{MAX_EVENT_BYTES}")


@dataclass(frozen=True, slots=True)
class Leave:
    """Leave the group gracefully: answered once the leave is disseminated."""


@dataclass(frozen=True, slots=True)
class MemberView:
    member: str
    state: State
    incarnation: int
    address: str = ""  # where this node believes it listens


@dataclass(frozen=True, slots=True)
class MembersView:
    """The answer to ``Members``: one node's opinion of the group."""

    members: tuple[MemberView, ...]
    meta: dict[str, str]  # "member/key" -> value
    counter: int
    events: tuple[UserEvent, ...]
    health: int
