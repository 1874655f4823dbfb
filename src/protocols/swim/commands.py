"""What a client asks one SWIM node (the ``Membership`` service): read its view, change
its own entry of the replicated state, broadcast a user event, leave the group."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class SetMeta:
    """Set ``key`` to ``value`` in this node's metadata (an empty value removes it)."""

    key: str
    value: str


@dataclass(frozen=True, slots=True)
class Broadcast:
    """Broadcast a user event to every member through gossip."""

    name: str
    payload: bytes = b""


@dataclass(frozen=True, slots=True)
class Leave:
    """Leave the group gracefully: answered once the leave is disseminated."""


@dataclass(frozen=True, slots=True)
class MemberView:
    member: str
    state: State
    incarnation: int


@dataclass(frozen=True, slots=True)
class MembersView:
    """The answer to ``Members``: one node's opinion of the group."""

    members: tuple[MemberView, ...]
    meta: dict[str, str]  # "member/key" -> value
    counter: int
    events: tuple[UserEvent, ...]
    health: int
