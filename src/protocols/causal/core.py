"""Causal broadcast, sans-IO (Birman, Schiper, Stephenson 1991, §4; course chapters 21-22).

Every member broadcasts by sending its message one-way to every other member, stamped
with a vector timestamp: how many broadcasts of each origin it had *delivered* when it
sent (its own count included). A receiver holds a message back (the hold-back queue)
until the BSS delivery rule holds:

    m from j is deliverable at i  iff  m.clock[j] == delivered_i[j] + 1   (next from j)
                                  and  m.clock[k] <= delivered_i[k] for every k != j
                                       (everything j had seen, i has seen)

so a message is delivered only after everything that happened before it. Two contrast
modes show what the rule prevents: ``fifo`` delivers each origin's messages in order but
ignores the others (so a reply can overtake the message it answers), ``none`` delivers on
arrival.

Channels lose and reorder messages (the proxies, the simulator), so delivery is made
reliable the simple way: each member keeps what it delivered in a resend buffer and
periodically tells its peers what it has (``Status``); a peer resends what is missing, and
a message every member has is *stable* and leaves the buffers (CBCAST's stability).

Durability. Every delivery is written down before it is handed up, in delivery order, in
the write that precedes the messages and answers of the same step: an own broadcast as
``OwnMessage`` (kept until it is stable, so an acknowledged broadcast survives its
sender's crash), another member's as ``Delivery``, and a ``DeliveredRecord`` (our count
and what we delivered of each origin) closes the write. A crash during a write may keep
any prefix of it: the sequence number is the highest any durable own message or record
holds, so a number is never reused; deliveries after the last record were never
complete and come again by resend. A crash after a write but before its upcall would
lose the upcall, so a restarted member hands up its last write's deliveries again:
delivery is at least once across a crash, each message under its unique
``(origin, seq)``.

A member that starts on an empty disk may have had a past life whose broadcasts its
peers hold: it *rejoins* first, hearing a ``Status`` from every peer. What one of them
knows every member delivered is delivered here too (it may be gone from every buffer),
and its own count resumes after the most any peer has of it (its old broadcasts are its
past life's); broadcasts asked for meanwhile wait. Claims no member could make are
refused as bad input: a message or a status naming more of this member's broadcasts
than it ever made.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from protocols.causal.messages import CausalMessage, Status
from protocols.common.errors import InvalidRequest, Unavailable
from protocols.common.ids import NodeId
from protocols.common.options import Options, option
from protocols.contract import Answer, Core, Envelope, NodeStatus, Ready

__all__ = ["CausalCore", "CausalOptions", "Delivered", "DeliveredRecord", "Deliveries",
           "Delivery", "Mode", "OwnMessage", "Recovered", "Send", "Stable"]

MAX_PAYLOAD = 64 * 1024


class Mode(enum.StrEnum):
    CAUSAL = "causal"  # the BSS rule
    FIFO = "fifo"  # per-origin order only
    NONE = "none"  # deliver on arrival


@dataclass(frozen=True, slots=True)
class CausalOptions(Options):
    protocol = "causal"

    mode: Mode = option(Mode.CAUSAL, "the delivery rule: BSS, per-origin order, or none")
    status_interval_ms: int = option(200, "how often a member says what it has delivered",
                                     min=1)
    max_held: int = option(10_000, "the hold-back queue's bound: beyond it, an arrival that "
                           "is not deliverable yet is refused, and comes back by resend once "
                           "it is", min=1)
    max_resend: int = option(256, "messages resent per Status at most", min=1)
    max_log: int = option(100_000, "deliveries kept for the Deliveries query", min=1)
    max_waiting: int = option(1024, "broadcasts waiting for a rejoin to end; beyond, "
                              "Unavailable", min=1)
    fsync: bool = option(True, "fsync every write (false: faster, and not durable)")


@dataclass(frozen=True, slots=True)
class Send:
    """A client's broadcast request; answered with (origin, seq, clock) once sent."""

    payload: bytes


@dataclass(frozen=True, slots=True)
class Deliveries:
    """A client's query: this member's deliveries from index ``since`` on."""

    since: int = 0


@dataclass(frozen=True, slots=True)
class Delivered:
    """One delivery, in this member's delivery order (its own broadcasts included, at the
    moment it sent them)."""

    index: int
    origin: str
    seq: int
    payload: bytes
    received_tick: int  # when it arrived (own: when sent)
    delivered_tick: int


@dataclass(frozen=True, slots=True)
class DeliveredRecord:
    """Persisted, closing a write that delivered something: our own sequence number and
    how much of each origin we delivered."""

    seq: int
    prefix: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class OwnMessage:
    """Persisted before it leaves: one of our broadcasts, kept until every member has it
    (the only copy may be ours)."""

    message: CausalMessage


