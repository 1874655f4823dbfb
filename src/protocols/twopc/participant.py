"""A participant: one shard of the KV store, its locks, and its side of the protocol.

BHG §7.3: on a PREPARE it takes every lock its share of the work needs (conservative
strict 2PL, ``locks``), computes what its writes will install (after-images), forces a
PREPARED record and votes YES; or votes NO (its locks not granted within the lock
timeout, or the work cannot be done: a counter would go below zero). Once it voted YES
it is *uncertain*: it holds its locks and may not decide alone. It installs the
after-images on COMMIT, drops them on ABORT, and releases its locks then. A participant
whose coordinator stays silent asks it, and asks its peers (the cooperative termination
protocol, BHG §7.4): a peer that knows the outcome tells it; a peer that has not voted
aborts on the spot and says so; a peer as uncertain as itself can only say that, and
then it blocks, locks held — 2PC's known weakness.

Every rule is looked up in ``table.participant_table``; this module only says which
event an input is and how each action is done.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from protocols.common.errors import InvalidRequest
from protocols.common.ids import NodeId
from protocols.contract import Envelope, Ready
from protocols.twopc.locks import LockTable
from protocols.twopc.messages import (
    Ack,
    Decision,
    Inquiry,
    MicroOp,
    Outcome,
    Prepare,
    Read,
    Vote,
    VoteKind,
)
from protocols.twopc.storage import Aborted, Committed, OnePhase, Prepared, Recovered, Value
from protocols.twopc.table import Action, Event, Kind, Mode, State, participant_table

__all__ = ["Participant", "Work", "execute"]


@dataclass(slots=True)
class Work:
    """What executing a share of a transaction gave: the reads, the after-images, or why
    it cannot be done."""

    reads: tuple[Read, ...] = ()
    writes: tuple[tuple[str, Value], ...] = ()
    failed: str = ""


def execute(data: dict[str, Value], ops: tuple[MicroOp, ...]) -> Work:
    """Run ``ops`` against ``data`` without changing it: a transaction sees its own
    writes; ``add`` may not take a counter below zero."""
    mine: dict[str, Value] = {}
    reads: list[Read] = []
    for op in ops:
        current = mine.get(op.key, data.get(op.key))
        if op.f == "r":
            reads.append(Read(op.key, () if current is None else
                              (current,) if isinstance(current, int) else current,
                              current is not None, isinstance(current, tuple)))
        elif op.f == "w":
            mine[op.key] = op.value
        elif op.f == "append":
            if isinstance(current, int):
                return Work(failed=f"append to {op.key!r}, which holds a number")
            mine[op.key] = (*(current or ()), op.value)
        else:  # add
            if isinstance(current, tuple):
                return Work(failed=f"add to {op.key!r}, which holds a list")
            total = (current or 0) + op.value
            if total < 0:
                return Work(failed=f"{op.key} would go below zero ({current or 0} + "
                                   f"{op.value})")
            mine[op.key] = total
    return Work(tuple(reads), tuple(sorted(mine.items())))


@dataclass(slots=True)
class PTxn:
    """A transaction as this participant knows it."""

    txn: str
    coordinator: NodeId
    state: State = State.INIT
    ops: tuple[MicroOp, ...] = ()
    participants: tuple[str, ...] = ()
    one_phase: bool = False
    ts: int = 0  # its age (wait-die)
    work: Work = field(default_factory=Work)
    waited: int = 0  # ticks waiting for locks (WORKING) or for the outcome (PREPARED)
    asker: NodeId | None = None  # who asked, for REPLY_STATE


class Participant:
    """The participant's side; its messages go into ``out`` (the core's Ready)."""

    def __init__(self, node_id: NodeId, mode: Mode, recovered: Recovered,
                 out: Callable[[], Ready], lock_timeout_ticks: int,
                 inquiry_ticks: int) -> None:
        self.node_id = node_id
        self.mode = mode
        self.table = participant_table(mode)
        self.out = out
        self.lock_timeout_ticks = lock_timeout_ticks
        self.inquiry_ticks = inquiry_ticks
        self.data: dict[str, Value] = dict(recovered.data)
        self.locks = LockTable()
        self.txns: dict[str, PTxn] = {}
        self.outcomes: dict[str, bool] = dict(recovered.finished)
        self.blocked_ticks = 0  # summed over in-doubt transactions: 2PC's blocking, measured
        for txn, doubt in sorted(recovered.in_doubt.items()):  # uncertain again: relock
            p = doubt.prepared
            t = PTxn(txn, NodeId(p.coordinator), State.PREPARED,
                     participants=p.participants, ts=p.ts, work=Work(writes=p.writes))
            self.locks.take(txn, (p.ts, txn), p.reads, (k for k, _ in p.writes))
            self.txns[txn] = t

    # ------------------------------------------------------------------ inputs
    def on_prepare(self, src: NodeId, msg: Prepare) -> None:
        t = self.txns.get(msg.txn)
        if t is None:
            if msg.txn in self.outcomes:  # finished and forgotten but for its outcome
                t = self._finished(msg.txn, src)
            else:
                t = self.txns[msg.txn] = PTxn(msg.txn, src, ops=msg.ops,
                                              participants=msg.participants,
                                              one_phase=msg.one_phase, ts=msg.ts)
        if t.state in (State.INIT, State.WORKING):
            t.ops, t.one_phase, t.ts = msg.ops, msg.one_phase, msg.ts
            self._try_locks(t)
        else:
            self.step(t, Event.PREPARE_ONE_PHASE if msg.one_phase else Event.PREPARE)

    def on_decision(self, src: NodeId, msg: Decision) -> None:
        t = self.txns.get(msg.txn) or self._finished(msg.txn, src)
        self.step(t, Event.COMMIT if msg.commit else Event.ABORT)

    def on_inquiry(self, src: NodeId, msg: Inquiry) -> None:
        """A peer (cooperative termination) asks what we know of ``msg.txn``."""
        t = self.txns.get(msg.txn) or self._finished(msg.txn, src)
        t.asker = src
        self.step(t, Event.PEER_INQUIRY)

    def on_outcome(self, src: NodeId, msg: Outcome) -> None:
        """An answer to our inquiry: a known outcome ends our uncertainty."""
        t = self.txns.get(msg.txn)
        if t is None or t.state is not State.PREPARED:
            return
        if msg.state in (State.COMMITTED, State.ABORTED):
            self.step(t, Event.COMMIT if msg.state == State.COMMITTED else Event.ABORT)

    def tick(self) -> None:
        for t in list(self.txns.values()):
            if t.state is State.WORKING:
                t.waited += 1
                if t.waited >= self.lock_timeout_ticks:
                    t.work = Work(failed=f"locks not granted in {t.waited} ticks")
                    self.step(t, Event.PREPARE_CONFLICT)  # it stops waiting, votes NO
            elif t.state is State.PREPARED:
                t.waited += 1
                self.blocked_ticks += 1
                if t.waited % self.inquiry_ticks == 0:
                    self.step(t, Event.TIMEOUT)

    # ------------------------------------------------------------------ the table
    def step(self, t: PTxn, event: Event) -> None:
        rule = self.table[t.state, event]
        if rule.kind is Kind.REFUSE:
            raise InvalidRequest(f"2PC participant {self.node_id}: {event} for {t.txn} in "
                                 f"state {t.state}: {rule.why}")
        if rule.kind is Kind.IGNORE:
            return
        t.state = rule.next
        for action in rule.actions:
            self._do(action, t)
        if t.state in (State.COMMITTED, State.ABORTED):
            self.outcomes[t.txn] = t.state is State.COMMITTED
            self.txns.pop(t.txn, None)
        elif t.state is State.INIT:  # read-only: it forgot the transaction
            self.txns.pop(t.txn, None)

    def _do(self, action: Action, t: PTxn) -> None:
        out = self.out()
        to_coordinator = t.coordinator
        if action is Action.EXECUTE:
            pass  # done when the locks were granted (``_try_locks``): ``t.work``
        elif action is Action.FORCE_PREPARED:
            reads = tuple(op.key for op in t.ops if op.f == "r")
            out.persist.append(Prepared(t.txn, str(t.coordinator), t.participants,
                                        t.work.writes, reads, t.ts))
        elif action is Action.FORCE_ONE_PHASE:
            out.persist.append(OnePhase(t.txn, t.work.writes))
        elif action in (Action.VOTE_YES, Action.VOTE_NO, Action.VOTE_READ_ONLY,
                        Action.REPLY_COMMITTED):
            kind = {Action.VOTE_YES: VoteKind.YES, Action.VOTE_NO: VoteKind.NO,
                    Action.VOTE_READ_ONLY: VoteKind.READ_ONLY,
                    Action.REPLY_COMMITTED: VoteKind.COMMITTED}[action]
            out.messages.append(Envelope(to_coordinator, Vote(
                t.txn, kind, t.work.reads, t.work.failed)))
        elif action is Action.APPLY:
            self.data.update(t.work.writes)
        elif action is Action.LOG_COMMIT:
            out.persist.append(Committed(t.txn))
        elif action is Action.LOG_ABORT:
            out.persist.append(Aborted(t.txn))
        elif action is Action.RELEASE_LOCKS:
            for granted in self.locks.release(t.txn):
                waiting = self.txns.get(granted)
                if waiting is not None:
                    self._granted(waiting)
        elif action is Action.ACK:
            out.messages.append(Envelope(to_coordinator, Ack(t.txn)))
        elif action is Action.ASK:
            for n in sorted({str(to_coordinator), *t.participants} - {self.node_id}):
                out.messages.append(Envelope(NodeId(n), Inquiry(t.txn)))
        elif action is Action.REPLY_STATE:
            if t.asker is not None:
                out.messages.append(Envelope(t.asker, Outcome(t.txn, str(t.state))))
        else:  # 3PC's actions: not built yet (issue #34)
            raise InvalidRequest(f"2PC participant {self.node_id}: {action} is 3PC's, "
                                 "which this build does not run")

    # ------------------------------------------------------------------ locks
    def _try_locks(self, t: PTxn) -> None:
        reads = [op.key for op in t.ops if op.f == "r"]
        writes = [op.key for op in t.ops if op.writes]
        got = self.locks.request(t.txn, (t.ts, t.txn), reads, writes)
        if got == "granted":
            self._granted(t)
        elif got == "die":
            t.work = Work(failed="wait-die: an older transaction holds or awaits its keys")
            self.step(t, Event.PREPARE_CONFLICT)
        elif t.state is State.INIT:
            self.step(t, Event.LOCKS_BUSY)

    def _granted(self, t: PTxn) -> None:
        """``t`` holds its locks now: do its work and vote (or commit, one-phase)."""
        t.work = execute(self.data, t.ops)
        if t.work.failed:
            event = Event.PREPARE_CONFLICT
        elif t.one_phase:
            event = Event.PREPARE_ONE_PHASE
        elif not t.work.writes:
            event = Event.PREPARE_READ_ONLY
        else:
            event = Event.PREPARE
        t.waited = 0
        self.step(t, event)

    def _finished(self, txn: str, src: NodeId) -> PTxn:
        """A transaction this participant finished (or never saw): its outcome only."""
        known = self.outcomes.get(txn)
        state = State.INIT if known is None else State.COMMITTED if known else State.ABORTED
        return PTxn(txn, src, state)

    def in_doubt(self) -> list[str]:
        return sorted(t.txn for t in self.txns.values() if t.state is State.PREPARED)

    def state_of(self, txn: str) -> Any:
        t = self.txns.get(txn)
        if t is not None:
            return t.state
        known = self.outcomes.get(txn)
        return State.INIT if known is None else State.COMMITTED if known else State.ABORTED
