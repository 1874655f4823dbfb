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

Three-phase commit (Skeen, "Nonblocking Commit Protocols", SIGMOD 1981; BHG §7.5) adds a
state between the two: on PRECOMMIT (every vote was yes) a prepared participant forces
PRECOMMITTED and acknowledges. Its rule is that no participant commits while another
is still uncertain (PREPARED) and no participant is PRECOMMITTED while another could
still abort, so the states the survivors are in always say what may have happened. A
participant that voted YES and hears nothing for ``termination_ticks`` does not block:
it runs the *termination protocol* (Skeen §5, "the termination protocol"; BHG §7.5):

* election: it asks every peer for its state (``StateRequest``); at its next timeout, or
  as soon as every peer answered, the lowest-named (sorted) participant among itself and
  those that answered (``StateReport``) is elected: if that is itself, it becomes the
  coordinator (``Event.BECOME_COORDINATOR``); else it asks again next time (an elected
  peer that dies is left out of the next round). A report of a known outcome ends the
  uncertainty of whoever hears it, elected or not;
* decision (Skeen's termination rule, on the states collected, its own included): any
  COMMITTED, commit; any ABORTED, abort; any PRECOMMITTED, PRECOMMIT itself and the
  uncertain ones, then commit once they acknowledged (or at its next timeout); all
  PREPARED, abort. It tells every peer the decision.

3PC has no read-only vote (Skeen's has none): a read-only voter forgets the transaction,
and asked for its state later it could only abort as one that never voted, which the
termination rule would count as a real abort after a commit. A participant with nothing
to write votes YES under 3PC and holds its read locks to the outcome.

The rule is safe only when a silent peer is a failed peer (Skeen's model: sites fail, the
network does not): once a partition separates a PRECOMMITTED participant from PREPARED
ones, each side elects its own coordinator and they decide differently.
``tests/twopc/sim/test_threepc_sim.py`` and the explorer's ``split`` model show it.

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
    PreCommit,
    PreCommitAck,
    Prepare,
    Read,
    StateReport,
    StateRequest,
    Vote,
    VoteKind,
)
from protocols.twopc.storage import (
    Aborted,
    Committed,
    OnePhase,
    PreCommitted,
    Prepared,
    Recovered,
    Value,
)
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
    read_only: bool = False  # asked last: it may vote READ-ONLY (``Prepare.read_only``)
    work: Work = field(default_factory=Work)
    waited: int = 0  # ticks waiting for locks (WORKING) or for the outcome (PREPARED)
    asker: NodeId | None = None  # who asked (REPLY_STATE) or precommitted (ACK_PRECOMMIT)
    # 3PC's termination protocol
    polled: bool = False  # a StateRequest round is out
    reports: dict[str, str] = field(default_factory=dict)  # peer -> state, this round
    leading: bool = False  # elected: it sent PRECOMMITs and waits for their acks
    awaiting: set[str] = field(default_factory=set)  # the PRECOMMIT-ACKs it waits for

    @property
    def uncertain(self) -> bool:
        return self.state in (State.PREPARED, State.PRECOMMITTED)


class Participant:
    """The participant's side; its messages go into ``out`` (the core's Ready)."""

    def __init__(self, node_id: NodeId, mode: Mode, recovered: Recovered,
                 out: Callable[[], Ready], lock_timeout_ticks: int,
                 inquiry_ticks: int, termination_ticks: int = 100) -> None:
        self.node_id = node_id
        self.mode = mode
        self.table = participant_table(mode)
        self.out = out
        self.lock_timeout_ticks = lock_timeout_ticks
        self.inquiry_ticks = inquiry_ticks
        self.termination_ticks = termination_ticks
        self.data: dict[str, Value] = dict(recovered.data)
        self.locks = LockTable()
        self.txns: dict[str, PTxn] = {}
        self.outcomes: dict[str, bool] = dict(recovered.finished)
        self.blocked_ticks = 0  # summed over in-doubt transactions: 2PC's blocking, measured
        for txn, doubt in sorted(recovered.in_doubt.items()):  # uncertain again: relock
            p = doubt.prepared
            t = PTxn(txn, NodeId(p.coordinator),
                     State.PRECOMMITTED if doubt.precommitted else State.PREPARED,
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
            t.ops, t.one_phase, t.ts, t.read_only = msg.ops, msg.one_phase, msg.ts, \
                msg.read_only
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

    # ------------------------------------------------------------------ 3PC's inputs
    def on_precommit(self, src: NodeId, msg: PreCommit) -> None:
        """From the coordinator, or from a participant elected to terminate."""
        t = self.txns.get(msg.txn) or self._finished(msg.txn, src)
        t.asker = src
        self.step(t, Event.PRECOMMIT)

    def leads(self, txn: str) -> bool:
        """Does this participant run the termination protocol's second phase of ``txn``
        (a PRECOMMIT-ACK of it is then its, not a coordinator's)?"""
        t = self.txns.get(txn)
        return t is not None and t.leading

    def on_precommit_ack(self, src: NodeId, msg: PreCommitAck) -> None:
        t = self.txns.get(msg.txn)
        if t is None or not t.leading:
            return  # decided meanwhile
        t.awaiting.discard(str(src))
        if not t.awaiting:  # every uncertain one it reached is PRECOMMITTED: commit
            self._decide(t, commit=True)

    def on_state_request(self, src: NodeId, msg: StateRequest) -> None:
        """The termination protocol: a peer asks for our state (one that has not voted
        aborts, as on a cooperative-termination inquiry)."""
        t = self.txns.get(msg.txn) or self._finished(msg.txn, src)
        t.asker = src
        self.step(t, Event.PEER_INQUIRY)

    def on_state_report(self, src: NodeId, msg: StateReport) -> None:
        t = self.txns.get(msg.txn)
        if t is None or not t.uncertain:
            return  # decided meanwhile
        if msg.state in (State.COMMITTED, State.ABORTED):  # the outcome: adopt it
            self.step(t, Event.COMMIT if msg.state == State.COMMITTED else Event.ABORT)
            return
        if not t.polled or t.leading:
            return  # late, from a round already settled
        t.reports[str(src)] = msg.state
        if set(t.reports) >= set(self._peers(t)) and self._elected(t):
            self.step(t, Event.BECOME_COORDINATOR)  # everyone answered: no need to wait

    def tick(self) -> None:
        for t in list(self.txns.values()):
            if t.state is State.WORKING:
                t.waited += 1
                if t.waited >= self.lock_timeout_ticks:
                    t.work = Work(failed=f"locks not granted in {t.waited} ticks")
                    self.step(t, Event.PREPARE_CONFLICT)  # it stops waiting, votes NO
            elif t.uncertain:
                t.waited += 1
                self.blocked_ticks += 1
                every = self.termination_ticks if self.mode.three_phase else \
                    self.inquiry_ticks
                if t.waited % every == 0:
                    self.step(t, Event.TIMEOUT)

    # ------------------------------------------------------------------ the table
    def step(self, t: PTxn, event: Event) -> None:
        rule = self.table[t.state, event]
        if rule.kind is Kind.REFUSE:
            raise InvalidRequest(f"{self.mode} participant {self.node_id}: {event} for {t.txn} in "
                                 f"state {t.state}: {rule.why}")
        if rule.kind is Kind.IGNORE:
            return
        if rule.next is not t.state:
            t.waited = 0
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
                reply = StateReport if self.mode.three_phase else Outcome
                out.messages.append(Envelope(t.asker, reply(t.txn, str(t.state))))
        elif action is Action.FORCE_PRECOMMITTED:
            out.persist.append(PreCommitted(t.txn))
        elif action is Action.ACK_PRECOMMIT:
            if t.asker is not None and t.asker != self.node_id:
                out.messages.append(Envelope(t.asker, PreCommitAck(t.txn)))
        elif action is Action.ELECT:
            self._elect(t)
        elif action is Action.DECIDE_FROM_STATES:
            self._decide_from_states(t)
        else:
            raise AssertionError(f"participant {self.node_id}: {action} is not a "
                                 "participant's action")

    # ------------------------------------------------------------------ 3PC's termination
    def _peers(self, t: PTxn) -> list[str]:
        return sorted(set(t.participants) - {self.node_id})

    def _elected(self, t: PTxn) -> bool:
        """The election rule: the lowest-named participant among this one and the peers
        that answered this round."""
        return self.node_id == min({self.node_id, *t.reports})

    def _elect(self, t: PTxn) -> None:
        """The coordinator is silent (a timeout): settle the round out, else start one."""
        if t.leading:  # elected, a PRECOMMIT-ACK missing: commit anyway, as Skeen's
            self._decide(t, commit=True)  # coordinator does (the silent one failed)
            return
        if t.polled and self._elected(t):
            self.step(t, Event.BECOME_COORDINATOR)
            return
        t.polled, t.reports = True, {}  # (again): who answers now is alive
        for n in self._peers(t):
            self.out().messages.append(Envelope(NodeId(n), StateRequest(t.txn)))

    def _decide_from_states(self, t: PTxn) -> None:
        """Skeen's termination rule, on the states collected (this one's included)."""
        states = {*t.reports.values(), str(t.state)}
        if State.COMMITTED in states:
            self._decide(t, commit=True)
        elif State.ABORTED in states or State.PRECOMMITTED not in states:
            self._decide(t, commit=False)  # someone aborted, or all are uncertain
        else:  # someone PRECOMMITTED: bring the uncertain ones there, then commit
            if t.state is State.PREPARED:
                t.asker = None
                self.step(t, Event.PRECOMMIT)
            t.leading = True
            t.awaiting = {n for n, s in t.reports.items() if s == State.PREPARED}
            for n in sorted(t.awaiting):
                self.out().messages.append(Envelope(NodeId(n), PreCommit(t.txn)))
            if not t.awaiting:
                self._decide(t, commit=True)

    def _decide(self, t: PTxn, commit: bool) -> None:
        """The elected participant's decision: its own, then every peer's."""
        t.leading = False
        if t.uncertain:
            self.step(t, Event.COMMIT if commit else Event.ABORT)
        for n in self._peers(t):
            self.out().messages.append(Envelope(NodeId(n), Decision(t.txn, commit)))

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
        elif not t.work.writes and t.read_only:
            event = Event.PREPARE_READ_ONLY  # asked last, after the lock point
        else:
            event = Event.PREPARE
        t.waited = 0
        self.step(t, event)

    def _finished(self, txn: str, src: NodeId) -> PTxn:
        """A transaction this participant finished (or never saw): its outcome only."""
        known = self.outcomes.get(txn)
        state = State.INIT if known is None else State.COMMITTED if known else State.ABORTED
        return PTxn(txn, src, state)

    def stuck(self) -> bool:
        """Uncertain for a whole timeout (it has asked, or started the termination
        protocol): 2PC's blocked window, as the space-time diagram's role band shows."""
        period = self.termination_ticks if self.mode.three_phase else self.inquiry_ticks
        return any(t.uncertain and t.waited >= period for t in self.txns.values())

    def in_doubt(self) -> list[str]:
        """The transactions it voted YES on and knows no outcome of (PREPARED, or 3PC's
        PRECOMMITTED)."""
        return sorted(t.txn for t in self.txns.values() if t.uncertain)

    def state_of(self, txn: str) -> Any:
        t = self.txns.get(txn)
        if t is not None:
            return t.state
        known = self.outcomes.get(txn)
        return State.INIT if known is None else State.COMMITTED if known else State.ABORTED
