"""Raft, as a sans-IO state machine: every rule of the paper's Figure 2, in its words.

Read beside "In Search of an Understandable Consensus Algorithm" (Ongaro & Ousterhout,
2014), Ongaro's thesis (2014) and course chapter 26. The core never does IO: a driver
(the asyncio shell or the simulator) calls ``tick``, ``on_message``, ``on_reply``,
``on_send_failed`` and ``submit``, then acts on ``ready()`` in the order persist -> send
-> apply -> answer (``protocols.contract.Pump``).

The class reads in the paper's order, one section per rule of Figure 2:

1. state (Figure 2, "State"), terms and roles (§5.1), and one step function per role
   (etcd's ``stepLeader``/``stepCandidate``/``stepFollower``): what each role does with
   each input, dispatched once;
2. leader election (§5.2), with the election restriction (§5.4.1), pre-vote (thesis
   §9.6) and check-quorum (thesis §6.2);
3. log replication (§5.3): AppendEntries, sender and receiver, with fast backtracking
   and pipelining (``progress.py``);
4. commitment (§5.4.2, Figure 8) by counting replicas of current-term entries
   (``quorum.py``), via a no-op at the start of each term (§8);
5. applying committed entries to the KV state machine with exactly-once sessions
   (thesis §6.3, ``protocols.kv.rsm``);
6. clients: proposals, ReadIndex and lease reads (thesis §6.4, ``reads.py``),
   leadership transfer (thesis §3.10);
7. membership change one server at a time, with learners (thesis §4, ``membership.py``);
8. log compaction: snapshots, InstallSnapshot in chunks (§7, ``snapshots.py``).
"""

from __future__ import annotations

import enum
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from protocols.common.errors import ConfigError, InvalidRequest, NotLeader, Unavailable
from protocols.common.ids import NodeId
from protocols.contract import Answer, Core, Envelope, NodeStatus, Ready
from protocols.kv.commands import KvCommand
from protocols.kv.rsm import ReplicatedKv, ReplicatedMachine
from protocols.kv.state_machine import KvStateMachine
from protocols.raft import quorum
from protocols.raft.log import RaftLog, entry_bytes
from protocols.raft.membership import configuration_at, latest_configuration, plan_change
from protocols.raft.messages import (
    AppendEntries,
    AppendEntriesReply,
    ChangeMembership,
    Entry,
    EntryKind,
    InstallSnapshot,
    InstallSnapshotReply,
    Membership,
    RequestVote,
    RequestVoteReply,
    Snapshot,
    TimeoutNow,
    TimeoutNowReply,
    TransferLeadership,
)
from protocols.raft.options import RaftOptions
from protocols.raft.progress import Progress, ReplicaState
from protocols.raft.reads import LEASE_DRIFT, PendingRead, ReadIndex, lease_holds
from protocols.raft.records import AppendEntry, HardState, SaveSnapshot, TruncateFrom
from protocols.raft.snapshots import SnapshotReceiver, SnapshotSender

__all__ = ["TICK", "Answered", "Proposal", "RaftCore", "RaftOptions", "Role", "SendFailed",
           "Tick"]


class Role(enum.StrEnum):
    """§5.1: at any time each server is a follower, a candidate or the leader; with
    pre-vote (thesis §9.6) a server first asks as a pre-candidate."""

    FOLLOWER = "follower"
    PRE_CANDIDATE = "pre-candidate"
    CANDIDATE = "candidate"
    LEADER = "leader"


# ---------------------------------------------------------------------- inputs a role decides
# What a role step function is handed besides the peers' messages themselves
# (AppendEntries, InstallSnapshot, TimeoutNow): etcd turns these into messages too (MsgBeat
# or MsgHup, MsgAppResp ..., MsgUnreachable, MsgProp).
@dataclass(frozen=True, slots=True)
class Tick:
    """One tick of the logical clock: the driver called ``tick()``."""


TICK = Tick()


@dataclass(frozen=True, slots=True)
class Answered:
    """A peer answered our ``request`` with ``reply``."""

    request: Any
    reply: Any


@dataclass(frozen=True, slots=True)
class SendFailed:
    """Our ``request`` got no reply (the driver's ``on_send_failed``)."""

    request: Any


@dataclass(frozen=True, slots=True)
class Proposal:
    """A client's command, already known to be one Raft serves."""

    request_id: Any
    command: Any  # KvCommand (or the machine's own command), ChangeMembership, ...


