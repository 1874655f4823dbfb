"""A txnkv node: the replicas of the ranges it hosts (a Raft group each) and a
transaction coordinator, behind one hybrid logical clock.

Many Raft groups live in this one core (``docs/adding-a-protocol.md``, "A core inside a
core"): a range's Raft messages travel wrapped in ``RangeRaft`` with the range's id, and
its persist records in ``RangeRecord``; ``ready()`` drains every range's core into one
``Ready``, so what this node sends a peer in one turn leaves as one frame. The
coordinator's requests to a leaseholder are ``BatchRequest``s, answered by a deferred
``BatchResponse`` once the range has evaluated (and, for writes, committed) them; a
request for a range this node hosts itself is delivered in process.

The clock: every request and response carries the sender's HLC; the receiver takes it
in, and refuses a message from further ahead than ``max_offset_ms``
(``ClockOffsetError``). And every node compares its physical clock with each peer's now
and then (``ClockCheck``): one beyond the bound from most of its peers is the one out of
sync, and refuses to serve (CockroachDB's nodes stop themselves so): its leases lapse, it
hands the Raft leadership of its ranges over, and it refuses transactions, until its
clock is back within the bound.
"""

from __future__ import annotations

import copy
import enum
import random
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from protocols.clocks.hlc import ClockOffsetError, HLCTimestamp, HybridLogicalClock
from protocols.common.errors import InvalidRequest, Unavailable
from protocols.common.ids import NodeId
from protocols.common.options import Options, option
from protocols.contract import Answer, Core, Deferred, Envelope, NodeStatus, Ready, Reply
from protocols.raft.core import RaftCore, Role
from protocols.raft.messages import TransferLeadership
from protocols.raft.options import RaftOptions
from protocols.raft.storage import RecoveredState
from protocols.twopc.messages import Transact
from protocols.txnkv.coordinator import Coordinator, CoordinatorSettings
from protocols.txnkv.messages import (
    BatchRequest,
    BatchResponse,
    ClockCheck,
    ClockCheckReply,
    Err,
    RangeRaft,
    RangeRaftReply,
    Split,
)
from protocols.txnkv.observed import prevented_note, record_note
from protocols.txnkv.ranges import RangeDescriptor, learn, static_split
from protocols.txnkv.record import TxnStatus
from protocols.txnkv.replica import RangeMachine, Replica, ReplicaSettings

__all__ = ["CommitMode", "Isolation", "RangeRecord", "RangeSeed", "TxnKvCore", "TxnKvOptions",
           "serving_ranges"]


class CommitMode(enum.StrEnum):
    PARALLEL = "parallel"  # one consensus round to commit (RFC "Parallel Commits")
    TWO_ROUND = "two-round"  # the record PENDING beside the writes, then COMMITTED


class Isolation(enum.StrEnum):
    SERIALIZABLE = "serializable"
    SNAPSHOT = "snapshot"  # a pushed write commits higher without re-reading: write skew


@dataclass(frozen=True, slots=True)
class TxnKvOptions(Options):
    protocol = "txnkv"

    splits: tuple[str, ...] = option(("h", "p"), "the keys that start each range after the "
                                     "first (a static split: ['', h), [h, p), [p, ...))")
    replication: int = option(3, "replicas per range (a Raft group each)", min=1)
    commit: CommitMode = option(CommitMode.PARALLEL, "parallel commits, or the two-round "
                                "commit for comparison")
    isolation: Isolation = option(Isolation.SERIALIZABLE, "serializable, or snapshot")
    max_offset_ms: int = option(250, "the bound on clock offsets: uncertainty interval, "
                                "lease stasis, and messages refused beyond it", min=0)
    clock_offset_ms: int = option(0, "this node's clock skew (a fault to inject)")
    lease_ms: int = option(2000, "a range lease's length (extended at half)", min=1)
    txn_ttl_ms: int = option(1000, "a record without a heartbeat this long is abandoned: "
                             "others abort or recover it", min=1)
    heartbeat_ms: int = option(250, "the coordinator's heartbeat period", min=1)
    max_attempts: int = option(8, "restarts before a transaction is refused", min=1)
    backoff_ticks: int = option(5, "the first wait before a restart or a retried push "
                                "(it doubles up to 8x, with jitter)", min=1)
    txn_timeout_ms: int = option(1500, "no attempt of a transaction starts this long after "
                                 "its client asked (it is refused instead)", min=1)
    explicit_commit_delay_ms: int = option(
        0, "fault injection: hold a parallel commit's explicit commit this long after the "
        "client is answered (a coordinator killed meanwhile leaves its records STAGING)",
        min=0)
    clock_check_ticks: int = option(50, "how often a node compares its clock with each "
                                    "peer's (ClockCheck)", min=1)
    election_timeout_min_ticks: int = option(30, "each range's Raft election timeout "
                                             "(from)", min=1)
    election_timeout_max_ticks: int = option(60, "... (to)", min=2)
    heartbeat_interval_ticks: int = option(10, "each range's Raft heartbeat", min=1)
    fsync: bool = option(True, "fsync every write (false: faster, and not durable)")


