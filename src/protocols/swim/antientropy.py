"""Anti-entropy: now and then two members exchange everything they know, so what gossip
lost or never reached them is repaired (Demers et al., 1987: rumor mongering backed by
anti-entropy).

The exchange is Cassandra's three-way digest handshake carrying memberlist's push-pull:

1. ``DigestSyn``: my whole membership, and a digest (version, heartbeat) of each entry;
2. ``DigestAck``: your side merges my membership, then answers with its own, the
   entries newer there than my digests say, and the members whose entries it wants;
3. ``DigestAck2`` (one-way): I merge all that and send the entries you wanted.

A remote "dead" is merged only as a suspicion (memberlist's ``mergeRemoteState``): after
a partition each side declared the other dead, and the exchange must not kill members
we can still reach; they refute, and the partition heals by refutations.

Two schedules (``due``): a push-pull with a random live member every
``push_pull_interval_ms`` (slower past 32 members, memberlist's ``pushPullScale``; every
period in phi mode, where the exchange carries Cassandra's heartbeats), and one with a
random *dead* member every ``reconnect_interval_ms`` (serf's reconnect), which is how a
healed partition finds the other side again. The first of each falls anywhere in its
interval, so members do not exchange in step. A joiner's first exchange is with its seeds
(the core's join).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from protocols.swim.entries import ReplicatedState
from protocols.swim.messages import (
    DigestAck,
    DigestAck2,
    DigestSyn,
    MemberUpdate,
    State,
)
from protocols.swim.options import SwimOptions

if TYPE_CHECKING:
    from protocols.swim.core import Member

__all__ = ["AntiEntropy"]


class AntiEntropy:
    """One member's side of the exchanges.

    ``members``: the core's membership table (read here; changed only through
    ``apply``, the core's override rules of SWIM §4.2). ``ticks(ms)``: a duration in
    ticks. ``rng``: the core's own, so a seeded run stays one sequence of draws."""

    def __init__(self, node_id: str, options: SwimOptions, members: Mapping[str, Member],
                 replicated: ReplicatedState, apply: Callable[[MemberUpdate], None],
                 rng: random.Random, ticks: Callable[[float], int]) -> None:
        self.node_id = node_id
        self.options = options
        self.members = members
        self.replicated = replicated
        self.apply = apply
        self.rng = rng
        self.ticks = ticks
        self._full: tuple[MemberUpdate, ...] | None = None  # full_state(), cached
        self.next_push_pull_at = 0
        self.next_reconnect_at = 0

    # ---------------------------------------------------------------- when, with whom
    def start(self, live: int) -> None:
        """The first exchanges fall anywhere in their (scaled) interval."""
        o = self.options
        self.next_push_pull_at = self._jitter(
            round(o.push_pull_interval_ms * o.push_pull_scale(live)))
        self.next_reconnect_at = self._jitter(o.reconnect_interval_ms)

    def _jitter(self, ms: int) -> int:
        if ms <= 0:
            return 0
        return 1 + self.rng.randrange(self.ticks(ms))

    def due(self, now: int, live: int) -> list[State]:
        """The exchanges due at tick ``now``, each rescheduled, named by whom they are
        with: ``ALIVE`` (a push-pull with a live member), ``DEAD`` (a reconnect)."""
        o = self.options
        due = []
        if o.push_pull_interval_ms and now >= self.next_push_pull_at:
            interval = o.push_pull_interval_ms * o.push_pull_scale(live)
            if o.detector == "phi":  # Cassandra gossips its heartbeats every period
                interval = o.probe_interval_ms
            self.next_push_pull_at = now + self.ticks(interval)
            due.append(State.ALIVE)
        if o.reconnect_interval_ms and now >= self.next_reconnect_at:
            self.next_reconnect_at = now + self.ticks(o.reconnect_interval_ms)
            due.append(State.DEAD)  # serf's reconnect: heals partitions
        return due

    def partner(self, among: State, others_live: list[str]) -> str | None:
        """A random live member (``others_live``, sorted), or a random dead one."""
        candidates = others_live if among == State.ALIVE else sorted(
            n for n, m in self.members.items() if m.state == State.DEAD)
        return self.rng.choice(candidates) if candidates else None

    # ---------------------------------------------------------------- the three steps
    def syn(self) -> DigestSyn:
        """Step 1 (in phi mode it carries one more heartbeat of ours)."""
        if self.options.detector == "phi":
            self.replicated.beat()
        return DigestSyn(self.full_state(), self.replicated.digests())

    def on_syn(self, syn: DigestSyn) -> DigestAck:
        """Step 2: merge the sender's membership; answer with ours, the entries it
        lacks and the members whose entries we want."""
        self.merge_full_state(syn.members)
        send, wanted = self.replicated.compare(syn.digests)
        return DigestAck(self.full_state(), send, wanted)

    def on_ack(self, ack: DigestAck) -> DigestAck2 | None:
        """Step 3: merge the other side's membership and entries; the entries it
        wanted, if we hold any."""
        self.merge_full_state(ack.members)
        for e in ack.entries:
            self.replicated.merge(e)
        entries = self.replicated.entries
        wanted = tuple(entries[n] for n in ack.wanted if n in entries)
        return DigestAck2(wanted) if wanted else None

    def on_ack2(self, ack2: DigestAck2) -> None:
        for e in ack2.entries:
            self.replicated.merge(e)

    # ---------------------------------------------------------------- the full state
    def full_state(self) -> tuple[MemberUpdate, ...]:
        """Every member we know, as one update each; cached until ``changed()``."""
        if self._full is None:
            self._full = tuple(m.summary or self._summary(n, m)
                               for n, m in self.members.items())
        return self._full

    def changed(self) -> None:
        """The membership changed: drop the cached full state."""
        self._full = None

    def _summary(self, name: str, m: Member) -> MemberUpdate:
        """``m`` as a full state lists it (kept in ``m`` until it changes)."""
        m.summary = MemberUpdate(name, m.state, m.incarnation, self.node_id,
                                 m.address if m.state == State.ALIVE else "")
        return m.summary

    def merge_full_state(self, members: Iterable[MemberUpdate]) -> None:
        """memberlist's mergeRemoteState: a remote "dead" is only a suspicion here (we
        may know better), so a healed partition is settled by refutations, not deaths."""
        for u in members:
            cur = self.members.get(u.member)
            if cur is not None and cur.state == u.state and cur.incarnation == u.incarnation:
                continue  # nothing new: the common case, made cheap
            if u.state == State.DEAD:
                u = replace(u, state=State.SUSPECT)
            self.apply(u)
