"""Multi-Paxos as a sans-IO core: each node is a replica, a leader and an acceptor
(PMMC §3; the roles are in replica.py, leader.py and acceptor.py, this file wires them).

What makes the paper's protocol usable (PMMC §4 and practice):

* one phase 1 per ballot for every open slot (the scout), then phase 2 per slot;
* a stable leader: the active leader sends heartbeats; a node that hears none for an
  election timeout (randomized) starts a scout with a higher ballot; a preempted leader
  backs off for a random time instead of preempting back at once (``backoff=False``
  shows the livelock of dueling leaders); acceptors that hear from a live leader refuse
  other leaders' phase 1 for an election timeout (``stickiness``), so a node returning
  from a partition does not depose a working leader;
* holes filled with no-ops on adoption; decisions sent to every replica, and lagging
  replicas catch up from the leader (decisions, or its snapshot when those are
  compacted); lost phase-1/phase-2 messages resent every heartbeat interval;
* acceptor state persisted before any reply leaves (the pump's rule);
* garbage collection: every ``snapshot_threshold`` applied slots the replica snapshots
  the state machine and the acceptor drops its pvalues below it;
* linearizable reads through the log (a read is a command decided in a slot), and
  exactly-once client sessions (``protocols.kv.rsm``);
* flexible quorums (Howard et al., 2016): phase-1 and phase-2 quorum sizes q1 + q2 > n.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from protocols.common.errors import InvalidRequest, NotLeader
from protocols.common.ids import NodeId
from protocols.contract import Answer, Core, Envelope, NodeStatus, Ready
from protocols.kv.rsm import ReplicatedKv
from protocols.kv.state_machine import KvStateMachine
from protocols.paxos.acceptor import Acceptor
from protocols.paxos.leader import Commander, Leader, Scout
from protocols.paxos.messages import (
    Ballot,
    CatchUp,
    CatchUpReply,
    Decision,
    Heartbeat,
    HeartbeatReply,
    P1a,
    P1b,
    P2a,
    P2b,
    PValue,
)
from protocols.paxos.options import PaxosOptions
from protocols.paxos.replica import Replica

__all__ = ["PaxosCore", "PaxosOptions", "Recovered"]

CATCHUP_BATCH = 256  # decisions per CatchUpReply


@dataclass(slots=True)
class Recovered:
    """What storage gave back: the acceptor, the decisions, the snapshot, and the
    highest round this node's leader ever used for a ballot (``round``)."""

    acceptor: Acceptor
    decisions: dict[int, bytes]
    snapshot_slot: int = 1
    snapshot: bytes = b""
    round: int = 0


@dataclass(slots=True)
class _Unsaved:
    """What waits for one persist to be durable: the round it records, our own
    acceptor's answers to our own P2a (our own vote counts once written, as Raft's
    leader counts its own copy: thesis §10.2.1), and the pvalues it accepted."""

    round: int = 0
    own_p2b: list[tuple[P2a, P2b]] = field(default_factory=list)
    accepted: list[PValue] = field(default_factory=list)


# persist records (storage.py writes them)
@dataclass(frozen=True, slots=True)
class BallotRecord:
    ballot: Ballot


@dataclass(frozen=True, slots=True)
class RoundRecord:
    """The leader is about to use ballot (``round``, itself): written before any message
    of that ballot leaves, so a restart never picks the same ballot again ("Paxos Made
    Simple" §2.2: a proposer remembers, in stable storage, the highest-numbered proposal
    it has tried to issue)."""

    round: int


@dataclass(frozen=True, slots=True)
class AcceptRecord:
    pvalue: PValue


@dataclass(frozen=True, slots=True)
class DecisionRecord:
    slot: int
    command: bytes


@dataclass(frozen=True, slots=True)
class SnapshotRecord:
    """Compaction: the state machine below ``slot``; the WAL is rewritten to what is
    left (the ballot, pvalues and decisions from ``slot`` on)."""

    slot: int
    state: bytes
    ballot: Ballot
    accepted: tuple[PValue, ...]
    decisions: tuple[tuple[int, bytes], ...]
    round: int = 0  # the highest round used or seen (see RoundRecord)