@dataclass(frozen=True, slots=True)
class RangeRecord:
    """A range's Raft persist record (``HardState``, ``AppendEntry`` ...), tagged."""

    range_id: str
    record: Any


@dataclass(frozen=True, slots=True)
class RangeSeed:
    """A range born of a split: its state when it split off (``RangeMachine.snapshot``),
    its log's starting point. Written before anything of its Raft group, so a node that
    restarts finds the range and replays its log on top of it."""

    range_id: str
    state: bytes


class TxnKvCore(Core):
    def __init__(self, node_id: NodeId, peers: Sequence[NodeId], rng: random.Random,
                 options: TxnKvOptions, recovered: dict[str, RecoveredState],
                 clock: Callable[[], float], tick_s: float = 0.01,
                 seeds: dict[str, bytes] | None = None) -> None:
        """``seeds``: the ranges born of splits that this node hosts (their
        ``RangeSeed``s, as storage found them), beside the static split's."""
        self.node_id, self.options, self.clock, self.tick_s = node_id, options, clock, tick_s
        self.peers = tuple(NodeId(p) for p in peers)
        self.skew_ms = options.clock_offset_ms  # the nemesis may move it (a clock fault)
        self.hlc = HybridLogicalClock(options.max_offset_ms)
        self.ticks = 0
        self.offsets: dict[str, tuple[bool, int]] = {}  # peer -> (beyond the bound?, tick)
        self._suspect = False
        self.ranges = static_split([node_id, *peers], options.splits, options.replication)
        self.settings = ReplicaSettings(options.max_offset_ms, options.lease_ms,
                                        options.txn_ttl_ms)
        self.rng = random.Random(rng.getrandbits(64))
        self.recovered = recovered
        self.replicas: dict[str, Replica] = {}
        for desc in self.ranges:
            if node_id in desc.replicas:
                self.replicas[desc.range_id] = self._replica(RangeMachine(desc))
        for blob in (seeds or {}).values():
            machine = RangeMachine(RangeDescriptor("", "", None, ()))
            machine.restore(blob)
            self.replicas[machine.desc.range_id] = self._replica(machine)
            self.ranges = learn(self.ranges, [machine.desc])
        self.recovered = {}  # used: a range born later starts empty
        self.coordinator = Coordinator(
            node_id, self.ranges, self.now, random.Random(rng.getrandbits(64)),
            CoordinatorSettings(options.commit.value, options.isolation.value,
                                options.txn_ttl_ms, options.heartbeat_ms,
                                options.max_attempts, txn_timeout_ms=options.txn_timeout_ms,
                                tick_ms=max(1, round(tick_s * 1000)),
                                explicit_commit_delay_ms=options.explicit_commit_delay_ms,
                                backoff_ticks=options.backoff_ticks),
            self._send_batch, self._answer, self._trace)
        self._ready = Ready()
        self._draining: deque[list[str]] = deque()
        self._calls: dict[int, tuple[BatchRequest, Callable[[BatchResponse | None], None]]] = {}
        self._local: dict[Deferred, Callable[[BatchResponse | None], None]] = {}
        self._rpc_ids = 0
        self.clock_refusals = 0

    def _replica(self, machine: RangeMachine) -> Replica:
        desc, o = machine.desc, self.options
        raft_options = RaftOptions.from_mapping({
            "election_timeout_min_ticks": o.election_timeout_min_ticks,
            "election_timeout_max_ticks": o.election_timeout_max_ticks,
            "heartbeat_interval_ticks": o.heartbeat_interval_ticks,
            "snapshot_threshold": 0, "fsync": o.fsync}, list(desc.replicas))
        state = self.recovered.get(desc.range_id) or RecoveredState()
        peers = [NodeId(n) for n in desc.replicas if n != self.node_id]
        raft = RaftCore(self.node_id, peers, random.Random(self.rng.getrandbits(64)),
                        raft_options, state.current_term, state.voted_for, state.entries,
                        state.snapshot, clock=self.clock, tick_s=self.tick_s, machine=machine)
        replica = Replica(self.node_id, raft, machine, self.settings)
        replica.out_of_sync = self._out_of_sync
        return replica

    def _out_of_sync(self) -> bool:
        return bool(self.clock_suspect())

    # ------------------------------------------------------------------ splits
    def _born(self, parent: Replica, machine: RangeMachine) -> None:
        """A split applied here: the right-hand side becomes a range of this node, a
        Raft group of the same replicas, seeded with its state (see ``RangeSeed``). A
        replay after a restart finds it already here: nothing to do."""
        rid = machine.desc.range_id
        self.ranges = learn(self.ranges, [parent.desc, machine.desc])
        self.coordinator.learn([parent.desc, machine.desc])
        if rid in self.replicas:
            return
        self._ready.persist.append(RangeSeed(rid, machine.snapshot()))  # before its log
        replica = self.replicas[rid] = self._replica(machine)
        if parent.tscache is not None and parent.serving_sequence == machine.lease.sequence:
            # the reads this node served on the moved keys bind the new range's writes
            replica.tscache = copy.deepcopy(parent.tscache)
            replica.serving_sequence = parent.serving_sequence
        if parent.raft.role is Role.LEADER:  # CockroachDB: the left side's leader
            replica.raft.campaign()          # campaigns for the right side at once
        self._trace(f"{parent.desc.range_id}: split at {machine.desc.start!r}: "
                    f"{machine.desc.describe()}")

    # ------------------------------------------------------------------ the clock
    def physical(self) -> int:
        """This node's physical clock, in ms, with its injected skew."""
        return int(self.clock() * 1000) + self.skew_ms

    def clock_suspect(self) -> list[str]:
        """The peers whose clocks, measured in the last few seconds, are beyond the bound
        from ours, if they are most of our peers (then we are the one out of sync), else
        nothing: ``[]`` means this node may serve."""
        recent = 3 * self.options.clock_check_ticks + 100
        far = [p for p, (beyond, at) in sorted(self.offsets.items())
               if self.ticks - at <= recent and beyond]
        return far if self.peers and 2 * len(far) > len(self.peers) else []

    def _measured(self, peer: str, sent: int, theirs: int) -> None:
        """Cristian's algorithm: the peer read ``theirs`` somewhere between our ``sent``
        and now, so its offset is ``theirs`` minus the midpoint, give or take half the
        round trip; beyond the bound only if beyond it by more than that."""
        now = self.physical()
        offset = theirs - (sent + now) / 2
        beyond = abs(offset) - (now - sent) / 2 > self.options.max_offset_ms
        self.offsets[peer] = (beyond, self.ticks)

    def now(self) -> HLCTimestamp:
        return self.hlc.now(self.physical())

    def _observe(self, ts: HLCTimestamp) -> bool:
        """Take a peer's timestamp in; False (and nothing changes) if it is further ahead
        of our clock than the bound allows."""
        try:
            self.hlc.update(ts, self.physical())
        except ClockOffsetError as e:
            self.clock_refusals += 1
            self._trace(f"clock: {e}")
            return False
        return True

    # ------------------------------------------------------------------ inputs
    def tick(self) -> None:
        self.ticks += 1
        if self.ticks % self.options.clock_check_ticks == 0:
            for peer in self.peers:
                self._ready.messages.append(Envelope(peer, ClockCheck(self.physical())))
        suspect = bool(self.clock_suspect())
        if suspect != self._suspect:
            self._suspect = suspect
            self._trace(f"clock {'beyond the bound: stop serving' if suspect else 'back'}")
        now = self.now()
        for replica in self.replicas.values():
            replica.raft.tick()
            if suspect and replica.raft.role is Role.LEADER:
                self._hand_over(replica)
            replica.tick(now)
        self.coordinator.tick()

    def _hand_over(self, replica: Replica) -> None:
        """A leader whose clock is out of bounds hands its range to another replica
        (thesis §3.10), once per election timeout."""
        if self.ticks % self.options.election_timeout_min_ticks:
            return
        others = [n for n in replica.desc.replicas if n != self.node_id]
        if others:
            target = others[self.ticks // self.options.election_timeout_min_ticks
                            % len(others)]
            replica.raft.submit(("handover", replica.desc.range_id, self.ticks),
                                TransferLeadership(target))

    def on_message(self, src: NodeId, msg: Any) -> Any:
        match msg:
            case RangeRaft(range_id=rid, msg=inner):
                replica = self.replicas.get(rid)
                if replica is None:
                    raise InvalidRequest(f"{self.node_id} hosts no replica of {rid}")
                reply = replica.raft.on_message(src, inner)
                return None if reply is None else RangeRaftReply(rid, reply)
            case ClockCheck(physical=physical):
                return ClockCheckReply(self.physical(), physical)
            case BatchRequest():
                if not self._observe(msg.header.now):
                    return BatchResponse(error=Err("clock-offset", f"{self.node_id} refuses "
                                                   f"a request stamped {msg.header.now!r}"),
                                         now=self.now())
                return self._on_batch(msg)
        raise InvalidRequest(f"txnkv does not handle {type(msg).__name__}")

    def _on_batch(self, msg: BatchRequest) -> BatchResponse | Deferred:
        replica = self.replicas.get(msg.range_id)
        if replica is None:
            return BatchResponse(error=Err("not-leaseholder", f"{self.node_id} hosts no "
                                           f"replica of {msg.range_id}"), now=self.now())
        deferred = Deferred(msg.range_id)
        replica.on_request(msg, deferred, self.now())
        return deferred

    def on_reply(self, src: NodeId, request: Any, reply: Any) -> None:
        if isinstance(reply, ClockCheckReply):
            self._measured(src, reply.sent, reply.physical)
            return
        if isinstance(request, RangeRaft):
            replica = self.replicas.get(request.range_id)
            if replica is not None and isinstance(reply, RangeRaftReply):
                replica.raft.on_reply(src, request.msg, reply.msg)
            return
        if isinstance(request, BatchRequest):
            call = self._calls.pop(request.rpc, None)
            if call is None:
                return
            if isinstance(reply, BatchResponse) and not self._observe(reply.now):
                reply = None
            call[1](reply)

    def on_send_failed(self, dst: NodeId, request: Any) -> None:
        if isinstance(request, RangeRaft):
            replica = self.replicas.get(request.range_id)
            if replica is not None:
                replica.raft.on_send_failed(dst, request.msg)
        elif isinstance(request, BatchRequest):
            call = self._calls.pop(request.rpc, None)
            if call is not None:
                call[1](None)

    def submit(self, request_id: Any, command: Any) -> None:
        if isinstance(command, Split):  # an admin command: split a range at a key
            self.coordinator.split(request_id, command.key)
            return
        if not isinstance(command, Transact):
            self._answer(request_id, None, InvalidRequest(
                f"txnkv takes Transact or Split, not {type(command).__name__}"))
            return
        if not command.ops:
            self._answer(request_id, None, InvalidRequest("an empty transaction"))
            return
        far = self.clock_suspect()
        if far:
            self._answer(request_id, None, Unavailable(
                f"{self.node_id}'s clock is beyond max_offset_ms from {', '.join(far)}: it "
                f"serves nothing until it is back", refused=True))
            return
        self.coordinator.submit(request_id, command.ops)

    # ------------------------------------------------------------------ the coordinator's IO
    def _send_batch(self, node: str, request: BatchRequest,
                    done: Callable[[BatchResponse | None], None]) -> None:
        if node == self.node_id:  # our own replica: no network
            result = self._on_batch(request)
            if isinstance(result, Deferred):
                self._local[result] = done
            else:
                done(result)
            return
        self._rpc_ids += 1
        request = replace(request, rpc=self._rpc_ids)
        self._calls[self._rpc_ids] = (request, done)
        self._ready.messages.append(Envelope(NodeId(node), request))

    def _answer(self, request_id: Any, result: Any, error: Exception | None) -> None:
        self._ready.answers.append(Answer(request_id, result, error))

    def _trace(self, line: str) -> None:
        self._ready.trace.append(line)

    # ------------------------------------------------------------------ the outbox
    def ready(self) -> Ready:
        """Drain every range's Raft core, deliver the leaseholders' replies (to peers, or
        to our own coordinator), and repeat until nothing moves: a reply may start the
        coordinator's next request, and an applied command the next evaluation."""
        persisted: list[str] = []
        for _ in range(100):
            moved = False
            now = self.now()
            for rid, replica in list(self.replicas.items()):  # a split may add one
                moved |= self._drain(rid, replica, now, persisted)
            for replica in list(self.replicas.values()):
                replies, replica.replies = replica.replies, []
                for deferred, response in replies:
                    moved = True
                    done = self._local.pop(deferred, None)
                    if done is not None:
                        done(response)
                    else:
                        self._ready.replies.append(Reply(deferred, response))
            if not moved or self._ready.answers:
                # a client's answer leaves now: what its coordinator proposed since (the
                # explicit commit of a parallel commit) goes in the next Ready, so the
                # answer does not wait for that write's fsync (the pump persists first)
                break
        out, self._ready = self._ready, Ready()
        if out.persist:
            self._draining.append(persisted)
        return out

    def _drain(self, rid: str, replica: Replica, now: HLCTimestamp,
               persisted: list[str]) -> bool:
        r = replica.raft.ready()
        if r.persist:
            persisted.append(rid)
            self._ready.persist.extend(RangeRecord(rid, p) for p in r.persist)
        for env in r.messages:
            self._ready.messages.append(Envelope(env.dst, RangeRaft(rid, env.msg),
                                                 env.ahead_of_persist))
        self._ready.trace.extend(f"{rid}: {line}" for line in r.trace)
        if replica.trace:
            self._ready.trace.extend(replica.trace)
            replica.trace.clear()
        if replica.machine.transitions:  # for the properties on processes (observed.py)
            self._ready.trace.extend(record_note(rid, r) for r in replica.machine.transitions)
            replica.machine.transitions.clear()
        fresh = min(replica.prevented_count - replica.noted_prevented, len(replica.prevented))
        if fresh:
            self._ready.trace.extend(prevented_note(*p) for p in
                                     list(replica.prevented)[-fresh:])
            replica.noted_prevented = replica.prevented_count
        born, replica.machine.born = replica.machine.born, []
        for machine in born:
            self._born(replica, machine)
        rest = replica.on_answers(r.answers, now) if r.answers else []
        for answer in rest:  # a hand-over's answer needs nothing; anything else is a bug
            if not (isinstance(answer.request_id, tuple) and answer.request_id[0] == "handover"):
                raise AssertionError(f"{rid}: an answer nobody waits for: {answer!r}")
        return bool(r.persist or r.messages or r.answers or r.trace or replica.replies
                    or born)

    def on_persisted(self) -> None:
        if self._draining:
            for rid in self._draining.popleft():
                self.replicas[rid].raft.on_persisted()

    # ------------------------------------------------------------------ status
    def status(self) -> NodeStatus:
        details: dict[str, str] = {
            "hlc": repr(self.hlc.current), "clock_refusals": str(self.clock_refusals),
            "clock": (f"beyond the bound from {','.join(far)}: serving nothing"
                      if (far := self.clock_suspect()) else "ok"),
            # what 2PC's Routing call reads: the shards (here, ranges) and who coordinates
            "shards": ",".join(r.range_id for r in self.ranges),
            "coordinators": ",".join(sorted({n for r in self.ranges for n in r.replicas}))}
        for key, value in self.coordinator.stats.items():
            details[f"txn.{key}"] = str(value)
        now = self.hlc.current
        for rid, replica in sorted(self.replicas.items()):
            raft, lease = replica.raft, replica.machine.lease
            details[f"{rid}.role"] = raft.role.value
            details[f"{rid}.term"] = str(raft.current_term)
            details[f"{rid}.applied"] = str(raft.last_applied)
            details[f"{rid}.lease"] = (f"{lease.holder or '-'}#{lease.sequence} until "
                                       f"{lease.expiration!r}")
            details[f"{rid}.serving"] = str(replica.serving(now))
            records = replica.machine.records.values()
            details[f"{rid}.records"] = ", ".join(
                f"{sum(1 for r in records if r.status is status)} {status.value}"
                for status in TxnStatus)
            details[f"{rid}.intents"] = str(replica.machine.mvcc.intent_count())
        leading = sum(1 for r in self.replicas.values() if r.raft.role is Role.LEADER)
        return NodeStatus(role="node", epoch=0, details={"ranges_led": str(leading),
                                                          **details})


def serving_ranges(statuses: Iterable[Any]) -> set[str]:
    """The ranges some node serves as leaseholder, read from the nodes' statuses (each
    a ``NodeStatus`` or its protobuf, with the ``<range>.serving`` details
    ``TxnKvCore.status`` writes; None: a node that did not answer)."""
    return {k.split(".")[0] for st in statuses if st is not None
            for k, v in st.details.items() if k.endswith(".serving") and v == "True"}
