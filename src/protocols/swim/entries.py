"""What SWIM replicates besides membership: one *entry* per member (its metadata and its
share of a PN-counter) and *user events* (serf's), spread by the same gossip.

An entry is written only by its member, each write a new ``version``; a copy with a
newer ``stamp`` (version, then heartbeat) replaces an older one everywhere, so every
member converges on each member's latest entry (a last-writer-wins register per member,
with one writer). The counter is a PN-counter (Shapiro et al., 2011): each member counts
its own increments ``p`` and decrements ``n``; the total is the sum of every share, the
shares of dead and departed members included, because their increments happened.

A user event is numbered by its origin and delivered once per member however often it
arrives (gossip repeats and reorders); what was seen is kept as a prefix plus the few
numbers beyond it, so memory stays bounded by what is still in flight.

Rumors (what came piggybacked) are passed on through the core's dissemination (its
``BroadcastQueue``); what anti-entropy brings is not: anti-entropy spreads it
(``antientropy.py``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from protocols.swim.messages import Digest, Entry, UserEvent

__all__ = ["RECENT_EVENTS", "ReplicatedState"]

RECENT_EVENTS = 100  # user events kept for Members (all are delivered once)


@dataclass(slots=True)
class _Seen:
    """User events seen from one origin: every seq up to ``prefix``, and the few beyond
    (events arrive out of order), so memory stays bounded by what is still in flight."""

    prefix: int = 0
    beyond: set[int] = field(default_factory=set)

    def add(self, seq: int) -> bool:
        """True if ``seq`` is new."""
        if seq <= self.prefix or seq in self.beyond:
            return False
        self.beyond.add(seq)
        while self.prefix + 1 in self.beyond:
            self.prefix += 1
            self.beyond.discard(self.prefix)
        return True


class ReplicatedState:
    """This member's copy of every entry and the events it delivered.

    ``pass_on(key, item)``: gossip ``item`` as the news about ``key`` (the core queues it
    for piggybacking, SWIM §4.1). ``heard_heartbeat(member)``: a member's entry came with
    a newer heartbeat (the phi-accrual detector counts its arrivals)."""

    def __init__(self, node_id: str, entry: Entry, event_seq: int,
                 pass_on: Callable[[Hashable, Any], None],
                 heard_heartbeat: Callable[[str], None]) -> None:
        self.node_id = node_id
        self.entry = entry  # our own, written only here
        self.entries: dict[str, Entry] = {node_id: entry}
        self.event_seq = event_seq  # the last user event we numbered
        self.seen_events: dict[str, _Seen] = {}  # per origin: a prefix and what is beyond
        self.delivered: deque[UserEvent] = deque(maxlen=RECENT_EVENTS)
        self.pass_on = pass_on
        self.heard_heartbeat = heard_heartbeat

    # ---------------------------------------------------------------- our own writes
    def write(self, **changes: Any) -> None:
        """A new version of our entry (the caller makes it durable before answering),
        passed on as a rumor."""
        self.entry = replace(self.entry, version=self.entry.version + 1, **changes)
        self.entries[self.node_id] = self.entry
        self.pass_on(("entry", self.node_id), self.entry)

    def beat(self) -> None:
        """One more heartbeat in our entry (phi mode: Cassandra gossips one a period)."""
        self.entry = replace(self.entry, heartbeat=self.entry.heartbeat + 1)
        self.entries[self.node_id] = self.entry

    def new_event(self, name: str, payload: bytes) -> UserEvent:
        """Our next user event, numbered after the last one (the caller makes the number
        durable before the event leaves, then delivers it)."""
        self.event_seq += 1
        return UserEvent(self.node_id, self.event_seq, name, payload)

    # ---------------------------------------------------------------- what others wrote
    def merge(self, e: Entry, rumor: bool = False) -> None:
        """A newer copy of a member's entry replaces ours. Only a *rumor* (piggybacked)
        is passed on: what anti-entropy brings, anti-entropy spreads."""
        if e.member == self.node_id:
            return  # our own entry is ours alone to write
        cur = self.entries.get(e.member)
        if cur is not None and cur.stamp >= e.stamp:
            return
        if (cur is not None and e.heartbeat > cur.heartbeat) or (cur is None and e.heartbeat):
            self.heard_heartbeat(e.member)
        self.entries[e.member] = e
        if rumor and (cur is None or e.version > cur.version):  # not heartbeats alone
            self.pass_on(("entry", e.member), e)

    def deliver(self, ev: UserEvent) -> None:
        """A user event, delivered (and passed on) the first time it arrives only."""
        key = (ev.origin, ev.seq)
        seen = self.seen_events.setdefault(ev.origin, _Seen())
        if not seen.add(ev.seq):
            return
        self.delivered.append(ev)
        self.pass_on(("event", *key), ev)

    # ---------------------------------------------------------------- anti-entropy's view
    def digests(self) -> tuple[Digest, ...]:
        """Which version (and heartbeat) of each entry we hold."""
        return tuple(Digest(e.member, e.version, e.heartbeat) for e in self.entries.values())

    def compare(self, digests: Iterable[Digest]) -> tuple[tuple[Entry, ...], tuple[str, ...]]:
        """Against another member's digests: the entries newer here (to send it) and the
        members whose entries are newer there (to ask it for)."""
        digests = tuple(digests)
        theirs = {d.member: (d.version, d.heartbeat) for d in digests}
        send = tuple(e for n, e in self.entries.items() if theirs.get(n, (-1, -1)) < e.stamp)
        wanted = tuple(d.member for d in digests if d.member != self.node_id
                       and (d.member not in self.entries
                            or self.entries[d.member].stamp < (d.version, d.heartbeat)))
        return send, wanted

    # ---------------------------------------------------------------- reading
    def counter(self) -> int:
        """The PN-counter's total: the sum of every member's increments minus decrements
        (entries of dead and departed members still count: their increments happened)."""
        return sum(e.p - e.n for e in self.entries.values())

    def metadata(self) -> dict[str, str]:
        """Every member's metadata, as ``member/key``: value."""
        return {f"{e.member}/{k}": v
                for e in sorted(self.entries.values(), key=lambda e: e.member)
                for k, v in e.meta.items()}