class PaxosCore(Core):
    def __init__(self, node_id: NodeId, peers: Sequence[NodeId], rng: random.Random,
                 options: PaxosOptions, recovered: Recovered,
                 clock: Callable[[], float] | None = None, tick_s: float = 0.01) -> None:
        self.node_id = node_id
        self.ticks = 0  # taken since start
        self.tick_s = tick_s
        self.clock = clock or (lambda: self.ticks * self.tick_s)  # for the lease only
        self.nodes = sorted({node_id, *peers})
        self.peers = [n for n in self.nodes if n != node_id]
        self.rng = rng
        self.options = options
        self.q1, self.q2 = options.quorums(len(self.nodes))
        self.acceptor = recovered.acceptor
        state = (KvStateMachine.restore(recovered.snapshot, options.max_sessions)
                 if recovered.snapshot else None)
        self.kv = ReplicatedKv(state, options.max_sessions)
        self.replica = Replica(self.kv, options.window, slot_in=recovered.snapshot_slot,
                               slot_out=recovered.snapshot_slot,
                               snapshot_slot=recovered.snapshot_slot)
        self.leader = Leader()
        self.known_leader: str | None = None
        # the next ballot's round is above every round seen; every round this node's
        # leader used is durable (RoundRecord) before a message of its ballot leaves
        self.max_round = max(recovered.round, self.acceptor.ballot_number.round,
                             *(pv.ballot.round for pv in self.acceptor.accepted.values()))
        self.round_durable = self.max_round
        # per drained persist not yet durable: what waits for it (see on_persisted)
        self._unsaved: deque[_Unsaved] = deque()
        self._pending = _Unsaved()  # what the Ready being built will wait for
        self.leader_elapsed = 0  # election timer: ticks since it was last reset
        # stickiness: the ballot whose leader we follow, and ticks since a heartbeat or
        # P2a of exactly that ballot arrived (nothing else refreshes it)
        self.following: Ballot | None = None
        self.heard_ticks = 0
        self.timeout = 0
        self.heartbeat_elapsed = 0
        self.heard: set[str] = set()  # peers that answered our heartbeats lately
        self.lease_from: dict[str, float] = {}  # peer -> send time of its newest answer
        # heartbeats in flight -> (the message, when it left); the message is kept so its
        # id cannot be reused while the entry lives
        self._sent_at: dict[int, tuple[Heartbeat, float]] = {}
        self.lease_floor = 0  # the top slot open at adoption: applied before lease reads
        self.lease_reads = 0
        self.catching_up = False
        # what happened, for the simulator's invariants (None: nobody is watching)
        self.events: list[tuple[str, Any]] | None = None
        self._outgoing_p2a: list[PValue] = []  # commanders started in this step
        self._batches: dict[int, P2a] = {}  # P2a batches in flight no peer answered yet
        self._ready = Ready()
        self._recovering = True
        for slot, command in sorted(recovered.decisions.items()):
            self.replica.decide(slot, command)
        self._apply()
        self._recovering = False
        self._reset_timeout()

    # ================================================================== helpers
    def _to(self, node: str, msg: Any) -> None:
        self._ready.messages.append(Envelope(NodeId(node), msg))

    def _trace(self, line: str) -> None:
        self._ready.trace.append(line)

    def _reset_timeout(self) -> None:
        o = self.options
        self.leader_elapsed = 0
        self.timeout = self.rng.randrange(o.election_timeout_min_ticks,
                                          o.election_timeout_max_ticks)

    # ================================================================== clients
    def submit(self, request_id: Any, command: Any) -> None:
        try:
            cmd = self.kv.command_of(command)
        except InvalidRequest as e:
            self._ready.answers.append(Answer(request_id, error=e))
            return
        if not self.leader.active:
            self._ready.answers.append(Answer(request_id, error=NotLeader(self.known_leader)))
            return
        if cmd.is_read and self._lease_valid():
            self.lease_reads += 1
            self._ready.answers.append(Answer(request_id, self.kv.read(cmd.key)))
            return
        self.replica.requests.append((request_id, cmd.encode()))
        self._propose_requests()

    def _propose_requests(self) -> None:
        """PMMC replica "propose", with the leader local: each waiting request gets the
        next free slot, while the window allows."""
        while self.replica.requests and self.leader.active:
            slot = self.replica.next_slot()
            if slot is None:
                return
            request_id, command = self.replica.requests.popleft()
            self.kv.propose(slot, command, request_id)
            self.leader.proposals[slot] = command
            self._command(slot, command)

    # ================================================================== leader
    def _start_scout(self) -> None:
        """Phase 1 for a ballot above every one seen, for every slot not yet decided."""
        self.max_round += 1
        ballot = Ballot(self.max_round, self.node_id)
        self._ready.persist.append(RoundRecord(self.max_round))  # before its P1a leave
        self.leader.ballot_number = ballot
        self.leader.scout = Scout(ballot, set(self.nodes))
        self._trace(f"scout {ballot}")
        self._reset_timeout()
        for n in self.peers:
            self._to(n, P1a(ballot, self.replica.slot_out))
        self._own_p1a_when_due()

    def _own_p1a_when_due(self) -> None:
        """Our own acceptor adopts our ballot last, once the others can make a phase-1
        quorum with it: a node cut off from the cluster then never raises its own ballot,
        so when it comes back it does not preempt the leader that served meanwhile (the
        role pre-vote plays in Raft, thesis §9.6)."""
        scout = self.leader.scout
        if scout is None or self.node_id not in scout.waitfor:
            return
        if len(self.nodes) - len(scout.waitfor) + 1 >= self.q1:
            m = P1a(scout.ballot, self.replica.slot_out)
            self._on_p1b(self.node_id, m, self._acceptor_p1a(self.node_id, m))

    def _on_p1b(self, src: str, request: P1a, reply: P1b) -> None:
        self._see(reply.ballot)
        scout = self.leader.scout
        if scout is None or request.ballot != scout.ballot:
            return
        if reply.ballot > scout.ballot:
            self._preempted(reply.ballot)
            return
        if reply.ballot < scout.ballot:
            return  # refused for now: a live leader holds that acceptor (stickiness)
        scout.on_p1b(src, reply.accepted, reply.decided_upto)
        if len(self.nodes) - len(scout.waitfor) >= self.q1 \
                and self.node_id not in scout.waitfor:
            self._adopted(scout)
        else:
            self._own_p1a_when_due()

    def _adopted(self, scout: Scout) -> None:
        first_open = max(self.replica.slot_out, scout.decided_upto)
        self.leader.adopt(scout.ballot, scout.pvalues, first_open, self.replica.slot_in - 1)
        self.known_leader = self.node_id
        self.replica.slot_in = max(self.replica.slot_in, first_open,
                                   max(self.leader.proposals, default=0) + 1)
        self._trace(f"adopted {scout.ballot}: {len(self.leader.proposals)} open slots from "
                    f"{first_open}")
        self.lease_floor, self.lease_from, self._sent_at = self.replica.slot_in - 1, {}, {}
        for slot, command in sorted(self.leader.proposals.items()):
            self._command(slot, command)
        self.heard, self.leader_elapsed = set(), 0
        self._heartbeat()
        self._propose_requests()
        if scout.decided_upto > self.replica.slot_out and scout.ahead is not None:
            self.catching_up = True  # slots below first_open are decided elsewhere
            self._to(scout.ahead, CatchUp(self.replica.slot_out))

    def _command(self, slot: int, command: bytes) -> None:
        """A commander for (ballot, slot, command). Its P2a leaves with the others that
        start in this step, one message per acceptor (see ``_flush``)."""
        pv = PValue(self.leader.ballot_number, slot, command)
        self.leader.commanders[slot] = Commander(pv, set(self.nodes))
        self._outgoing_p2a.append(pv)

    def _flush(self) -> None:
        """Batching: the P2a of every commander started since the last step go to each
        acceptor as one message, with how far decisions go; our own acceptor takes them
        at once. They leave while our own write runs (Raft thesis §10.2.1) only once our
        ballot's round is durable: else a crash in that window could let a restart reuse
        the ballot for other commands."""
        for _ in range(self.options.window + 1):  # a decision may free a slot: again
            pvalues = self._outgoing_p2a
            held = len(self._batches) >= 2 and len(pvalues) < self.options.window // 4
            if pvalues and not held and self.leader.active:
                self._outgoing_p2a = []
                m = P2a(tuple(pvalues), self.replica.slot_out)
                if self.peers:
                    self._batches[id(m)] = m
                ahead = self.leader.ballot_number.round <= self.round_durable
                for n in self.peers:
                    self._ready.messages.append(Envelope(NodeId(n), m, ahead_of_persist=ahead))
                self._pending.own_p2b.append((m, self._acceptor_p2a(m)))
            elif not self.leader.active:
                self._outgoing_p2a = []
            if held or not self._outgoing_p2a:
                return  # under load a small batch waits for a reply, which sends it

    def _on_p2b(self, src: str, request: P2a, reply: P2b) -> None:
        if src != self.node_id:
            self._batches.pop(id(request), None)  # a batch is answered by its first reply
        self._see(reply.ballot)
        ballot = request.pvalues[0].ballot if request.pvalues else reply.ballot
        if not self._leading_with(ballot):
            return  # a late answer to a leadership that is over
        if reply.ballot > ballot:
            self._preempted(reply.ballot)
            return
        accepted = set(reply.slots)
        for pv in request.pvalues:
            cmd = self.leader.commanders.get(pv.slot)
            if cmd is None or cmd.pvalue != pv or pv.slot not in accepted:
                continue
            cmd.waitfor.discard(src)
            if len(self.nodes) - len(cmd.waitfor) >= self.q2:  # chosen: decided; the
                del self.leader.commanders[pv.slot]  # replicas learn it from P2a/heartbeats
                self._decide(Decision(pv.slot, pv.command))

    def _preempted(self, ballot: Ballot) -> None:
        self._batches.clear()
        self._preempted_by(ballot)

    def _preempted_by(self, ballot: Ballot) -> None:
        """PMMC "preempted": someone holds a higher ballot. Follow it; compete again only
        if it goes quiet for an election timeout (or at once, without backoff)."""
        if ballot <= self.leader.ballot_number and self.leader.scout is None \
                and not self.leader.active:
            return
        was_active = self.leader.active
        self.leader.preempted()
        self.known_leader = ballot.leader_id
        self._trace(f"preempted by {ballot}")
        if was_active:  # what waits may still be decided by the new leader: unknown
            self.kv.abandon(self.known_leader, self._ready.answers)
            for request_id, _ in self.replica.requests:
                self._ready.answers.append(Answer(request_id,
                                                  error=NotLeader(self.known_leader)))
            self.replica.requests.clear()
        if self.options.backoff:
            self._reset_timeout()
        else:
            self._start_scout()

    def _see(self, ballot: Ballot) -> None:
        self.max_round = max(self.max_round, ballot.round)

    def _heartbeat(self) -> None:
        self.heartbeat_elapsed = 0
        now = self.clock()
        for n in self.peers:
            m = Heartbeat(self.leader.ballot_number, self.replica.slot_out)
            self._sent_at[id(m)] = (m, now)
            self._to(n, m)

    def _on_heartbeat_reply(self, src: str, request: Heartbeat, reply: HeartbeatReply) -> None:
        self._see(reply.ballot)
        entry = self._sent_at.pop(id(request), None)
        if not self._leading_with(request.ballot):
            return  # a late answer to a leadership that is over says nothing about now
        sent = entry[1] if entry is not None and entry[0] is request else None
        if reply.ballot > request.ballot:
            self._preempted(reply.ballot)
            return
        self.heard.add(src)
        if sent is not None and reply.ballot == request.ballot:
            self.lease_from[src] = max(self.lease_from.get(src, sent), sent)

    def _leading_with(self, ballot: Ballot) -> bool:
        """Replies count only while we lead with the ballot their request carried."""
        return self.leader.active and ballot == self.leader.ballot_number

    def _lease_valid(self) -> bool:
        """A leader lease, under the clock assumption Raft's lease reads state (README):
        an acceptor that answered our heartbeat refuses other leaders' phase 1 for an
        election timeout after (stickiness), as does one that just restarted. Once
        n - q1 + 1 acceptors (us included) answered heartbeats we sent at time t, no
        phase-1 quorum can form without one of them before t + the minimum election
        timeout, so no other leader can decide anything; we answer reads alone until
        then, less a 20% margin for clock drift, and only once everything open when we
        were adopted is applied (so our state includes every decision before us)."""
        if self.options.read_mode != "lease" or self.replica.slot_out <= self.lease_floor:
            return False
        needed = len(self.nodes) - self.q1  # answers needed besides our own
        if needed <= 0:
            return True
        starts = sorted(self.lease_from.values(), reverse=True)
        if len(starts) < needed:
            return False
        lease_s = self.options.election_timeout_min_ticks * self.tick_s * 0.8
        return self.clock() < starts[needed - 1] + lease_s

    def _resend(self) -> None:
        """Phase-1 and phase-2 messages lost in the network are sent again."""
        scout = self.leader.scout
        if scout is not None:
            for n in sorted(scout.waitfor - {self.node_id}):
                self._to(n, P1a(scout.ballot, self.replica.slot_out))
        for n in self.peers:
            waiting = tuple(c.pvalue for c in self.leader.commanders.values() if n in c.waitfor)
            if waiting:
                self._to(n, P2a(waiting, self.replica.slot_out))

    # ================================================================== acceptor
    def _acceptor_p1a(self, src: str, m: P1a) -> P1b:
        reply, changed = self.acceptor.on_p1a(m, self._refuses(src, m.ballot))
        if changed:
            self._ready.persist.append(BallotRecord(self.acceptor.ballot_number))
            if self.leader.active and m.ballot > self.leader.ballot_number:
                self._preempted(m.ballot)
        return reply

    def _acceptor_p2a(self, m: P2a) -> P2b:
        reply, accepted = self.acceptor.on_p2a(m)
        for pv in accepted:
            self._ready.persist.append(AcceptRecord(pv))
        self._pending.accepted.extend(accepted)  # reported once durable
        return reply

    def _refuses(self, src: str, ballot: Ballot) -> bool:
        """Stickiness: refuse another leader's phase 1 while we lead, or while the leader
        we follow was heard from (a heartbeat or P2a of the very ballot we follow) within
        the minimum election timeout; with leases, a node that just started may have
        answered one, so it waits that long too. Refusing is always safe; this is what a
        leader lease rests on (``_lease_valid``)."""
        o = self.options
        if not o.stickiness or src == self.node_id:
            return False
        if self.leader.active:
            return True
        if o.read_mode == "lease" and self.ticks < o.election_timeout_min_ticks:
            return True
        f = self.following
        return (f is not None and ballot.leader_id != f.leader_id
                and self.heard_ticks < o.election_timeout_min_ticks)

    # ================================================================== replica
    def _decide(self, d: Decision) -> None:
        """A decision learned. It is not written down: the acceptors keep what a quorum
        accepted, so a replica that restarts learns it again (from a leader's phase 1,
        or by catching up), and writing it would cost every command another fsync."""
        if self.replica.decide(d.slot, d.command):
            if self.events is not None:
                self.events.append(("decided", (d.slot, d.command)))
            self._apply()

    def _apply(self) -> None:
        for slot, command in self.replica.perform(self._ready.answers):
            if self.events is not None:
                self.events.append(("applied", (slot, command)))
            if not self._recovering:
                self._ready.applied.append((slot, command))
        self._maybe_snapshot()
        if self.leader.active:  # the window moved: waiting requests may go
            self._propose_requests()

    def _maybe_snapshot(self) -> None:
        threshold = self.options.snapshot_threshold
        r = self.replica
        if self._recovering or not threshold or r.slot_out - r.snapshot_slot < threshold:
            return
        r.compact()
        self.acceptor.collect(r.slot_out)
        self._ready.persist.append(SnapshotRecord(
            r.slot_out, self.kv.snapshot(), self.acceptor.ballot_number,
            tuple(pv for _, pv in sorted(self.acceptor.accepted.items())),
            tuple(sorted(r.decisions.items())), self.max_round))
        self._trace(f"snapshot at slot {r.slot_out}")

    def _on_catch_up(self, m: CatchUp) -> CatchUpReply:
        r = self.replica
        if m.from_slot < r.snapshot_slot:  # compacted: send the state machine as it is
            return CatchUpReply((), r.slot_out, self.kv.snapshot())
        return CatchUpReply(tuple(Decision(s, r.decisions[s]) for s in range(
            m.from_slot, min(r.slot_out, m.from_slot + CATCHUP_BATCH)) if s in r.decisions))

    def _on_catch_up_reply(self, reply: CatchUpReply) -> None:
        self.catching_up = False
        r = self.replica
        if reply.snapshot and reply.snapshot_slot > r.slot_out:
            self.kv.restore(reply.snapshot)
            r.slot_out = r.snapshot_slot = reply.snapshot_slot
            r.slot_in = max(r.slot_in, r.slot_out)
            r.decisions = {s: c for s, c in r.decisions.items() if s >= r.slot_out}
            self.acceptor.collect(r.slot_out)
            self._ready.persist.append(SnapshotRecord(
                r.slot_out, reply.snapshot, self.acceptor.ballot_number,
                tuple(pv for _, pv in sorted(self.acceptor.accepted.items())),
                tuple(sorted(r.decisions.items())), self.max_round))
            self._ready.applied.append(("snapshot", r.slot_out))
            self._trace(f"installed a snapshot at slot {r.slot_out}")
        for d in reply.decisions:
            self._decide(d)

    def _learn(self, ballot: Ballot, slot_out: int, leader: str) -> None:
        """The leader of ``ballot`` decided every slot below ``slot_out``. Where our
        acceptor accepted that slot's pvalue with the same ballot, that is the decision
        (one ballot, one command per slot); a gap is asked for (one ask at a time)."""
        r, accepted = self.replica, self.acceptor.accepted
        for slot in range(r.slot_out, slot_out):
            pv = accepted.get(slot)
            if slot in r.decisions:
                continue
            if pv is None or pv.ballot != ballot:
                break
            self._decide(Decision(slot, pv.command))
        if slot_out > r.slot_out and not self.catching_up:
            self.catching_up = True
            self._to(leader, CatchUp(r.slot_out))

    # ================================================================== the driver interface
    def tick(self) -> None:
        self.ticks += 1
        self.heard_ticks += 1
        o = self.options
        self.heartbeat_elapsed += 1
        if self.leader.active:
            self.leader_elapsed += 1
            if self.leader_elapsed >= o.election_timeout_min_ticks:
                self._check_quorum()
            if self.leader.active and self.heartbeat_elapsed >= o.heartbeat_interval_ticks:
                self._resend()
                self._heartbeat()
            return
        self.leader_elapsed += 1
        if self.leader.scout is not None:
            self.leader.scout.ticks += 1
            if self.leader.scout.ticks % o.heartbeat_interval_ticks == 0:
                self._resend()
        if self.leader_elapsed >= self.timeout:
            self._start_scout()  # nobody leads, or the scout got stuck: a new ballot

    def _check_quorum(self) -> None:
        """A leader that cannot hear from enough acceptors to decide anything (q2 - 1
        peers) within an election timeout steps down, so clients go elsewhere."""
        heard, self.heard, self.leader_elapsed = len(self.heard), set(), 0
        if heard + 1 >= self.q2:
            return
        self._trace(f"heard from {heard} peers in an election timeout: stepping down")
        self.leader.preempted()
        self.kv.abandon(None, self._ready.answers)
        for request_id, _ in self.replica.requests:
            self._ready.answers.append(Answer(request_id, error=NotLeader(None)))
        self.replica.requests.clear()
        self.known_leader = None
        self._reset_timeout()

    def on_message(self, src: NodeId, msg: Any) -> Any:
        match msg:
            case P1a():
                self._see(msg.ballot)
                return self._acceptor_p1a(src, msg)
            case P2a():
                if not msg.pvalues:
                    raise InvalidRequest("an empty P2a")
                ballot = msg.pvalues[0].ballot
                self._see(ballot)
                reply = self._acceptor_p2a(msg)
                if ballot == self.acceptor.ballot_number:
                    self._follow(ballot)
                    self._learn(ballot, msg.slot_out, src)
                return reply
            case Heartbeat():
                self._see(msg.ballot)
                if msg.ballot >= self.acceptor.ballot_number:
                    self._follow(msg.ballot)
                    self._learn(msg.ballot, msg.slot_out, src)
                return HeartbeatReply(self.acceptor.ballot_number)
            case CatchUp():
                return self._on_catch_up(msg)
        raise InvalidRequest(f"Paxos does not handle {type(msg).__name__}")

    def _follow(self, ballot: Ballot) -> None:
        """A leader with this ballot is alive: follow it, reset the election timer. A
        scout of ours gives up (the acceptors that hear that leader refuse it), unless
        nobody refuses it (no stickiness) and its ballot is higher: then it goes on, or
        dueling scouts keep abandoning each other; an active leadership of ours gives
        way only to a higher ballot."""
        if ballot.leader_id == self.node_id:
            return
        scout = self.leader.scout
        if scout is not None and ballot < scout.ballot and not self.options.stickiness:
            return  # our phase 1 outranks that leader, and no acceptor refuses it for him
        if self.leader.active or (scout is not None and not self.options.backoff):
            if ballot <= self.leader.ballot_number:
                return
            self._preempted(ballot)
        self.leader.scout = None
        self.known_leader = ballot.leader_id
        self.following, self.heard_ticks = ballot, 0
        self._reset_timeout()

    def on_reply(self, src: NodeId, request: Any, reply: Any) -> None:
        match request, reply:
            case P1a(), P1b():
                self._on_p1b(src, request, reply)
            case P2a(), P2b():
                self._on_p2b(src, request, reply)
            case Heartbeat(), HeartbeatReply():
                self._on_heartbeat_reply(src, request, reply)
            case CatchUp(), CatchUpReply():
                self._on_catch_up_reply(reply)

    def on_send_failed(self, dst: NodeId, request: Any) -> None:
        if isinstance(request, P2a):
            self._batches.pop(id(request), None)  # its pvalues are resent if still waiting
        if isinstance(request, Heartbeat):
            self._sent_at.pop(id(request), None)
        if isinstance(request, CatchUp):
            self.catching_up = False  # ask again at the next heartbeat
        # P1a and P2a are resent every heartbeat interval while they wait

    def ready(self) -> Ready:
        self._flush()
        ready, self._ready = self._ready, Ready()
        pending, self._pending = self._pending, _Unsaved()
        if ready.persist:
            pending.round = max((r.round for r in ready.persist if isinstance(r, RoundRecord)),
                                default=0)
            self._unsaved.append(pending)
        elif pending.own_p2b or pending.accepted:  # nothing to write: nothing was accepted
            self._durable(pending)
        return ready

    def on_persisted(self) -> None:
        """The oldest unsaved persist is durable: what waited for it goes on."""
        self._durable(self._unsaved.popleft())

    def _durable(self, done: _Unsaved) -> None:
        self.round_durable = max(self.round_durable, done.round)
        if self.events is not None:
            self.events.extend(("accepted", pv) for pv in done.accepted)
        for request, reply in done.own_p2b:
            self._on_p2b(self.node_id, request, reply)
    def status(self) -> NodeStatus:
        role = "leader" if self.leader.active else (
            "candidate" if self.leader.scout is not None else "follower")
        r = self.replica
        # the epoch is the ballot the node works under: its acceptor's, or the higher one
        # of a leader it follows (heartbeats do not move an acceptor's ballot)
        working = max(self.acceptor.ballot_number, self.following or self.acceptor.ballot_number)
        return NodeStatus(role=role, epoch=working.round,
                          leader_id=self.known_leader or "", details={
                              "commit_index": str(r.slot_out - 1),
                              "slot_in": str(r.slot_in), "slot_out": str(r.slot_out),
                              "ballot": str(self.acceptor.ballot_number),
                              "snapshot_slot": str(r.snapshot_slot),
                              "accepted": str(len(self.acceptor.accepted)),
                              "read_mode": self.options.read_mode,
                              "lease_reads": str(self.lease_reads),
                              "quorums": f"q1={self.q1} q2={self.q2}"},
                          leading=self.leader.active)
