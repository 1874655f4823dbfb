"""Dynamo's messages between nodes (DeCandia et al., "Dynamo: Amazon's Highly Available
Key-value Store", SOSP 2007, §4.5 "Execution of get () and put () operations", §4.6
"Handling Failures: Hinted Handoff").

A coordinator sends a key's new version to the replicas of its preference list
(``ReplicaPut`` -> ``ReplicaPutAck``) and asks them for their versions
(``ReplicaGet`` -> ``ReplicaGetReply``); a node that is not among a key's top N
replicas forwards the client's request to one that is (``Forward`` -> ``Forwarded``,
§4.5: "the request is forwarded to the first among the top N nodes in the preference
list"). Two replicas compare their anti-entropy trees level by level (``AaeAsk`` ->
``AaeAnswer``, §4.7). SWIM's own messages (``protocols.swim.messages``) travel beside
these. A key's state (its siblings and their clock) travels encoded by
``protocols.vkv.state``: the same sibling store, on the wire and on disk.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["AaeAnswer", "AaeAsk", "AaeSegment", "Forward", "Forwarded", "ReplicaGet",
           "ReplicaGetReply", "ReplicaPut", "ReplicaPutAck"]


@dataclass(frozen=True, slots=True)
class ReplicaPut:
    """The coordinator's version of ``key`` (encoded siblings and clock); the replica
    syncs it into what it holds and acknowledges once that is durable. ``hint`` names
    the node this replica was meant for when the receiver is a stand-in (§4.6): the
    receiver keeps it apart, in its hinted store, not among its own keys; "" for an
    owner of the key."""

    key: str
    state: bytes
    hint: str = ""
    op: int = 0  # the coordinator's number for the request this serves


@dataclass(frozen=True, slots=True)
class ReplicaPutAck:
    """The replica has ``key``'s version durably (synced with what it held)."""

    key: str


@dataclass(frozen=True, slots=True)
class ReplicaGet:
    """Ask a replica for its version of ``key``."""

    key: str
    op: int = 0


@dataclass(frozen=True, slots=True)
class ReplicaGetReply:
    """The replica's version of ``key`` (its own and any hinted one, synced); empty
    bytes for a key it never held."""

    key: str
    state: bytes


@dataclass(frozen=True, slots=True)
class Forward:
    """A client's request, handed to an owner of the key to coordinate: ``kind`` is
    "put" (``value`` over ``context``, ``w`` acks) or "get" (``r`` replies); 0 takes the
    coordinator's default."""

    kind: str
    key: str
    value: str = ""
    context: Mapping[str, int] = field(default_factory=dict)
    r: int = 0
    w: int = 0
    op: int = 0

    def __post_init__(self) -> None:
        if self.kind not in ("put", "get"):
            raise ValueError(f"kind must be put or get, got {self.kind!r}")


@dataclass(frozen=True, slots=True)
class Forwarded:
    """The coordinator's answer to a forwarded request: the key's siblings and context
    (``ok``), or why not: ``refused`` when nothing happened (bad input), else the
    outcome is unknown (``Unavailable``)."""

    ok: bool
    values: tuple[str, ...] = ()
    context: Mapping[str, int] = field(default_factory=dict)
    error: str = ""
    refused: bool = False


@dataclass(frozen=True, slots=True)
class AaeSegment:
    """The (key, item hash) pairs of one segment of an anti-entropy tree."""

    items: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AaeAsk:
    """Anti-entropy (§4.7, ``aae.py``): "send me your hashes of these nodes of the tree
    you keep for the keys we share", or with ``keys`` (at the segment level) "the items
    of these segments"."""

    level: int
    indices: tuple[int, ...] = ()
    keys: bool = False


@dataclass(frozen=True, slots=True)
class AaeAnswer:
    """The hashes (node -> hash) or the items (segment -> its items) asked for."""

    hashes: Mapping[int, int] = field(default_factory=dict)
    items: Mapping[int, AaeSegment] = field(default_factory=dict)