@dataclass(frozen=True, slots=True)
class Delivery:
    """Persisted with its delivery: a broadcast we delivered (another member's, or our
    own handed up again), so the last write's deliveries can be handed up after a crash."""

    message: CausalMessage


@dataclass(frozen=True, slots=True)
class Stable:
    """Persisted: our broadcasts up to ``upto`` are stable; their copies can go."""

    upto: int


@dataclass(slots=True)
class Recovered:
    """What a member's disk kept: the latest ``DeliveredRecord``, its own broadcasts that
    were not known stable, and the deliveries of the write that record closed (perhaps
    never handed up)."""

    delivered: DeliveredRecord
    unstable: list[CausalMessage]
    last_write: list[CausalMessage] = field(default_factory=list)

    @property
    def seq(self) -> int:
        """Our last sequence number: the record's, or a durable own broadcast's above it.
        A crash during a broadcast's write can keep its ``OwnMessage`` and lose the
        ``DeliveredRecord`` of the same batch; that message is resent, so its number is
        taken."""
        return max([self.delivered.seq, *(m.seq for m in self.unstable)])


@dataclass(slots=True)
class _Origin:
    """What this member delivered from one origin: a contiguous prefix, plus (mode none
    only) numbers delivered beyond it."""

    prefix: int = 0
    beyond: set[int] = field(default_factory=set)

    def has(self, seq: int) -> bool:
        return seq <= self.prefix or seq in self.beyond

    def add(self, seq: int) -> None:
        self.beyond.add(seq)
        while self.prefix + 1 in self.beyond:
            self.prefix += 1
            self.beyond.discard(self.prefix)