class RaftCore(Core):
    # ================================================================== 1. state
    def __init__(self, node_id: NodeId, peers: Sequence[NodeId], rng: random.Random,
                 options: RaftOptions, current_term: int = 0, voted_for: str | None = None,
                 entries: Sequence[Entry] = (), snapshot: Snapshot | None = None,
                 clock: Callable[[], float] | None = None, tick_s: float = 0.01,
                 machine: ReplicatedMachine | None = None) -> None:
        """``machine``: the replicated state machine the log drives (default: the KV
        store, ``protocols.kv.rsm.ReplicatedKv``); a composed system brings its own, as
        ``protocols.txnkv`` does for a range (its MVCC store and transaction records)."""
        self.node_id = node_id
        self.known_nodes = frozenset(peers) | {node_id}  # everyone we know how to reach
        self.rng = rng
        self.options = options
        self.ticks = 0  # ticks taken since start
        self.tick_s = tick_s
        # real time, for the lease only (reads.py); by default the ticks stand for it
        self.clock = clock or (lambda: self.ticks * self.tick_s)
        # persistent state on all servers (Figure 2), plus the latest snapshot (§7)
        self.current_term = current_term
        self.voted_for = voted_for
        self.snapshot = snapshot
        self.log = RaftLog((), snapshot.last_included_index if snapshot else 0,
                           snapshot.last_included_term if snapshot else 0)
        for e in entries:
            if e.index > self.log.snapshot_index:
                self.log.append(e)
        # the configuration (thesis §4.1): the latest one in the log, committed or not
        self.base_membership = snapshot.membership if snapshot else Membership(
            frozenset(options.initial_voters or self.known_nodes))
        unknown = self.base_membership.members - self.known_nodes
        if unknown:
            raise ConfigError(f"initial_voters name unknown node(s): {sorted(unknown)}")
        self.membership, self.config_index = self.base_membership, 0
        # volatile state on all servers
        self.commit_index = self.log.snapshot_index
        self.last_applied = self.log.snapshot_index
        self.role = Role.FOLLOWER
        self.leader_id: str | None = None
        if machine is None:
            machine = ReplicatedKv(KvStateMachine.restore(snapshot.data, options.max_sessions)
                                   if snapshot else None, options.max_sessions)
        elif snapshot is not None:
            machine.restore(snapshot.data)
        self.kv: ReplicatedMachine = machine
        self.incoming_snapshot = SnapshotReceiver()
        self.election_elapsed = 0
        self.randomized_timeout = 0
        self.votes: set[str] = set()
        # volatile state on leaders (reinitialized after election)
        self.progress: dict[str, Progress] = {}  # nextIndex[], matchIndex[]
        self.heartbeat_elapsed = 0
        self.reads = ReadIndex(history=4 * options.max_inflight_append + 64)
        self.transfer_target: str | None = None
        self.transfer_elapsed = 0  # ticks since the transfer started (thesis §3.10)
        self.timeout_now_term = -1  # the last term in which we sent TimeoutNow
        self.lease_reads = 0  # reads answered from the lease alone (thesis §6.4.1)
        # the driver interface: the outbox, and how far our own log is durable
        self._ready = Ready()
        self._replicate_pending = False
        self.durable_index = self.log.last_index  # our own log is on disk up to here
        self._draining: deque[int] = deque()  # last index at each drained, unsaved Ready
        self._set_membership(*latest_configuration(self.log.entries(), self.base_membership))
        self._reset_election_timer()

    @property
    def state_machine(self) -> Any:
        """The KV state machine (or the machine given, as it exposes its state)."""
        return self.kv.state_machine

    @property
    def peers(self) -> list[str]:
        """The other members (voters and learners) of the current configuration."""
        return sorted(self.membership.members - {self.node_id})

    @property
    def voters(self) -> frozenset[str]:
        return self.membership.voters

    @property
    def quorum(self) -> int:
        """A majority of the voters (thesis §4.1: of the latest configuration)."""
        return quorum.majority(self.voters)

    def _persist_hard_state(self) -> None:
        self._ready.persist.append(HardState(self.current_term, self.voted_for))

    def _send(self, peer: str, msg: Any) -> None:
        # Thesis §10.2.1: a leader's AppendEntries may go out while its own disk write of
        # the same entries is in progress: it counts its own copy toward a commit only
        # once on_persisted says it is durable. Votes and replies always wait.
        ahead = isinstance(msg, AppendEntries) and self.role is Role.LEADER
        self._ready.messages.append(Envelope(NodeId(peer), msg, ahead))

    def _trace(self, line: str) -> None:
        self._ready.trace.append(line)

    # ------------------------------------------------------------------ terms and roles (§5.1)
    def _become_follower(self, term: int, leader_id: str | None) -> None:
        """§5.1: a server that sees a larger term reverts to follower."""
        if term > self.current_term:
            self.current_term, self.voted_for = term, None
            self._persist_hard_state()
        was_leader = self.role is Role.LEADER
        self.role, self.leader_id = Role.FOLLOWER, leader_id
        self.transfer_target = None
        if was_leader:
            self._abandon_leadership()
        self._reset_election_timer()

    def _abandon_leadership(self) -> None:
        """Proposals may still commit under the next leader: their outcome is unknown."""
        self.kv.abandon(self.leader_id, self._ready.answers)
        for read in self.reads.take_all():
            self._ready.answers.append(Answer(read.request_id, error=NotLeader(self.leader_id)))
        self.progress.clear()

    # ------------------------------------------------------------------ one step function per role
    # As in etcd's raft: every input a role decides (a tick, a leader's message, a reply,
    # a request that got none, a client's command) goes to the step function of the role
    # in force, which lists all that the role does. What every role does alike comes
    # first, in the driver interface below: anyone answers RequestVote (Figure 2), and a
    # reply carrying a newer term makes any role a follower (§5.1).
    def _step(self, src: str, event: Any) -> Any:
        """Hand ``event`` to the role in force; what it returns answers a request."""
        if self.role is Role.LEADER:
            return self._step_leader(src, event)
        if self.role is Role.FOLLOWER:
            return self._step_follower(src, event)
        return self._step_candidate(src, event)  # a candidate or a pre-candidate

    def _step_follower(self, src: str, event: Any) -> Any:
        """A follower answers the leader (Figure 2's and Figure 13's receivers) and waits;
        it campaigns when its election timer runs out (§5.2) or when the leader hands over
        to it (TimeoutNow, thesis §3.10). Clients are told who leads; replies to what it
        sent in another role are stale."""
        match event:
            case Tick():
                self._tick_election()
            case AppendEntries():
                return self.on_append_entries(src, event)
            case InstallSnapshot():
                return self.on_install_snapshot(src, event)
            case TimeoutNow():
                return self.on_timeout_now(src, event)
            case Proposal():
                self._reject(event.request_id, NotLeader(self.leader_id))
        return None

    def _step_candidate(self, src: str, event: Any) -> Any:
        """A candidate (or pre-candidate, thesis §9.6) counts votes (§5.2). AppendEntries
        or InstallSnapshot from a leader of its term or a newer one means it lost: it
        becomes that leader's follower and takes the message as one (a stale one is
        refused there, by rule 1)."""
        match event:
            case Tick():
                self._tick_election()
            case AppendEntries() | InstallSnapshot():
                if event.term >= self.current_term:
                    self._become_follower(event.term, event.leader_id)
                return self._step_follower(src, event)
            case Answered(request=RequestVote() as request, reply=RequestVoteReply() as reply):
                self.on_request_vote_reply(src, request, reply)
            case TimeoutNow():
                return TimeoutNowReply(self.current_term)
            case Proposal():
                self._reject(event.request_id, NotLeader(self.leader_id))
        return None

    def _step_leader(self, src: str, event: Any) -> Any:
        """The leader sends heartbeats and checks that a majority still hears it (tick),
        moves each follower's replication on from its replies, serves clients and hands
        leadership over on request. A leader's message of a newer term (or of its own,
        which Election Safety rules out) makes it a follower of the sender."""
        match event:
            case Tick():
                self._tick_leader()
            case AppendEntries() | InstallSnapshot():
                if event.term >= self.current_term:
                    self._become_follower(event.term, event.leader_id)
                return self._step_follower(src, event)
            case Answered(request=AppendEntries() as request,
                          reply=AppendEntriesReply() as reply):
                self.on_append_entries_reply(src, request, reply)
            case Answered(request=InstallSnapshot() as request,
                          reply=InstallSnapshotReply() as reply):
                self.on_install_snapshot_reply(src, request, reply)
            case SendFailed():
                self._send_failed(src, event.request)
            case Proposal(command=TransferLeadership() as transfer):
                self._transfer(event.request_id, transfer.target)
            case Proposal(command=command):
                self._take_command(event.request_id, command)
            case TimeoutNow():
                return TimeoutNowReply(self.current_term)
        return None

    def _progress_for_reply(self, src: str, request_term: int) -> Progress | None:
        """The leader's view of ``src``, for its reply; None if the reply is to a request
        of an earlier term, or from a peer no longer in the configuration."""
        if request_term != self.current_term:
            return None
        return self.progress.get(src)

    # ================================================================== 2. leader election (§5.2)
    def tick(self) -> None:
        self.ticks += 1
        self._step(self.node_id, TICK)

    def _tick_election(self) -> None:
        """Followers and candidates: §5.2, campaign once the election timer runs out."""
        self.election_elapsed += 1
        if self.election_elapsed >= self.randomized_timeout:
            if self.node_id not in self.voters:  # learners and removed servers never campaign
                self._reset_election_timer()
                return
            self._start_election(transfer=False)

    def _reset_election_timer(self) -> None:
        """§5.2: randomized election timeouts make split votes rare."""
        o = self.options
        self.election_elapsed = 0
        self.randomized_timeout = self.rng.randrange(o.election_timeout_min_ticks,
                                                     o.election_timeout_max_ticks)

    def campaign(self) -> None:
        """Start an election now rather than at the timeout: a new group's first leader
        (a txnkv range born of a split, whose left side's leader campaigns at once, as
        CockroachDB's does)."""
        if self.role is not Role.LEADER and self.node_id in self.voters:
            self._start_election(transfer=False)

    def _start_election(self, transfer: bool) -> None:
        if self.options.pre_vote and not transfer:
            self._campaign(pre_vote=True, transfer=False)
        else:
            self._campaign(pre_vote=False, transfer=transfer)

    def _campaign(self, pre_vote: bool, transfer: bool) -> None:
        """§5.2: increment currentTerm, vote for self, reset the election timer, send
        RequestVote to all other servers. A pre-vote changes nothing (thesis §9.6)."""
        self._reset_election_timer()
        if pre_vote:
            self.role = Role.PRE_CANDIDATE
            term = self.current_term + 1  # the term we would use; nothing changes yet
        else:
            self.role = Role.CANDIDATE
            self.current_term += 1
            self.voted_for = self.node_id
            self._persist_hard_state()
            term = self.current_term
        self.leader_id = None
        self.votes = {self.node_id}
        self._trace(f"{'pre-vote' if pre_vote else 'election'} for term {term}")
        if quorum.has_quorum(self.votes, self.voters):
            self._won_votes(pre_vote)
            return
        for peer in sorted(self.voters - {self.node_id}):
            self._send(peer, RequestVote(term, self.node_id, self.log.last_index,
                                         self.log.last_term, pre_vote, transfer))

    def _won_votes(self, pre_vote: bool) -> None:
        if pre_vote:
            self._campaign(pre_vote=False, transfer=False)
        else:
            self._become_leader()

    def _heard_from_leader_recently(self) -> bool:
        """Thesis §4.2.3 / §9.6: ignore vote requests while a leader is believed alive
        (a leader always believes itself alive: its own election_elapsed is no lease).
        With lease reads, a server that just started may have heard from a leader
        before it crashed: it waits an election timeout too (reads.py)."""
        if self.role is Role.LEADER:
            return True
        min_ticks = self.options.election_timeout_min_ticks
        if self.options.read_mode == "lease" and self.ticks < min_ticks:
            return True
        return self.leader_id is not None and self.election_elapsed < min_ticks

    def on_request_vote(self, src: str, m: RequestVote) -> RequestVoteReply:
        """RequestVote RPC, receiver implementation (Figure 2)."""
        sticky = (self.options.check_quorum or self.options.pre_vote)
        if (sticky and not m.leadership_transfer and m.term > self.current_term
                and self._heard_from_leader_recently()):
            return RequestVoteReply(self.current_term, False, m.pre_vote)
        if m.term < self.current_term:  # 1. reply false if term < currentTerm
            return RequestVoteReply(self.current_term, False, m.pre_vote)
        # 2. ... and candidate's log is at least as up-to-date as receiver's log (§5.4.1)
        up_to_date = self.log.is_up_to_date(m.last_log_index, m.last_log_term)
        if m.pre_vote:  # would we vote? change nothing
            return RequestVoteReply(m.term, up_to_date, True)
        if m.term > self.current_term:
            self._become_follower(m.term, None)
        # 2. if votedFor is null or candidateId, and the log is up to date, grant vote
        granted = up_to_date and self.voted_for in (None, m.candidate_id)
        if granted:
            self.voted_for = m.candidate_id
            self._persist_hard_state()  # persisted before the reply leaves
            self._reset_election_timer()
        return RequestVoteReply(self.current_term, granted, False)

    def on_request_vote_reply(self, src: str, request: RequestVote,
                              reply: RequestVoteReply) -> None:
        """A vote (or a pre-vote) for this campaign: a majority wins it (§5.2)."""
        expected = Role.PRE_CANDIDATE if request.pre_vote else Role.CANDIDATE
        if self.role is not expected or request.term != (self.current_term + 1 if request.pre_vote
                                                         else self.current_term):
            return  # a stale reply
        if reply.vote_granted:
            self.votes.add(src)
            if quorum.has_quorum(self.votes, self.voters):  # votes from a majority
                self._won_votes(request.pre_vote)

    def _become_leader(self) -> None:
        """Figure 2, Leaders: reinitialize nextIndex and matchIndex, send heartbeats."""
        self.role, self.leader_id = Role.LEADER, self.node_id
        self._trace(f"leader for term {self.current_term}")
        self.progress = {p: Progress(next_index=self.log.last_index + 1) for p in self.peers}
        self.reads.forget_send_times()
        # heartbeats fall on the multiples of the interval in this node's ticks (the next
        # one comes sooner than a full interval, never later): the leaders of the many
        # Raft groups of one process, ticked together, then heartbeat in the same tick,
        # and the host sends their heartbeats to each peer process as one frame
        # (CockroachDB's coalesced heartbeats)
        self.heartbeat_elapsed = self.ticks % self.options.heartbeat_interval_ticks
        self.election_elapsed = 0
        # §8: a no-op lets the leader commit (and learn) everything from earlier terms
        self._append(EntryKind.NOOP, b"")
        self._broadcast_append(heartbeat=True)
        self._maybe_commit()

    def _tick_leader(self) -> None:
        """The leader: a heartbeat every heartbeat interval (§5.2), check-quorum every
        election timeout (thesis §6.2), and a transfer bounded in time (thesis §3.10)."""
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.transfer_target is not None:
            self.transfer_elapsed += 1
            if self.transfer_elapsed >= self.options.election_timeout_max_ticks:
                self._trace(f"transfer to {self.transfer_target} timed out")
                self.transfer_target = None  # it did not happen in time: carry on
        if self.options.check_quorum and self.election_elapsed >= self.randomized_timeout:
            self._check_quorum()
            if self.role is not Role.LEADER:
                return
        if self.heartbeat_elapsed >= self.options.heartbeat_interval_ticks:
            self.heartbeat_elapsed = 0
            self._broadcast_append(heartbeat=True)

    def _check_quorum(self) -> None:
        """Thesis §6.2: a leader that has not heard from a majority within an election
        timeout steps down, so a partitioned leader stops accepting requests."""
        active = {self.node_id} | {peer for peer, p in self.progress.items()
                                   if p.recently_active}
        for p in self.progress.values():
            p.recently_active = False
        self.election_elapsed = 0
        if not quorum.has_quorum(active, self.voters):
            self._trace(f"check-quorum: heard from {len(active & self.voters)} of "
                        f"{len(self.voters)} voters; step down")
            self._become_follower(self.current_term, None)

    # ================================================================== 3. log replication (§5.3)
    def _append(self, kind: EntryKind, command: bytes) -> int:
        """Leaders append client commands to their own log (Leader Append-Only, §5.3)."""
        entry = Entry(self.current_term, self.log.last_index + 1, kind, command)
        self.log.append(entry)
        self._ready.persist.append(AppendEntry(entry))
        return entry.index

    def _broadcast_append(self, heartbeat: bool) -> None:
        if heartbeat and self.options.read_mode == "lease":
            self.reads.new_round(self.clock())  # so replies tell when they heard us
        for peer in self.peers:
            self._send_append(peer, heartbeat)

    def _send_append(self, peer: str, heartbeat: bool = False) -> None:
        """Send what the follower lacks. Probing followers get one message in flight;
        replicating ones get up to ``max_inflight_append`` (pipelining)."""
        pr = self.progress.get(peer)
        if pr is None:  # no longer a member, or we are no longer the leader
            return
        if pr.next_index <= self.log.snapshot_index or pr.state is ReplicaState.SNAPSHOT:
            self._send_snapshot_chunk(peer, pr)  # §7: what it lacks is compacted
            return
        if not heartbeat and (pr.inflight >= pr.window(self.options.max_inflight_append)
                              or pr.inflight_bytes >= self.options.max_inflight_bytes):
            return
        if heartbeat and pr.state is ReplicaState.PROBE:
            pr.next_index = min(pr.next_index, self.log.last_index + 1)
        prev = pr.next_index - 1
        entries = self.log.slice(pr.next_index, self.options.max_batch_entries,
                                 self.options.max_batch_bytes)
        if not entries and not heartbeat:
            return
        small = len(entries) < self.options.max_batch_entries // 4
        if pr.inflight >= 2 and small and not heartbeat:
            return  # under load, a small batch waits for a reply in flight, which sends it
        self._send(peer, AppendEntries(self.current_term, self.node_id, prev,
                                       self.log.term_at(prev), entries, self.commit_index,
                                       self.reads.context))
        pr.inflight += 1
        pr.inflight_bytes += entry_bytes(entries)
        if pr.state is ReplicaState.REPLICATE and entries:
            pr.next_index = entries[-1].index + 1  # optimistic: the window moves on

    def on_append_entries(self, src: str, m: AppendEntries) -> AppendEntriesReply:
        """AppendEntries RPC, receiver implementation (Figure 2), on a follower (the other
        roles' step functions make the receiver one first)."""
        if m.term < self.current_term:  # 1. reply false if term < currentTerm
            return AppendEntriesReply(self.current_term, False)
        if m.term > self.current_term or self.leader_id != m.leader_id:
            self._become_follower(m.term, m.leader_id)
        self._reset_election_timer()
        if m.prev_log_index < self.log.snapshot_index:
            # the prefix up to our snapshot is committed, so it matches the leader's (§5.4)
            skip = self.log.snapshot_index - m.prev_log_index
            if skip > len(m.entries):
                return AppendEntriesReply(self.current_term, True, self.log.snapshot_index,
                                          0, 0, m.read_context)
            m = AppendEntries(m.term, m.leader_id, self.log.snapshot_index,
                              self.log.snapshot_term, m.entries[skip:], m.leader_commit,
                              m.read_context)
        # 2. reply false if log doesn't contain an entry at prevLogIndex whose term matches
        if m.prev_log_index > self.log.last_index:  # we are too short
            return AppendEntriesReply(self.current_term, False, 0, self.log.last_index + 1, 0,
                                      m.read_context)
        prev_term = self.log.term_at(m.prev_log_index)
        if prev_term != m.prev_log_term:  # a conflicting term: skip all of it at once
            first = self.log.first_index_of_term(prev_term, m.prev_log_index)
            return AppendEntriesReply(self.current_term, False, 0, first, prev_term,
                                      m.read_context)
        self._store_entries(src, m.entries)
        match = m.prev_log_index + len(m.entries)
        if m.leader_commit > self.commit_index:  # 5. commitIndex = min(leaderCommit, last new)
            self.commit_index = max(self.commit_index, min(m.leader_commit, match))
            self._apply_committed()
        return AppendEntriesReply(self.current_term, True, match, 0, 0, m.read_context)

    def _store_entries(self, src: str, entries: Sequence[Entry]) -> None:
        """Figure 2, AppendEntries receiver rules 3 and 4."""
        for entry in entries:
            if entry.index <= self.log.last_index:
                if self.log.term_at(entry.index) == entry.term:
                    continue
                # 3. an existing entry conflicts with a new one: delete it and all after
                if entry.index <= self.commit_index:
                    raise AssertionError(f"leader {src} would overwrite committed index "
                                         f"{entry.index}")
                self.log.truncate_from(entry.index)
                self.durable_index = min(self.durable_index, entry.index - 1)
                self._ready.persist.append(TruncateFrom(entry.index))
                if entry.index <= self.config_index:  # the configuration it set is gone
                    self._set_membership(*latest_configuration(self.log.entries(),
                                                               self.base_membership))
            self.log.append(entry)  # 4. append any new entries not already in the log
            self._ready.persist.append(AppendEntry(entry))
            if entry.kind == EntryKind.CONFIG:  # in force once in the log (thesis §4.1)
                self._set_membership(Membership.decode(entry.command), entry.index)

    def on_append_entries_reply(self, src: str, request: AppendEntries,
                                reply: AppendEntriesReply) -> None:
        pr = self._progress_for_reply(src, request.term)
        if pr is None:
            return
        pr.recently_active = True
        if self.reads.ack(src, reply.read_context, self._is_quorum, self.clock(), self.node_id):
            self._send_read_round()
        if pr.state is ReplicaState.SNAPSHOT:  # a late reply from before the transfer:
            self._serve_reads()  # its window (inflight) is the chunk's, not ours to touch
            return
        pr.inflight = max(0, pr.inflight - 1)
        pr.inflight_bytes = max(0, pr.inflight_bytes - entry_bytes(request.entries))
        sent = self.reads.sent_at.get(reply.read_context, float("-inf"))
        pr.lease_from = max(pr.lease_from, sent)
        if reply.success:
            pr.match_index = max(pr.match_index, reply.match_index)
            pr.next_index = max(pr.next_index, pr.match_index + 1)
            pr.become_replicate()
            self._maybe_commit()
            if self.transfer_target == src and pr.match_index == self.log.last_index:
                self._send_timeout_now(src)
        else:
            self._back_up(pr, reply)
        self._serve_reads()
        self._send_append(src)

    def _back_up(self, pr: Progress, reply: AppendEntriesReply) -> None:
        """Fast backtracking: jump over the follower's whole conflicting term (§5.3)."""
        next_index = reply.conflict_index
        if reply.conflict_term:
            last = self.log.last_index_of_term(reply.conflict_term)
            if last:
                next_index = last + 1
        pr.become_probe(max(pr.match_index + 1, min(next_index, self.log.last_index + 1), 1))

    def _send_failed(self, dst: str, request: Any) -> None:
        """The leader: a request to ``dst`` got no reply, so what it carried is not in
        flight any more."""
        pr = self.progress.get(dst)
        if pr is None:
            return
        if isinstance(request, InstallSnapshot):
            pr.inflight = 0  # the chunk is resent at the next heartbeat
        elif isinstance(request, AppendEntries) and pr.state is not ReplicaState.SNAPSHOT:
            pr.inflight = max(0, pr.inflight - 1)
            pr.inflight_bytes = max(0, pr.inflight_bytes - entry_bytes(request.entries))
            if pr.state is ReplicaState.REPLICATE:  # part of the window was lost: probe
                pr.become_probe(pr.match_index + 1)  # from what is known to match

    # ================================================================== 4. commitment (§5.4)
    def _maybe_commit(self) -> None:
        """§5.4.2 / Figure 8: commit N only if log[N].term == currentTerm and a majority
        has matchIndex >= N. Earlier entries commit with it (Log Matching). N is the
        highest index a majority of voters holds; if its term is older, so are all
        before it, and nothing can be committed by counting yet."""
        match = {peer: p.match_index for peer, p in self.progress.items()}
        match[self.node_id] = min(self.log.last_index, self.durable_index)  # once on disk
        n = quorum.committed_index(match, self.voters)
        if n > self.commit_index and self.log.term_at(n) == self.current_term:
            self.commit_index = n
            self._apply_committed()
            self._step_down_if_removed()

    # ================================================================== 5. applying
    def _apply_committed(self) -> None:
        """All servers: while commitIndex > lastApplied, apply log[lastApplied + 1]."""
        while self.last_applied < self.commit_index:
            self.last_applied += 1
            entry = self.log.entry(self.last_applied)
            if entry.kind == EntryKind.NORMAL:
                self.kv.apply(entry.index, entry.term, entry.command, self._ready.answers)
            elif entry.kind == EntryKind.CONFIG:
                self.kv.settle(entry.index, entry.term, Membership.decode(entry.command),
                               self._ready.answers)
            self._ready.applied.append(entry)
        if self.role is Role.LEADER:
            self._serve_reads()
        self._maybe_snapshot()

    # ================================================================== 6. clients (§8, thesis §6)
    def submit(self, request_id: Any, command: Any) -> None:
        if not (isinstance(command, ChangeMembership | TransferLeadership)
                or self.kv.accepts(command)):
            self._reject(request_id, InvalidRequest(
                f"Raft serves {self.kv.serves}, ChangeMembership and TransferLeadership, "
                f"not {type(command).__name__}"))
            return
        self._step(self.node_id, Proposal(request_id, command))

    def _take_command(self, request_id: Any, command: Any) -> None:
        """The leader: a client's command, unless it is handing leadership over (thesis
        §3.10: it stops taking requests meanwhile)."""
        if self.transfer_target is not None:
            self._reject(request_id, NotLeader(self.leader_id))
            return
        if isinstance(command, ChangeMembership):
            self._change_membership(request_id, command)
        elif isinstance(command, KvCommand) and command.is_read:
            self._read(request_id, command.key)
        else:  # a command validated its sizes: an entry is at most MAX_COMMAND_BYTES
            self._propose(request_id, EntryKind.NORMAL, command.encode(), decoded=command)

    def _propose(self, request_id: Any, kind: EntryKind, command: bytes,
                 configuration: Membership | None = None,
                 decoded: Any = None) -> None:
        """Append a command; its proposer is answered once it is applied. Entries
        proposed before the driver next drains the outbox travel together, behind one
        fsync and one AppendEntries per follower (batching, see ``ready()``). ``decoded``:
        the client's command, so applying it here need not decode the bytes again."""
        index = self._append(kind, command)
        if configuration is not None:  # in force from the moment it is appended (§4.1)
            self._set_membership(configuration, index)
        self.kv.propose(index, self.current_term, request_id, decoded)
        self._replicate_pending = True  # nothing more commits until it is on our disk:
        # on_persisted counts again (and under a new configuration, its new quorum)

    def _reject(self, request_id: Any, error: Exception) -> None:
        self._ready.answers.append(Answer(request_id, error=error))

    def _read(self, request_id: Any, key: str) -> None:
        """Thesis §6.4: record commitIndex, confirm leadership with a heartbeat round,
        then answer once the state machine has applied up to that index."""
        if self.options.read_mode == "local":  # unsafe on purpose: no round, no lease
            self._ready.answers.append(Answer(request_id, self.kv.read(key)))
            return
        if self._lease_valid() and self.log.term_at(self.commit_index) == self.current_term:
            self.lease_reads += 1
            self._trace(f"lease read of {key!r}")
            self._ready.answers.append(Answer(request_id, self.kv.read(key)))
            return
        read = PendingRead(request_id, key, self.commit_index)
        if self.reads.request(read, self.clock(), self.node_id):
            self._send_read_round()

    def _send_read_round(self) -> None:
        """Confirm leadership for the reads of the newest round: a heartbeat to every
        peer, numbered by the round (a lone voter confirms it alone)."""
        if quorum.has_quorum({self.node_id}, self.voters):
            self.reads.ack(self.node_id, self.reads.context, self._is_quorum, self.clock(),
                           self.node_id)
            self._serve_reads()
            return
        for peer in self.peers:
            self._send_append(peer, heartbeat=True)

    def _is_quorum(self, nodes: set[str]) -> bool:
        return quorum.has_quorum(nodes, self.voters)

    def _lease_valid(self) -> bool:
        """Thesis §6.4.1 lease reads, under the clock assumption stated in reads.py: the
        lease runs on our monotonic clock from when we sent the round a majority
        answered, for 80% of the minimum election timeout; never after we sent
        TimeoutNow in this term (its election skips leader stickiness)."""
        if self.options.read_mode != "lease" or self.transfer_target is not None:
            return False
        if self.node_id not in self.voters or self.timeout_now_term == self.current_term:
            return False
        lease_s = self.options.election_timeout_min_ticks * self.tick_s * (1 - LEASE_DRIFT)
        starts = [p.lease_from for peer, p in self.progress.items() if peer in self.voters]
        return lease_holds(starts, self.quorum, self.clock(), lease_s)

    def _serve_reads(self) -> None:
        """A read is served once confirmed, once the leader has committed an entry of its
        own term (so commitIndex is current, §8), and once applied up to its index."""
        if not self.reads.pending or self.log.term_at(self.commit_index) != self.current_term:
            return
        for read in self.reads.take_servable(self.last_applied):
            self._ready.answers.append(Answer(read.request_id, self.kv.read(read.key)))

    def _transfer(self, request_id: Any, target: str) -> None:
        """Thesis §3.10: stop taking requests, bring the target up to date, TimeoutNow."""
        if target == self.node_id:  # it leads already: done (etcd ignores it likewise)
            self._ready.answers.append(Answer(request_id, target))
            return
        if target not in self.progress or target not in self.voters:
            self._reject(request_id, InvalidRequest(
                f"cannot transfer leadership to {target!r}: not a voting peer of "
                f"{self.node_id}"))
            return
        self.transfer_target, self.transfer_elapsed = target, 0
        if self.progress[target].match_index == self.log.last_index:
            self._send_timeout_now(target)
        else:
            self._send_append(target, heartbeat=True)
        self._ready.answers.append(Answer(request_id, target))

    def _send_timeout_now(self, target: str) -> None:
        """Thesis §3.10: the target starts an election at once, and its voters skip leader
        stickiness for it, so from now on this term's lease proves nothing."""
        self.timeout_now_term = self.current_term
        self._send(target, TimeoutNow(self.current_term, self.node_id))

    def on_timeout_now(self, src: str, m: TimeoutNow) -> TimeoutNowReply:
        """A follower: the leader of our term hands over, so we campaign at once, with
        no pre-vote, and its voters skip stickiness for us (thesis §3.10)."""
        if m.term == self.current_term:
            self._campaign(pre_vote=False, transfer=True)
        return TimeoutNowReply(self.current_term)

    # ================================================================== 7. membership (thesis §4)
    def _set_membership(self, membership: Membership, index: int) -> None:
        if membership != self.membership:
            self._trace(f"configuration at {index}: {membership.describe()}")
        self.membership, self.config_index = membership, index
        if self.role is Role.LEADER:  # replicate to new members, forget removed ones
            for peer in self.peers:
                if peer not in self.progress:
                    self.progress[peer] = Progress(next_index=self.log.last_index + 1)
            for gone in set(self.progress) - set(self.peers):
                del self.progress[gone]

    def _change_membership(self, request_id: Any, change: ChangeMembership) -> None:
        """Thesis §4.1: one server at a time, one change in flight, and (§4.1's fix, Ongaro
        2015) only once the leader has committed an entry of its own term."""
        if self.config_index > self.commit_index:
            self._reject(request_id, Unavailable(f"the membership change at index "
                                                 f"{self.config_index} is not committed yet",
                                                 refused=True))
            return
        if self.log.term_at(self.commit_index) != self.current_term:
            self._reject(request_id, Unavailable("the new leader has not committed an "
                                                 "entry of its term yet", refused=True))
            return
        plan = plan_change(self.membership, change, self.known_nodes,
                           lambda n: self.progress[n].match_index if n in self.progress else 0,
                           self.commit_index)
        if isinstance(plan, Exception):
            self._reject(request_id, plan)
        elif plan == self.membership:
            self._ready.answers.append(Answer(request_id, plan))  # already so
        else:
            self._propose(request_id, EntryKind.CONFIG, plan.encode(), configuration=plan)

    def _step_down_if_removed(self) -> None:
        """Thesis §4.2.2: a leader that is not in the configuration it just committed
        hands over; it managed the cluster, without counting itself, until then."""
        if self.role is Role.LEADER and self.node_id not in self.voters \
                and self.commit_index >= self.config_index:
            self._trace("removed from the configuration: step down")
            self._become_follower(self.current_term, None)

    # ================================================================== 8. log compaction (§7)
    def _maybe_snapshot(self) -> None:
        """§7: each server snapshots its own committed state once enough has been applied
        since the last snapshot, then discards the log up to there."""
        threshold = self.options.snapshot_threshold
        if not threshold or self.last_applied - self.log.snapshot_index < threshold:
            return
        index = self.last_applied
        self.snapshot = Snapshot(index, self.log.term_at(index),
                                 configuration_at(self.log.entries(), index,
                                                  self.base_membership),
                                 self.kv.snapshot())
        self.base_membership = self.snapshot.membership
        self.log.compact(index, self.snapshot.last_included_term)
        self._persist_snapshot()
        self._trace(f"snapshot at {index}; log compacted")

    def _persist_snapshot(self) -> None:
        assert self.snapshot is not None
        self._ready.persist.append(SaveSnapshot(
            self.snapshot, HardState(self.current_term, self.voted_for),
            tuple(self.log.entries())))

    def _send_snapshot_chunk(self, peer: str, pr: Progress) -> None:
        """Figure 13, leader side: one chunk in flight; the reply says where to go on."""
        if pr.snapshot is None:
            assert self.snapshot is not None, "entries compacted without a snapshot"
            pr.become_snapshot(SnapshotSender(self.snapshot))
            self._trace(f"sending snapshot at {self.snapshot.last_included_index} to {peer}")
        if pr.inflight or pr.snapshot is None:
            return
        self._send(peer, pr.snapshot.chunk(self.current_term, self.node_id,
                                           self.options.snapshot_chunk_bytes))
        pr.inflight = 1

    def on_install_snapshot(self, src: str, m: InstallSnapshot) -> InstallSnapshotReply:
        """InstallSnapshot RPC, receiver implementation (Figure 13). Chunks are gathered in
        memory; the whole snapshot is written atomically once the last one arrives."""
        if m.term < self.current_term:  # 1. reply immediately if term < currentTerm
            return InstallSnapshotReply(self.current_term)
        if m.term > self.current_term or self.leader_id != m.leader_id:
            self._become_follower(m.term, m.leader_id)
        self._reset_election_timer()
        if m.last_included_index <= self.commit_index:  # we already have all of it
            return InstallSnapshotReply(self.current_term, 0, m.last_included_index)
        next_offset, snap = self.incoming_snapshot.receive(src, m)  # 2.-4.
        if snap is None:
            return InstallSnapshotReply(self.current_term, next_offset)
        self._install_snapshot(snap)
        return InstallSnapshotReply(self.current_term, next_offset, m.last_included_index)

    def _install_snapshot(self, snap: Snapshot) -> None:
        """Figure 13 steps 5-8."""
        index, term = snap.last_included_index, snap.last_included_term
        if index <= self.log.last_index and self.log.term_at(index) == term:
            self.log.compact(index, term)  # 6. retain log entries following it
        else:
            self.log.reset(index, term)  # 7. discard the entire log
        self.snapshot, self.base_membership = snap, snap.membership
        self.kv.restore(snap.data)  # 8. reset the state machine using snapshot contents
        self.commit_index = max(self.commit_index, index)
        self.last_applied = index
        # 8. ... and load the snapshot's cluster configuration
        self._set_membership(*latest_configuration(self.log.entries(), self.base_membership))
        self._persist_snapshot()  # 5. save the snapshot file (before the reply leaves)
        self._ready.applied.append(snap)
        self._trace(f"installed snapshot at {index} (term {term})")

    def on_install_snapshot_reply(self, src: str, request: InstallSnapshot,
                                  reply: InstallSnapshotReply) -> None:
        pr = self._progress_for_reply(src, request.term)
        if pr is None:
            return
        pr.inflight, pr.recently_active = 0, True
        if pr.snapshot is None:
            return  # a duplicate reply after the transfer finished
        if reply.match_index:
            pr.snapshot_done(reply.match_index)
            self._maybe_commit()
        else:
            pr.snapshot.offset = reply.next_offset
        self._send_append(src)

    # ================================================================== the driver interface
    def on_message(self, src: NodeId, msg: Any) -> Any:
        match msg:
            case RequestVote():  # every role answers it alike (Figure 2)
                return self.on_request_vote(src, msg)
            case AppendEntries() | InstallSnapshot() | TimeoutNow():
                return self._step(src, msg)
        raise InvalidRequest(f"Raft does not handle {type(msg).__name__}")

    def on_reply(self, src: NodeId, request: Any, reply: Any) -> None:
        """Every role: a reply with a newer term makes us a follower (§5.1), except a
        granted pre-vote, which carries the term we would campaign in (thesis §9.6).
        Otherwise the role decides what the reply means."""
        if reply.term > self.current_term and not (
                isinstance(reply, RequestVoteReply) and reply.pre_vote and reply.vote_granted):
            self._become_follower(reply.term, None)
            return
        self._step(src, Answered(request, reply))

    def on_send_failed(self, dst: NodeId, request: Any) -> None:
        self._step(dst, SendFailed(request))

    def ready(self) -> Ready:
        if self._replicate_pending:
            self._replicate_pending = False
            if self.role is Role.LEADER:
                for peer in self.peers:
                    self._send_append(peer)
        ready, self._ready = self._ready, Ready()
        if ready.persist:
            self._draining.append(self.log.last_index)
        return ready

    def on_persisted(self) -> None:
        """The driver wrote the oldest drained Ready's persist to disk (thesis §10.2.1):
        our log is durable up to what it held, so our own copy may now count."""
        if self._draining:
            self.durable_index = self._draining.popleft()
        if self.role is Role.LEADER:
            self._maybe_commit()

    def status(self) -> NodeStatus:
        """Figure 2's state by name; on a leader, each follower's next_index/match_index."""
        details = {"commit_index": str(self.commit_index),
                   "last_applied": str(self.last_applied),
                   "voted_for": self.voted_for or "",
                   "last_log_index": str(self.log.last_index),
                   "last_log_term": str(self.log.last_term),
                   "read_mode": self.options.read_mode,
                   "lease_reads": str(self.lease_reads),
                   "snapshot_index": str(self.log.snapshot_index),
                   "log_entries_in_memory": str(len(self.log)),
                   "voters": ",".join(sorted(self.voters)),
                   "learners": ",".join(sorted(self.membership.learners))}
        for peer, pr in sorted(self.progress.items()):
            details[f"next_index.{peer}"] = str(pr.next_index)
            details[f"match_index.{peer}"] = str(pr.match_index)
        if self.transfer_target is not None:
            details["transfer_target"] = self.transfer_target
        return NodeStatus(role=self.role.value, epoch=self.current_term,
                          leader_id=self.leader_id or "", details=details,
                          leading=self.role is Role.LEADER)
