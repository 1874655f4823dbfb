"""SWIM's messages, named as in the paper (Das, Gupta, Motivala, "SWIM: Scalable
Weakly-consistent Infection-style Process Group Membership Protocol", DSN 2002; course
chapter on gossip and failure detection), with Lifeguard's nack (Dadgar et al. 2018,
§IV-A) and Cassandra's anti-entropy exchange (SYN, ACK, ACK2). Each travels as the
protobuf message of the same name (protos/swim.proto).

*Membership* travels as ``MemberUpdate``s — the paper's Alive, Suspect and Confirm
messages (Confirm is ``DEAD`` here, as in memberlist) plus ``LEFT`` for a graceful leave —
piggybacked on pings and acks (§4.1 "infection-style dissemination"). An Alive carries
the member's address, as memberlist's ``alive`` does: that is how a member nobody was
configured with joins, and how one that moved is found again.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = [
    "Ack",
    "Digest",
    "DigestAck",
    "DigestAck2",
    "DigestSyn",
    "Entry",
    "Gossip",
    "MemberUpdate",
    "Ping",
    "PingReq",
    "PingReqReply",
    "Rumor",
    "State",
    "UserEvent",
    "wire_size",
]


# Bounds a peer's numbers must respect: far beyond any real run, and far enough below the
# wire's 64 bits that refuting (+1) and summing the PN-counter can never overflow it.
MAX_INCARNATION = 2**62
MAX_COUNT = 2**53
MAX_ADDRESS = 255  # "host:port", as a member advertises it
MAX_KEYS = 64  # metadata keys of one entry


class State(enum.IntEnum):
    """What one node believes about a member (SWIM §4.2)."""

    ALIVE = 0
    SUSPECT = 1
    DEAD = 2  # the paper's "Confirm": declared failed
    LEFT = 3  # left gracefully: never probed again at this incarnation

    def __str__(self) -> str:
        return self.name.lower()


@dataclass(frozen=True, slots=True)
class MemberUpdate:
    """SWIM §4.2: ``{Alive | Suspect | Confirm} member, incarnation``. ``source`` is the
    node that suspects or confirms (Lifeguard §IV-B counts independent suspicions);
    ``address`` is where an Alive member listens ("" on the others, as in memberlist)."""

    member: str
    state: State
    incarnation: int
    source: str = ""
    address: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.incarnation <= MAX_INCARNATION:
            raise ValueError(f"incarnation {self.incarnation} out of range")
        if len(self.address) > MAX_ADDRESS:
            raise ValueError(f"address of {self.member} longer than {MAX_ADDRESS}")


@dataclass(frozen=True, slots=True)
class Entry:
    """A member's own slice of the replicated state. Only ``member`` writes it; a copy
    with a higher ``(version, heartbeat)`` replaces an older one, so every node converges
    to the newest copy of every entry (a state-based CRDT: each entry is a register
    owned by one writer; the PN-counter is the sum of every entry's ``p - n``)."""

    member: str
    version: int
    heartbeat: int = 0
    meta: Mapping[str, str] = field(default_factory=dict)
    p: int = 0
    n: int = 0

    def __post_init__(self) -> None:
        if not (0 <= self.version <= MAX_COUNT and 0 <= self.heartbeat <= MAX_COUNT
                and 0 <= self.p <= MAX_COUNT and 0 <= self.n <= MAX_COUNT):
            raise ValueError(f"entry of {self.member}: counters must be in 0..2**53")
        if len(self.meta) > MAX_KEYS or any(len(k) + len(v) > 1024
                                            for k, v in self.meta.items()):
            raise ValueError(f"entry of {self.member}: metadata too large")

    @property
    def stamp(self) -> tuple[int, int]:
        return (self.version, self.heartbeat)


@dataclass(frozen=True, slots=True)
class UserEvent:
    """A user event: ``(origin, seq)`` names it; every node delivers it once."""

    origin: str
    seq: int
    name: str
    payload: bytes = b""


@dataclass(frozen=True, slots=True)
class Gossip:
    """What a ping, an ack or a ping-req carries besides itself (SWIM §4.1)."""

    members: tuple[MemberUpdate, ...] = ()
    entries: tuple[Entry, ...] = ()
    events: tuple[UserEvent, ...] = ()

    def __len__(self) -> int:
        return len(self.members) + len(self.entries) + len(self.events)


NO_GOSSIP = Gossip()


@dataclass(frozen=True, slots=True)
class Ping:
    """SWIM §3.1: a direct probe of ``target``; answered by an ``Ack`` with the same seq.
    ``target`` names who the sender means, so a ping that reaches the wrong process (an
    address reused after a restart) is dropped instead of acked."""

    seq: int
    target: str
    gossip: Gossip = NO_GOSSIP


@dataclass(frozen=True, slots=True)
class Ack:
    seq: int
    gossip: Gossip = NO_GOSSIP


@dataclass(frozen=True, slots=True)
class PingReq:
    """SWIM §3.1: "ping ``target`` for me": sent to k members when the direct ack is late.
    ``want_nack``: Lifeguard §IV-A, answer ``acked=False`` if the target stays silent, so
    the prober learns the fault is not its own. ``address``: where the prober believes
    the target listens (memberlist's ``indirectPingReq`` carries it), so a helper that
    has not heard of the target yet can still ping it."""

    seq: int
    target: str
    want_nack: bool = False
    gossip: Gossip = NO_GOSSIP
    address: str = ""

    def __post_init__(self) -> None:
        if len(self.address) > MAX_ADDRESS:
            raise ValueError(f"address of {self.target} longer than {MAX_ADDRESS}")


@dataclass(frozen=True, slots=True)
class PingReqReply:
    seq: int
    acked: bool
    gossip: Gossip = NO_GOSSIP


@dataclass(frozen=True, slots=True)
class Rumor:
    """memberlist's gossip step (one-way): pending updates sent to a few random members
    every gossip interval, *only* while there are some, so a node whose probing slowed
    down (Lifeguard) still spreads its news, and a quiet group sends nothing extra."""

    gossip: Gossip


@dataclass(frozen=True, slots=True)
class Digest:
    """Cassandra's gossip digest: the newest copy of ``member``'s entry the sender has."""

    member: str
    version: int
    heartbeat: int = 0


@dataclass(frozen=True, slots=True)
class DigestSyn:
    """Anti-entropy, step 1 (Cassandra's GossipDigestSyn): my digests, and my membership
    in full (memberlist's push-pull)."""

    members: tuple[MemberUpdate, ...]
    digests: tuple[Digest, ...]


@dataclass(frozen=True, slots=True)
class DigestAck:
    """Step 2: the entries you lack, the members whose entries I want, my membership."""

    members: tuple[MemberUpdate, ...]
    entries: tuple[Entry, ...]
    wanted: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DigestAck2:
    """Step 3 (one-way): the entries you wanted."""

    entries: tuple[Entry, ...]


# ====================================================================== sizes
def _varint(n: int) -> int:
    return max(1, (n.bit_length() + 6) // 7)


def _text(s: str | bytes) -> int:
    """A length-delimited protobuf field: tag, length, bytes (ASCII assumed for str)."""
    return 2 + len(s)


def wire_size(item: MemberUpdate | Entry | UserEvent) -> int:
    """About the bytes ``item`` takes inside an encoded ``Gossip`` (protobuf's framing,
    estimated): what the piggyback budget counts (memberlist counts encoded bytes)."""
    match item:
        case MemberUpdate():
            return (2 + _text(item.member) + 2 + 1 + _varint(item.incarnation)
                    + _text(item.source) + _text(item.address))
        case Entry():
            return (2 + _text(item.member) + 4 + sum(_varint(v) for v in (
                item.version, item.heartbeat, item.p, item.n))
                + sum(4 + len(k) + len(v) for k, v in item.meta.items()))
        case UserEvent():
            return (2 + _text(item.origin) + 1 + _varint(item.seq) + _text(item.name)
                    + _text(item.payload))
    raise TypeError(f"no wire size for {type(item).__name__}")