class CausalCore(Core):
    def __init__(self, node_id: NodeId, peers: Sequence[NodeId], options: CausalOptions,
                 recovered: Recovered | None, tick_s: float) -> None:
        self.node_id = node_id
        self.peers = tuple(peers)
        self.members = (node_id, *peers)
        self.options = options
        self.now = 0
        self.status_ticks = max(1, round(options.status_interval_ms / 1000 / tick_s))
        self.origins: dict[str, _Origin] = {m: _Origin() for m in self.members}
        self.seq = 0  # our own broadcasts
        self.held: dict[str, dict[int, tuple[CausalMessage, int]]] = {}  # origin -> seq ->
        self.held_count = 0
        self.max_held = 0
        self.dropped = 0  # arrivals refused by a full hold-back queue (resent later)
        self.buffer: dict[tuple[str, int], CausalMessage] = {}  # delivered, not yet stable
        self.stable_own = 0  # our broadcasts up to this one every member has
        # per origin, up to where every member has delivered (what we may have dropped)
        self.stable_point: dict[str, int] = {}
        self.peer_has: dict[str, dict[str, int]] = {p: {} for p in self.peers}
        self.peer_stable: dict[str, dict[str, int]] = {p: {} for p in self.peers}
        self.log: deque[Delivered] = deque(maxlen=options.max_log)
        self.delivered_count = 0
        self.latency_ticks = 0  # summed over deliveries of others' messages
        self.out = Ready()
        self.recorded: dict[str, int] = {}  # the prefixes in our latest DeliveredRecord
        # an empty disk: a past life's broadcasts may be out there (see rejoin)
        self.rejoining = recovered is None
        self.heard: set[str] = set()  # peers whose Status we had since we started
        self.waiting: deque[tuple[Any, bytes]] = deque()  # sends held back by a rejoin
        if recovered is not None:
            self._recover(recovered)

    # ------------------------------------------------------------------ durable state
    def _prefixes(self) -> dict[str, int]:
        return {m: o.prefix for m, o in self.origins.items()}

    def _recover(self, recovered: Recovered) -> None:
        for member, prefix in recovered.delivered.prefix.items():
            if member in self.origins:
                self.origins[member].prefix = prefix
        self.recorded = self._prefixes()
        for m in recovered.last_write:  # the upcall may not have happened: again
            self.buffer[(m.origin, m.seq)] = m
            self._hand_up(m, self.now, Delivery(m))
        for m in sorted(recovered.unstable, key=lambda m: m.seq):
            self.buffer[(m.origin, m.seq)] = m  # nobody was known to have it yet
            if m.seq > self.origins[self.node_id].prefix:  # its record was torn off
                self._deliver(m, self.now)
        self.seq = recovered.seq
        self.stable_own = min((m.seq for m in recovered.unstable), default=self.seq + 1) - 1
        self.stable_point[self.node_id] = self.stable_own

    # ------------------------------------------------------------------ the vector
    def clock(self) -> dict[str, int]:
        """How many broadcasts of each origin this member has delivered (contiguously)."""
        return {m: o.prefix for m, o in self.origins.items() if o.prefix}

    # ------------------------------------------------------------------ broadcasting
    def submit(self, request_id: Any, command: Any) -> None:
        match command:
            case Send(payload=payload):
                if len(payload) > MAX_PAYLOAD:
                    raise InvalidRequest(f"payload: {len(payload)} bytes, over the limit "
                                         f"of {MAX_PAYLOAD}")
                if not self.rejoined:
                    if len(self.waiting) >= self.options.max_waiting:
                        raise Unavailable(f"{self.node_id} is rejoining (it started on an "
                                          f"empty disk) and {len(self.waiting)} broadcasts "
                                          f"already wait; retry")
                    self.waiting.append((request_id, payload))
                    return
                self._send(request_id, payload)
            case Deliveries(since=since):
                first = self.log[0].index if self.log else self.delivered_count
                start = max(since, first) - first
                self.out.answers.append(Answer(request_id, list(self.log)[start:]))
            case _:
                raise InvalidRequest(f"causal broadcast takes no {type(command).__name__}")

    def _send(self, request_id: Any, payload: bytes) -> None:
        m = self._broadcast(payload)
        self.out.answers.append(Answer(request_id, (m.origin, m.seq, dict(m.clock))))

    def _broadcast(self, payload: bytes) -> CausalMessage:
        self.seq += 1
        m = CausalMessage(self.node_id, self.seq, {**self.clock(), self.node_id: self.seq},
                          payload)
        self._deliver(m, self.now)  # the sender delivers its own message at once
        for p in self.peers:
            self.out.messages.append(Envelope(NodeId(p), m))
        return m

    # ------------------------------------------------------------------ receiving
    def on_message(self, src: NodeId, msg: Any) -> None:
        match msg:
            case CausalMessage():
                self._receive(msg)
            case Status():
                self._on_status(src, msg)
            case _:
                raise InvalidRequest(f"causal broadcast takes no {type(msg).__name__}")
        self._send_waiting()
        return None

    def _receive(self, m: CausalMessage) -> None:
        origin = self.origins.get(m.origin)
        if origin is None or unknown_members(m.clock, self.origins):
            raise InvalidRequest(f"broadcast from or about a non-member: {m.origin}, "
                                 f"{sorted(m.clock)}")
        self._check_claim(f"broadcast {m.origin}#{m.seq}: clock", m.clock)
        if self.rejoining:
            return  # it comes back by resend once we know where we stand
        if origin.has(m.seq) or m.seq in self.held.get(m.origin, {}):
            return  # a duplicate (a resend, or a duplicated packet)
        if self.options.mode == Mode.NONE:
            self._deliver(m, self.now)
            return
        if self.deliverable(m):
            self._deliver(m, self.now)
        elif self.held_count >= self.options.max_held:
            self.dropped += 1  # it will be resent: Status says we lack it
            return
        else:
            self._hold(m)
        self._deliver_held()

    def _hold(self, m: CausalMessage) -> None:
        self.held.setdefault(m.origin, {})[m.seq] = (m, self.now)
        self.held_count += 1
        self.max_held = max(self.max_held, self.held_count)

    def deliverable(self, m: CausalMessage) -> bool:
        """The BSS rule (or FIFO's half of it)."""
        if m.seq != self.origins[m.origin].prefix + 1:
            return False
        if self.options.mode == Mode.FIFO:
            return True
        return all(n <= self.origins[k].prefix for k, n in m.clock.items() if k != m.origin)

    def _deliver_held(self) -> None:
        progress = True
        while progress:
            progress = False
            for origin in list(self.held):
                queue = self.held[origin]
                head = queue.get(self.origins[origin].prefix + 1)
                if head is not None and self.deliverable(head[0]):
                    del queue[head[0].seq]
                    self.held_count -= 1
                    if not queue:
                        del self.held[origin]
                    self._deliver(*head)
                    progress = True

    def _deliver(self, m: CausalMessage, received_tick: int) -> None:
        self.origins[m.origin].add(m.seq)
        self.buffer[(m.origin, m.seq)] = m
        own = m.origin == self.node_id  # ours is kept until stable: a crash loses none
        self._hand_up(m, received_tick, OwnMessage(m) if own else Delivery(m))

    def _hand_up(self, m: CausalMessage, received_tick: int, record: Any) -> None:
        """Written down, then handed up (``Ready.applied``, once the write is done)."""
        self.out.persist.append(record)
        self.log.append(Delivered(self.delivered_count, m.origin, m.seq, m.payload,
                                  received_tick, self.now))
        self.delivered_count += 1
        if m.origin != self.node_id:
            self.latency_ticks += self.now - received_tick
        self.out.applied.append(self.log[-1])

    def _check_claim(self, what: str, claim: Mapping[str, int]) -> None:
        """Nobody can have delivered more of our broadcasts than we made (while we
        rejoin, our past life's count is what we are learning: any claim goes)."""
        mine = claim.get(self.node_id, 0)
        if mine > self.seq and not self.rejoining:
            raise InvalidRequest(f"{what}[{self.node_id}] claims {mine} broadcasts of "
                                 f"{self.node_id}; it made {self.seq}")

    # ------------------------------------------------------------------ reliability
    def tick(self) -> None:
        self.now += 1
        if self.now % self.status_ticks == 0:
            # sent after this step's write, which records every delivery so far
            status = Status(self._prefixes(), dict(self.stable_point))
            for p in self.peers:
                self.out.messages.append(Envelope(NodeId(p), status))

    def _on_status(self, src: NodeId, s: Status) -> None:
        if src not in self.peer_has:
            raise InvalidRequest(f"status from a non-member {src}")
        if unknown_members({**s.delivered, **s.stable}, self.origins):
            raise InvalidRequest(f"status about non-members: "
                                 f"{sorted({**s.delivered, **s.stable})}")
        self._check_claim(f"status of {src}: delivered", s.delivered)
        self._check_claim(f"status of {src}: stable", s.stable)
        self.peer_has[src] = dict(s.delivered)
        self.peer_stable[src] = dict(s.stable)
        if self.rejoining:
            self.heard.add(src)
            self._rejoin()
        missing = [m for (o, seq), m in self.buffer.items() if seq > s.delivered.get(o, 0)]
        for m in missing[: self.options.max_resend]:
            self.out.messages.append(Envelope(src, m))
        self._collect_stable()

    # ------------------------------------------------------------------ rejoining
    @property
    def rejoined(self) -> bool:
        """We know where we stand: every peer has told us since we started."""
        return not self.rejoining

    def _rejoin(self) -> None:
        """Once every peer has said where it stands. A broadcast some peer knows every
        member delivered may be gone from every buffer, so it counts as delivered here
        (our past life had it). Anything later is still buffered by its origin, which
        keeps its own broadcasts until it knows everyone has them, and comes by resend.
        Our own count resumes after the most any peer has of ours: a number no member
        holds another payload for."""
        if self.heard != set(self.peers):
            return
        for member, origin in self.origins.items():
            if member != self.node_id:
                origin.prefix = max([origin.prefix, *(self.peer_stable[p].get(member, 0)
                                                      for p in self.peers)])
        self.seq = max([self.seq, *(self.peer_has[p].get(self.node_id, 0)
                                    for p in self.peers)])
        self.origins[self.node_id].prefix = self.seq
        self.rejoining = False  # the next write records it (ready)

    def _send_waiting(self) -> None:
        while self.waiting and self.rejoined:
            self._send(*self.waiting.popleft())

    def _collect_stable(self) -> None:
        """A message every member has delivered will never be asked for again."""
        def stable(key: tuple[str, int]) -> bool:
            return all(has.get(key[0], 0) >= key[1] for has in self.peer_has.values())
        for key in [k for k in self.buffer if stable(k)]:
            del self.buffer[key]
            self.stable_point[key[0]] = max(self.stable_point.get(key[0], 0), key[1])
            if key[0] == self.node_id and key[1] > self.stable_own:
                self.stable_own = key[1]
                self.out.persist.append(Stable(key[1]))

    # ------------------------------------------------------------------ outbox, status
    def ready(self) -> Ready:
        """The outbox. Its write holds this step's deliveries in their order, then the
        ``DeliveredRecord`` that closes them, then the latest stable mark."""
        out, self.out = self.out, Ready()
        handed = [r for r in out.persist if isinstance(r, (OwnMessage, Delivery))]
        marks = [r for r in out.persist if isinstance(r, Stable)][-1:]
        prefixes = self._prefixes()
        record = []
        if handed or prefixes != self.recorded:
            record = [DeliveredRecord(self.seq, prefixes)]
            self.recorded = prefixes
        out.persist = [*handed, *record, *marks]
        return out

    def status(self) -> NodeStatus:
        others = self.delivered_count - self.seq
        return NodeStatus(str(self.options.mode), self.seq, "", {
            "rejoined": str(self.rejoined).lower(),
            "waiting": str(len(self.waiting)),
            "delivered": str(self.delivered_count),
            "held": str(self.held_count),
            "max_held": str(self.max_held),
            "dropped": str(self.dropped),
            "buffer": str(len(self.buffer)),
            "mean_hold_ticks": f"{self.latency_ticks / others:.1f}" if others > 0 else "0",
            "clock": " ".join(f"{k}:{v}" for k, v in sorted(self.clock().items())),
        })


def unknown_members(clock: Mapping[str, int], members: Mapping[str, Any]) -> bool:
    return any(k not in members for k in clock)
