"""Message-level faults: the transport's hook for an "unreliable network".

Toxiproxy works on TCP connections; gRPC multiplexes every RPC between two nodes over one
HTTP/2 connection, so a proxy cannot drop *one* message. The sender's transport can: for
each RPC on the directed link ``self -> peer`` it draws, from a seeded RNG of that link,
whether to drop the request, drop the reply, duplicate the request, delay it, or delay it
more so later messages overtake it (reorder). This is the fault model of MIT 6.5840's
labrpc ("unreliable": requests and replies dropped, delays, long reordering).

Each directed link has its own ``random.Random`` seeded from (seed, self, peer), so the
faults on one link do not depend on the traffic on another.

A message delayed to or past its deadline is lost: its sender has stopped waiting, and
the transport never delivers a frame late (on the stream; a unary call is sent anyway).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, replace

from protocols.common.errors import InvalidRequest
from protocols.common.ids import NodeId

__all__ = ["FaultDecision", "LinkFaults", "MessageFaults"]

ALL_PEERS = "*"


@dataclass(frozen=True, slots=True)
class LinkFaults:
    """Fault rates for RPCs sent to ``peer`` ("*" = every peer), of one message type
    (``message``, the route's name, e.g. "AppendEntries"; "" = every message): a
    message hook. Rates are in [0, 1]. A message takes the rule of its type on its link
    if there is one, else its link's, else the one for every peer."""

    peer: str = ALL_PEERS
    drop_rate: float = 0.0
    drop_reply_rate: float = 0.0
    duplicate_rate: float = 0.0
    delay_min_ms: int = 0
    delay_max_ms: int = 0
    reorder_rate: float = 0.0
    reorder_delay_ms: int = 0
    message: str = ""

    def validated(self) -> LinkFaults:
        """Return self, or raise InvalidRequest saying which field is out of range."""
        for name in ("drop_rate", "drop_reply_rate", "duplicate_rate", "reorder_rate"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise InvalidRequest(
                    f"link faults for {self.peer}: {name}={value} is not in [0, 1]"
                )
        if self.delay_min_ms < 0 or self.delay_max_ms < self.delay_min_ms:
            raise InvalidRequest(
                f"link faults for {self.peer}: need 0 <= delay_min_ms <= delay_max_ms, got "
                f"{self.delay_min_ms}..{self.delay_max_ms}"
            )
        if self.reorder_delay_ms < 0:
            raise InvalidRequest(f"link faults for {self.peer}: reorder_delay_ms < 0")
        if self.message and not self.message.isidentifier():
            raise InvalidRequest(f"link faults for {self.peer}: message {self.message!r} is "
                                 "not a message name (e.g. AppendEntries)")
        return self

    @property
    def key(self) -> tuple[str, str]:
        return (self.peer, self.message)

    @property
    def is_clean(self) -> bool:
        return self == replace(LinkFaults(), peer=self.peer, message=self.message)


@dataclass(frozen=True, slots=True)
class FaultDecision:
    """What to do with one RPC."""

    drop: bool = False
    drop_reply: bool = False
    duplicate: bool = False
    delay_s: float = 0.0


_NO_FAULT = FaultDecision()


class MessageFaults:
    """The fault table of one node: per directed peer, with a seeded RNG per link."""

    def __init__(self, node_id: NodeId, seed: int = 0) -> None:
        self._node_id = node_id
        self._seed = seed
        self._links: dict[tuple[str, str], LinkFaults] = {}  # (peer, message) -> rates
        self._rngs: dict[tuple[str, str], random.Random] = {}

    def set(self, links: Iterable[LinkFaults], seed: int | None = None) -> list[LinkFaults]:
        """Replace every fault (validated first, so a bad entry changes nothing)."""
        checked = [link.validated() for link in links]
        if seed is not None:
            self._seed = seed
        self._links = {link.key: link for link in checked if not link.is_clean}
        self._rngs = {}
        return self.current()

    def current(self) -> list[LinkFaults]:
        return [self._links[k] for k in sorted(self._links)]

    def decide(self, peer: NodeId, message: str = "") -> FaultDecision:
        """Draw the fate of one RPC (of route ``message``) to ``peer``."""
        if not self._links:
            return _NO_FAULT
        link = None
        for key in ((peer, message), (ALL_PEERS, message), (peer, ""), (ALL_PEERS, "")):
            if message or not key[1]:
                link = self._links.get(key)
                if link is not None:
                    break
        if link is None:
            return _NO_FAULT
        stream = (peer, link.message)  # a stream per peer and hook: one never shifts another
        rng = self._rngs.get(stream)
        if rng is None:
            name = peer if not link.message else f"{peer}/{link.message}"
            rng = self._rngs[stream] = random.Random(f"{self._seed}/{self._node_id}->{name}")
        delay_ms = rng.uniform(link.delay_min_ms, link.delay_max_ms) if link.delay_max_ms else 0.0
        if link.reorder_rate and rng.random() < link.reorder_rate:
            delay_ms += link.reorder_delay_ms
        return FaultDecision(
            drop=rng.random() < link.drop_rate,
            drop_reply=rng.random() < link.drop_reply_rate,
            duplicate=rng.random() < link.duplicate_rate,
            delay_s=delay_ms / 1000.0,
        )
