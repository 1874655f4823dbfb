"""One SWIM member, sans-IO (Das, Gupta, Motivala, DSN 2002; course chapter on gossip).

Read in the paper's order:

* §3.1 **failure detection**: every protocol period a member pings the next member of
  a shuffled round-robin list (§4.3); if no ack comes within the probe timeout it asks
  k others to ping the target for it (``PingReq``); no ack by the end of the period and
  the target is *suspected*.
* §4.2 **suspicion**: a suspect is not dead yet. Updates carry incarnation numbers that
  only their member may raise; a member that hears it is suspected *refutes* with a
  higher incarnation; a suspicion that stands for the suspicion timeout is *confirmed*
  (declared dead).
* §4.1 **dissemination**: membership updates ride on pings and acks, each a limited
  number of times (``dissemination.BroadcastQueue``).
* Lifeguard (``lifeguard.py``): local health awareness, suspicion timeouts that shrink
  with independent confirmations, nacks from ping-req helpers, the buddy system.
* Around it, what a usable membership needs: joining by address (a member's address
  travels in its Alive update, as in memberlist: a member started with nothing but a
  seed's address joins, one that comes back at another address is found there, and the
  dead are forgotten after ``reap_ms``), graceful leave, anti-entropy
  (``antientropy.py``: Cassandra's digest SYN/ACK/ACK2 plus memberlist's full-state
  push-pull) with reconnects to dead members so a healed partition converges, a small
  replicated state and user events (``entries.py``: each member's metadata and its share
  of a PN-counter), and a phi-accrual detector (``phi.py``, Cassandra's) as an
  alternative suspicion source.

Times are counted in ticks. Only a member's own incarnation, entry version and event
sequence are durable (``SelfRecord``): the rest is soft state relearned from the group.
"""

from __future__ import annotations

import bisect
import math
import random
from collections import deque
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from protocols.common.errors import InvalidRequest
from protocols.common.ids import NodeId
from protocols.contract import (
    Answer,
    Core,
    Deferred,
    Envelope,
    NodeStatus,
    Ready,
    Reply,
)
from protocols.swim.antientropy import AntiEntropy
from protocols.swim.commands import (
    Broadcast,
    Incr,
    Leave,
    Members,
    MembersView,
    MemberView,
    SetMeta,
)
from protocols.swim.dissemination import BroadcastQueue
from protocols.swim.entries import ReplicatedState
from protocols.swim.lifeguard import Awareness, Suspicion
from protocols.swim.messages import (
    MAX_COUNT,
    MAX_KEYS,
    Ack,
    DigestAck,
    DigestAck2,
    DigestSyn,
    Entry,
    Gossip,
    MemberUpdate,
    Ping,
    PingReq,
    PingReqReply,
    Rumor,
    State,
    UserEvent,
    wire_size,
)
from protocols.swim.options import SwimOptions
from protocols.swim.phi import PhiDetectors

__all__ = ["Member", "SelfRecord", "SwimCore"]

_LIVE = {State.ALIVE: 1, State.SUSPECT: 1, State.DEAD: 0, State.LEFT: 0}


@dataclass(frozen=True, slots=True)
class SelfRecord:
    """What a member must not forget across a restart: its incarnation (so it can always
    out-bid what the group last heard of it), its entry (so its PN-counter share and
    metadata survive) and its event sequence (so new events are not taken as old)."""

    incarnation: int
    entry: Entry
    event_seq: int


@dataclass(slots=True)
class Member:
    """This node's opinion of one member."""

    state: State
    incarnation: int
    since: int  # tick of the last change
    address: str = ""  # where it listens ("": the driver's own address book)
    summary: MemberUpdate | None = None  # how a full state lists it, until it changes


@dataclass(slots=True)
class _Probe:
    """One protocol period's probe of ``target`` (SWIM §3.1)."""

    target: str
    seq: int
    incarnation: int  # of the target when probed: a suspicion names it
    timeout_at: int  # no direct ack by then: ping-req
    ends_at: int  # no ack at all by then: suspect
    acked: bool = False
    indirect_sent: bool = False
    nacks_expected: int = 0
    nacks: int = 0


@dataclass(slots=True)
class _Relay:
    """A ping we send for someone's ping-req; answered through the ``Deferred``."""

    deferred: Deferred
    requester_seq: int
    nack_at: int
    want_nack: bool
    replied: bool = False


class SwimCore(Core):
    def __init__(self, node_id: NodeId, peers: Sequence[NodeId], rng: random.Random,
                 options: SwimOptions, recovered: SelfRecord | None, tick_s: float,
                 address: str = "", addresses: Mapping[NodeId, str] | None = None) -> None:
        """``peers`` and their ``addresses``: the nodes configured with this one (known
        from the start with ``join="all"``; the default seeds otherwise). ``address``:
        where this member listens, advertised in its Alive updates."""
        self.node_id = node_id
        self.address = address
        self.peers = frozenset(peers)
        self.book = dict(addresses or {})  # configured peer -> its address
        self.rng = rng
        self.options = options
        self.tick_s = tick_s
        self.now = 0  # ticks
        o = options
        self.period_ticks = self._ticks(o.probe_interval_ms)
        self.timeout_ticks = min(self._ticks(o.probe_timeout_ms), self.period_ticks - 1)
        self.gossip_ticks = self._ticks(o.gossip_interval_ms) if o.gossip_interval_ms else 0
        self.awareness = Awareness(o.max_health if o.lha else 0)
        # a restart starts a new life: one incarnation and one entry version above the
        # last durable ones, so nothing the group remembers of the old life outranks it
        if recovered is None:  # a first start
            self.incarnation, entry, event_seq = 0, Entry(node_id, 0), 0
        else:
            self.incarnation = recovered.incarnation + 1
            entry = replace(recovered.entry, version=recovered.entry.version + 1,
                            heartbeat=0)
            event_seq = recovered.event_seq
        self.members: dict[str, Member] = {
            node_id: Member(State.ALIVE, self.incarnation, 0, address)}
        self.others_live: list[str] = []  # every other member alive or suspect, sorted
        self.suspicions: dict[str, Suspicion] = {}
        self.queue = BroadcastQueue()
        self.queue.on_done = self._broadcast_done
        # what is replicated besides membership: entries and user events (entries.py)
        self.replicated = ReplicatedState(node_id, entry, event_seq, self._pass_on,
                                          self._heard_heartbeat)
        # heartbeats come every period (phi mode's push-pull); Cassandra seeds the window
        # with twice its gossip interval (phi.py)
        self.phi = PhiDetectors(threshold=o.phi_threshold,
                                first_interval=2 * o.probe_interval_ms / 1000,
                                max_interval=4 * o.probe_interval_ms / 1000)
        # probing
        self.seq = 0
        self.probe: _Probe | None = None
        self.probe_list: list[str] = []
        self.probe_index = 0
        self.next_probe_at = 1 + rng.randrange(self.period_ticks)  # spread the periods
        self.relays: dict[int, _Relay] = {}
        # anti-entropy (antientropy.py) and joining: each seed as (the name we send to,
        # its address)
        self.sync = AntiEntropy(node_id, o, self.members, self.replicated, self._apply,
                                rng, self._ticks)
        self.seeds = self._resolve_seeds(o.seeds if o.seeds is not None
                                         else self._default_seeds())
        self.joined = o.join == "all" or not self.seeds
        self.reap_ticks = self._ticks(o.reap_ms)
        self.graveyard: deque[tuple[int, str]] = deque()  # (since, member) dead or left
        self.next_join_at = 1
        # leaving
        self.leaving: Any = None  # the request id waiting for the leave to spread
        self.leave_deadline = 0
        self.left = False
        self.out = Ready()
        # membership changes (node, member, state, incarnation), when a checker listens
        self.events: list[tuple[str, str, Any, int]] | None = None
        self.stats = {"suspected": 0, "declared_dead": 0, "refuted": 0, "probes": 0,
                      "reaped": 0}
        self.live = 1
        if o.join == "all":
            for p in sorted(self.peers):
                self.members[p] = Member(State.ALIVE, 0, 0, self.book.get(p, ""))
            self.live += len(self.peers)
            self.others_live = sorted(self.peers)
        self.sync.start(self.live)
        self.out.persist.append(self._self_record())
        self._gossip_member(node_id)

    # ================================================================ helpers
    def _ticks(self, ms: float) -> int:
        return max(1, round(ms / 1000 / self.tick_s))

    def _default_seeds(self) -> list[str]:
        """The first two members of the cluster (n1, n2, ...), other than ourselves: the
        first three, so every node has two even if it is one of them."""
        return sorted((str(p) for p in self.peers | {self.node_id}),
                      key=lambda p: (len(p), p))[:3]

    def _resolve_seeds(self, seeds: Sequence[str]) -> tuple[tuple[str, str], ...]:
        """memberlist's ``Join(existing)``: a seed is an address, and the joiner, not
        knowing its name yet, calls it by that address. A configured node id stands for
        its configured address (or for itself, if the driver's book has no address)."""
        out = []
        for seed in seeds:
            address = self.book.get(NodeId(seed), "" if seed in self.peers else seed)
            if seed != self.node_id and (not address or address != self.address):
                out.append((seed if seed in self.peers else address, address))
        return tuple(out)

    def _self_record(self) -> SelfRecord:
        return SelfRecord(self.incarnation, self.entry, self.event_seq)

    def _live_count(self) -> int:
        """Members alive or suspect, ourselves included (N in the paper's formulas)."""
        return self.live

    def _changed(self) -> None:
        """The membership changed: drop the full state cached from it."""
        self.sync.changed()

    def _update_of(self, name: str) -> MemberUpdate:
        m = self.members[name]
        source: str = self.node_id
        if m.state == State.SUSPECT and name in self.suspicions:
            source = min(self.suspicions[name].sources, default=self.node_id)
        return MemberUpdate(name, m.state, m.incarnation, source,
                            m.address if m.state == State.ALIVE else "")

    def _set(self, name: str, state: State, incarnation: int, address: str | None = None
             ) -> None:
        """Record a change of our opinion of ``name`` (and of its address, if given)."""
        self._changed()
        member = self.members.get(name)
        was_live = _LIVE[member.state] if member is not None else 0
        self.live += _LIVE[state] - was_live
        if member is None:
            member = self.members[name] = Member(state, incarnation, self.now, address or "")
            if state in (State.ALIVE, State.SUSPECT):
                self._add_to_probe_list(name)
        else:
            member.state, member.incarnation, member.since = state, incarnation, self.now
            member.summary = None
            if address is not None:
                member.address = address
        if _LIVE[state] != was_live and name != self.node_id:
            if was_live:
                del self.others_live[bisect.bisect_left(self.others_live, name)]
            else:
                bisect.insort(self.others_live, name)
        if state != State.SUSPECT:
            self.suspicions.pop(name, None)
        if state in (State.DEAD, State.LEFT):
            self.phi.forget(name)
            self.graveyard.append((self.now, name))
        if self.events is not None:
            self.events.append((self.node_id, name, state, incarnation))

    # ================================================================ ticks (SWIM §3.1)
    def tick(self) -> None:
        self.now += 1
        if self.left:
            return
        if self.leaving is not None and self.now >= self.leave_deadline:
            self._finish_leave()
            return
        if not self.joined and self.now >= self.next_join_at:
            self._join()
        self._advance_probe()
        self._expire_relays()
        self._expire_suspicions()
        self._reap()
        self._anti_entropy()
        if self.gossip_ticks and self.now % self.gossip_ticks == 0 and len(self.queue):
            self._gossip_round()
        if self.options.detector == "phi" and self.now % self.period_ticks == 0:
            self._phi_round()

    def _advance_probe(self) -> None:
        probe = self.probe
        if probe is not None:
            if not probe.acked and not probe.indirect_sent and self.now >= probe.timeout_at:
                self._ping_req(probe)
            if self.now >= probe.ends_at:
                self._end_probe(probe)
        if self.probe is None and self.now >= self.next_probe_at:
            self._start_probe()

    def _start_probe(self) -> None:
        period = self.awareness.scale(self.period_ticks)
        self.next_probe_at = self.now + period
        target = self._next_target()
        if target is None:
            return
        self.seq += 1
        self.stats["probes"] += 1
        # the direct ack's timeout is not stretched (waiting longer does not help a lost
        # ping); the period is, which leaves more time for indirect acks and nacks
        self.probe = _Probe(target, self.seq, self.members[target].incarnation,
                            timeout_at=self.now + self.timeout_ticks, ends_at=self.now + period)
        # an ack counts until the end of the protocol period (the driver's deadline)
        self._send(target, Ping(self.seq, target, self._piggyback(buddy=target)),
                   self.options.probe_interval_ms)

    def _next_target(self) -> str | None:
        """SWIM §4.3: round-robin over a shuffled list, reshuffled after each pass, so
        every member is probed within 2N-1 periods (time-bounded completeness)."""
        for _ in range(2):
            while self.probe_index < len(self.probe_list):
                name = self.probe_list[self.probe_index]
                self.probe_index += 1
                m = self.members.get(name)
                if m is not None and m.state in (State.ALIVE, State.SUSPECT):
                    return name
            self.probe_list = [n for n, m in self.members.items() if n != self.node_id
                               and m.state in (State.ALIVE, State.SUSPECT)]
            self.rng.shuffle(self.probe_list)
            self.probe_index = 0
        return None

    def _add_to_probe_list(self, name: str) -> None:
        """§4.3: a new member goes in at a random position of the rest of this pass."""
        if name != self.node_id:
            self.probe_list.insert(self.rng.randint(self.probe_index, len(self.probe_list)),
                                   name)

    def _ping_req(self, probe: _Probe) -> None:
        """§3.1: the direct ack is late: ask k members to ping the target for us."""
        probe.indirect_sent = True
        helpers = [n for n, m in self.members.items() if m.state == State.ALIVE
                   and n not in (self.node_id, probe.target)]
        helpers.sort()
        chosen = self.rng.sample(helpers, min(self.options.indirect_checks, len(helpers)))
        want_nack = self.options.nack
        address = self._address_of(probe.target)
        for helper in chosen:
            # answered after a probe of its own: within the period, not a round trip
            self._send(helper, PingReq(probe.seq, probe.target, want_nack, self._piggyback(),
                                       address), self.options.probe_interval_ms)
        probe.nacks_expected = len(chosen) if want_nack else 0

    def _end_probe(self, probe: _Probe) -> None:
        """The period is over: adjust our health (Lifeguard) and suspect a silent target."""
        self.probe = None
        if probe.acked:  # directly or through a helper: our own network works
            self.awareness.apply(-1)
            return
        # missing nacks mean the helpers could not reach *us*: we are the sick one
        if probe.nacks_expected:
            self.awareness.apply(probe.nacks_expected - probe.nacks)
        else:
            self.awareness.apply(1)
        m = self.members.get(probe.target)
        if self.options.detector == "swim" and m is not None \
                and m.incarnation == probe.incarnation:
            self._apply(MemberUpdate(probe.target, State.SUSPECT, m.incarnation,
                                     self.node_id))  # a suspicion, or our confirmation

    def _expire_relays(self) -> None:
        for seq, relay in list(self.relays.items()):
            if relay.replied or self.now < relay.nack_at:
                continue
            if relay.want_nack:  # Lifeguard: "I could not reach it either"
                self.out.replies.append(Reply(relay.deferred, PingReqReply(
                    relay.requester_seq, False, self._piggyback())))
            del self.relays[seq]

    # ================================================================ suspicion (§4.2)
    def _suspicion_bounds(self) -> tuple[int, int, int]:
        n = self._live_count()
        min_ticks = self._ticks(self.options.suspicion_timeout_ms(n))
        if not self.options.lha_suspicion:
            return min_ticks, min_ticks, 0
        expected = self.options.suspicion_mult - 2
        if n - 2 < expected:
            expected = 0
        return min_ticks, min_ticks * self.options.suspicion_max_mult, expected

    def _suspect(self, u: MemberUpdate) -> None:
        min_ticks, max_ticks, expected = self._suspicion_bounds()
        self._set(u.member, State.SUSPECT, u.incarnation)
        s = Suspicion(u.incarnation, self.now, min_ticks, max_ticks, expected)
        s.confirm(u.source or self.node_id)
        self.suspicions[u.member] = s
        self.stats["suspected"] += 1
        self._gossip_member(u.member)

    def _expire_suspicions(self) -> None:
        for name, s in list(self.suspicions.items()):
            if s.due(self.now):
                self._declare_dead(name, s.incarnation)

    def _declare_dead(self, name: str, incarnation: int) -> None:
        """§4.2 Confirm: the suspicion stood for its timeout."""
        self.stats["declared_dead"] += 1
        self._set(name, State.DEAD, incarnation)
        self._gossip_member(name)

    def _refute(self, heard: int) -> None:
        """§4.2: someone thinks we are suspect or dead: out-bid it and say we are alive.
        Lifeguard §IV-A: having to refute hints that we are the slow one, so our local
        health worsens — for a "dead" rumour as for a suspicion (memberlist's refute)."""
        self.awareness.apply(1)
        self.incarnation = max(self.incarnation, heard) + 1
        me = self.members[self.node_id]
        me.incarnation, me.summary = self.incarnation, None
        self._changed()
        self.stats["refuted"] += 1
        if self.events is not None:
            self.events.append((self.node_id, self.node_id, State.ALIVE, self.incarnation))
        self.out.persist.append(self._self_record())
        self._gossip_member(self.node_id)

    # ================================================================ applying updates
    def _apply(self, u: MemberUpdate) -> None:
        """The override rules of SWIM §4.2 (memberlist's aliveNode/suspectNode/deadNode)."""
        if u.member == self.node_id:
            self._about_me(u)
            return
        cur = self.members.get(u.member)
        if cur is None:
            if u.state == State.ALIVE:  # a join: its address came with it
                self._set(u.member, State.ALIVE, u.incarnation, u.address)
                self._gossip_member(u.member)
            return
        if u.state == State.ALIVE:
            if u.incarnation > cur.incarnation and self._may_move(cur, u.address):
                self._set(u.member, State.ALIVE, u.incarnation, u.address or cur.address)
                self._gossip_member(u.member)
        elif u.state == State.SUSPECT:
            if cur.state in (State.DEAD, State.LEFT):
                return
            if u.incarnation > cur.incarnation or (u.incarnation == cur.incarnation
                                                   and cur.state == State.ALIVE):
                self._suspect(u)
            elif u.incarnation == cur.incarnation and cur.state == State.SUSPECT:
                s = self.suspicions.get(u.member)
                if s is not None and s.confirm(u.source):  # Lifeguard: independent
                    self.queue.enqueue(("member", u.member), u)
        elif u.state == State.DEAD:
            if cur.state not in (State.DEAD, State.LEFT) and u.incarnation >= cur.incarnation:
                self._set(u.member, State.DEAD, u.incarnation)
                self._gossip_member(u.member)
        elif u.state == State.LEFT and cur.state != State.LEFT \
                and u.incarnation >= cur.incarnation:
            self._set(u.member, State.LEFT, u.incarnation)
            self._gossip_member(u.member)

    @staticmethod
    def _may_move(cur: Member, address: str) -> bool:
        """memberlist's address rule: a member's address changes only once its old life
        is declared dead or has left; while that one may still be running, an Alive
        from elsewhere is another process claiming its name ("Conflicting address"),
        refused. (memberlist also waits ``DeadNodeReclaimTime``, 0 = until reaped; a
        newer incarnation here can only come from the member itself: it is durable.)"""
        return not address or address == cur.address or cur.state in (State.DEAD,
                                                                       State.LEFT)

    def _about_me(self, u: MemberUpdate) -> None:
        if self.left or self.leaving is not None:
            return
        if u.state == State.ALIVE:
            # a newer Alive of ours from where we listen is what the group remembers of
            # a past life; from elsewhere, another process claims our name: not refuted
            # (that would be a war of incarnations; memberlist's conflict rule)
            if u.incarnation > self.incarnation and u.address in ("", self.address):
                self._refute(u.incarnation)
            return
        if u.incarnation >= self.incarnation:
            self._refute(u.incarnation)

    def _merge(self, g: Gossip) -> None:
        for u in g.members:
            self._apply(u)
        for e in g.entries:
            self.replicated.merge(e, rumor=True)
        for ev in g.events:
            self.replicated.deliver(ev)

    def _heard_heartbeat(self, member: str) -> None:
        """A newer heartbeat of ``member`` arrived in its entry (phi-accrual counts)."""
        self.phi.heartbeat(member, self.now * self.tick_s)

    # ================================================================ dissemination
    def _gossip_member(self, name: str) -> None:
        self._pass_on(("member", name), self._update_of(name))

    def _pass_on(self, key: Hashable, item: Any) -> None:
        """Queue ``item``, the news about ``key``, to be piggybacked (§4.1)."""
        self.queue.enqueue(key, item)

    def _piggyback(self, buddy: str | None = None) -> Gossip:
        """§4.1 piggybacking, as many updates as fit ``piggyback_bytes``; Lifeguard's
        buddy system puts a suspicion about the pinged member first, so a falsely
        suspected member hears of it at once."""
        limit = self.options.retransmit_limit(self._live_count())
        budget = self.options.piggyback_bytes
        first: list[Any] = []
        skip: Hashable | None = None
        if buddy is not None and self.options.buddy:
            m = self.members.get(buddy)
            if m is not None and m.state == State.SUSPECT:
                first.append(self._update_of(buddy))
                skip = ("member", buddy)
                budget -= wire_size(first[0])
        items = first + self.queue.take(budget, limit, wire_size, skip)
        if not items:
            return Gossip()
        return Gossip(tuple(i for i in items if isinstance(i, MemberUpdate)),
                      tuple(i for i in items if isinstance(i, Entry)),
                      tuple(i for i in items if isinstance(i, UserEvent)))

    def _gossip_round(self) -> None:
        """memberlist's gossip: while updates are pending, send them to a few random
        live members (they count toward each update's lambda*log N transmissions)."""
        targets = self.others_live
        for dst in self.rng.sample(targets, min(self.options.gossip_nodes, len(targets))):
            g = self._piggyback()
            if not g:
                return
            self._send(dst, Rumor(g))

    def _broadcast_done(self, key: Hashable) -> None:
        if self.leaving is not None and key == ("member", self.node_id):
            self._finish_leave()

    # ================================================================ anti-entropy
    def _anti_entropy(self) -> None:
        """The exchanges due now (antientropy.py), once this member has joined."""
        if not self.joined:
            return
        for among in self.sync.due(self.now, self._live_count()):
            partner = self.sync.partner(among, self.others_live)
            if partner is not None:
                self._send(partner, self._digest_syn())

    def _join(self) -> None:
        self.next_join_at = self.now + self._ticks(self.options.join_retry_ms)
        syn = self._digest_syn()
        for name, address in self.seeds:
            self.out.messages.append(Envelope(NodeId(name), syn, address=address))

    def _digest_syn(self) -> DigestSyn:
        return self.sync.syn()

    def _full_state(self) -> tuple[MemberUpdate, ...]:
        return self.sync.full_state()

    def _phi_round(self) -> None:
        """Cassandra's convict: a member whose heartbeats stopped long enough, judged by
        the history of their arrivals, is suspected (then SWIM's suspicion takes over)."""
        for name in self.phi.suspects(self.now * self.tick_s):
            m = self.members.get(name)
            if m is not None and m.state == State.ALIVE:
                self._suspect(MemberUpdate(name, State.SUSPECT, m.incarnation, self.node_id))

    # ================================================================ leaving
    def _start_leave(self, request_id: Any) -> None:
        self.leaving = request_id
        self.leave_deadline = self.now + self._ticks(self.options.leave_timeout_ms)
        self.incarnation += 1
        self.members[self.node_id] = Member(State.LEFT, self.incarnation, self.now,
                                            self.address)
        self.live -= 1
        self._changed()
        if self.events is not None:
            self.events.append((self.node_id, self.node_id, State.LEFT, self.incarnation))
        self.out.persist.append(self._self_record())
        self._gossip_member(self.node_id)

    # ================================================================ reaping
    def _reap(self) -> None:
        """Forget members dead or left for ``reap_ms`` (memberlist's GossipToTheDeadTime,
        serf's reconnect and tombstone timeouts): their names and addresses may be
        reused, and nobody reconnects to them any more. Their entries stay: a
        PN-counter must keep every share that was ever counted. Counted in whole ticks
        after the one the death came in (it came part-way through it), so never sooner
        than ``reap_ms`` of real time: ticks are skipped, never run fast."""
        while self.graveyard and self.now - self.graveyard[0][0] > self.reap_ticks:
            since, name = self.graveyard.popleft()
            m = self.members.get(name)
            if m is not None and m.state in (State.DEAD, State.LEFT) and m.since == since:
                del self.members[name]
                self._changed()
                self.stats["reaped"] += 1

    def _finish_leave(self) -> None:
        self.left = True
        self.probe = None
        self.out.answers.append(Answer(self.leaving, None))
        self.leaving = None

    # ================================================================ messages
    def _send(self, dst: str, msg: Any, deadline_ms: int = 0) -> None:
        """Every message says where its destination listens, as far as we know: the
        driver's address book grows with what gossip taught us."""
        self.out.messages.append(Envelope(NodeId(dst), msg, address=self._address_of(dst),
                                          deadline_ms=deadline_ms))

    def _address_of(self, name: str) -> str:
        m = self.members.get(name)
        if m is not None:
            return m.address
        return next((address for seed, address in self.seeds if seed == name), "")

    def on_message(self, src: NodeId, msg: Any) -> Any:
        if self.left:
            return None  # gone: say nothing, so nobody mistakes us for alive
        match msg:
            case Ping():
                if msg.target != self.node_id:
                    return None
                self._merge(msg.gossip)
                return Ack(msg.seq, self._piggyback())
            case PingReq():
                self._merge(msg.gossip)
                return self._relay(msg)
            case DigestSyn():
                self.joined = True
                return self.sync.on_syn(msg)
            case DigestAck2():
                self.sync.on_ack2(msg)
                return None
            case Rumor():
                self._merge(msg.gossip)
                return None
        raise InvalidRequest(f"SWIM does not take {type(msg).__name__}")

    def _relay(self, req: PingReq) -> Deferred | None:
        """§3.1: ping ``req.target`` for the requester, at the address it gave (a helper
        may not have heard of the target yet); answer once it acks (or nack)."""
        address = req.address or self._address_of(req.target)
        if req.target == self.node_id or not (address or req.target in self.members):
            return None
        self.seq += 1
        deferred = Deferred(f"ping-req {req.target}")
        self.relays[self.seq] = _Relay(deferred, req.seq,
                                       self.now + max(1, math.ceil(self.timeout_ticks * 0.8)),
                                       req.want_nack)
        self.out.messages.append(Envelope(NodeId(req.target), Ping(
            self.seq, req.target, self._piggyback(buddy=req.target)), address=address,
            deadline_ms=self.options.probe_interval_ms))
        return deferred

    def on_reply(self, src: NodeId, request: Any, reply: Any) -> None:
        match reply:
            case Ack():
                self._merge(reply.gossip)
                self._on_ack(request)
            case PingReqReply():
                self._merge(reply.gossip)
                probe = self.probe
                if probe is not None and probe.seq == reply.seq:
                    if reply.acked:
                        probe.acked = True
                    else:
                        probe.nacks += 1
            case DigestAck():
                self.joined = True
                ack2 = self.sync.on_ack(reply)
                if ack2 is not None:
                    self._send(src, ack2)

    def _on_ack(self, ping: Ping) -> None:
        probe = self.probe
        if probe is not None and probe.seq == ping.seq:
            probe.acked = True
        relay = self.relays.get(ping.seq)
        if relay is not None and not relay.replied:
            relay.replied = True
            del self.relays[ping.seq]
            self.out.replies.append(Reply(relay.deferred, PingReqReply(
                relay.requester_seq, True, self._piggyback())))

    # ================================================================ clients
    def submit(self, request_id: Any, command: Any) -> None:
        match command:
            case Members():
                self.out.answers.append(Answer(request_id, self.view()))
                return
        if self.left or self.leaving is not None:
            self.out.answers.append(Answer(request_id, error=InvalidRequest(
                "this member has left the group")))
            return
        match command:
            case Incr(delta=delta):  # each command checked its own fields
                if max(self.entry.p + delta, self.entry.n - delta) > MAX_COUNT:
                    raise InvalidRequest(f"delta: this member's share of the counter is "
                                         f"full (it stays within 2**53); got {delta}")
                self._write_entry(p=self.entry.p + max(delta, 0),
                                  n=self.entry.n + max(-delta, 0))
                self.out.answers.append(Answer(request_id, self.counter()))
            case SetMeta(key=key, value=value):
                if value and key not in self.entry.meta and len(self.entry.meta) >= MAX_KEYS:
                    raise InvalidRequest(f"key: this member already has {MAX_KEYS} metadata "
                                         f"keys; remove one (an empty value) first")
                meta = {k: v for k, v in self.entry.meta.items() if k != key}
                if value:
                    meta[key] = value
                self._write_entry(meta=dict(sorted(meta.items())))
                self.out.answers.append(Answer(request_id, None))
            case Broadcast(name=name, payload=payload):
                event = self.replicated.new_event(name, payload)
                self.out.persist.append(self._self_record())  # its number is durable
                self.replicated.deliver(event)
                self.out.answers.append(Answer(request_id, event.seq))
            case Leave():
                self._start_leave(request_id)
            case _:
                raise InvalidRequest(f"SWIM takes no {type(command).__name__} command")

    def _write_entry(self, **changes: Any) -> None:
        self.replicated.write(**changes)
        self.out.persist.append(self._self_record())  # answered only once durable

    # the replicated state, by the names the rest of the project reads (entries.py)
    @property
    def entry(self) -> Entry:
        """This member's own entry."""
        return self.replicated.entry

    @entry.setter
    def entry(self, entry: Entry) -> None:
        self.replicated.entry = entry

    @property
    def entries(self) -> dict[str, Entry]:
        """Every member's entry, as far as we know."""
        return self.replicated.entries

    @property
    def event_seq(self) -> int:
        return self.replicated.event_seq

    @property
    def events_delivered(self) -> deque[UserEvent]:
        return self.replicated.delivered

    def counter(self) -> int:
        """The PN-counter's total (entries.py)."""
        return self.replicated.counter()

    def view(self) -> MembersView:
        return MembersView(
            tuple(MemberView(n, m.state, m.incarnation, m.address)
                  for n, m in sorted(self.members.items())),
            self.replicated.metadata(), self.counter(), tuple(self.events_delivered),
            self.awareness.score)

    # ================================================================ outbox, status
    def ready(self) -> Ready:
        out, self.out = self.out, Ready()
        return out

    def status(self) -> NodeStatus:
        role = "left" if self.left else "leaving" if self.leaving is not None else "alive"
        counts = {s: 0 for s in State}
        for m in self.members.values():
            counts[m.state] += 1
        details = {str(s): str(c) for s, c in counts.items()}
        details |= {"health": str(self.awareness.score), "counter": str(self.counter()),
                    "joined": str(self.joined).lower(),
                    # what this node did since it started: suspicions it raised or
                    # confirmed, members it declared dead, suspicions of it refuted
                    "suspicions": str(self.stats["suspected"]),
                    "deaths": str(self.stats["declared_dead"]),
                    "refutations": str(self.stats["refuted"])}
        # one key per member, "member.<id>": "<state>/<incarnation>" (cluster status
        # draws them as a membership matrix)
        details |= {f"member.{n}": f"{m.state}/{m.incarnation}"
                    for n, m in sorted(self.members.items())}
        return NodeStatus(role, self.incarnation, "", details)
