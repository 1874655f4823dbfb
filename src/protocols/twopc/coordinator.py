"""The coordinator: it runs a client's transaction over the shards it touches.

BHG §7.3 (Gray 1978): phase one sends each participant its share of the work in a
PREPARE and collects the votes; every vote YES (or READ-ONLY) means commit, any NO or a
vote missing at the timeout means abort. The decision is forced to disk *before* any of
phase two leaves or the client hears it, then sent until every participant that must
acknowledge it did; then END is written and the transaction forgotten. A participant that
asks about a transaction the coordinator has forgotten gets the presumed outcome
(Mohan, Lindsay & Obermarck 1986). After a crash the coordinator recovers its decided,
unended transactions from its log and sends their decisions again; under presumed commit
it aborts the ones it was collecting votes for. A transaction on one shard skips the
protocol: one PREPARE that commits at once (one-phase commit).

Read-only participants (BHG §7.5's optimization): one whose share writes nothing votes
READ-ONLY, releases its locks at once and leaves phase two. The textbook can allow that
because a transaction there has done its work, and taken every lock, before the vote is
asked for; here a participant takes its locks *at* PREPARE (conservative 2PL), so a
read-only participant releasing at once could let another transaction in before this
one locked elsewhere, and two-phase locking (BHG §3.2: no lock released before the last
one is acquired) would be broken — a transfer seen half-done. So the coordinator asks
one read-only participant *last*, once every other one voted YES and holds its locks
(the transaction's lock point): that one may vote READ-ONLY and leave. Any other
read-only participant votes YES and holds its read locks to the outcome, as a writer
does. Only the YES voters are named to each other (``Prepare.participants``), for the
cooperative termination protocol: one that left phase two knows nothing to tell. Under
3PC nobody votes READ-ONLY (``participant.py`` says why).

Three-phase commit (Skeen, "Nonblocking Commit Protocols", SIGMOD 1981, §4, Fig. 4; BHG
§7.5): every vote YES leads not to COMMIT but to PRECOMMIT, sent to the YES voters; the
coordinator forces COMMIT, sends it and answers the client once each acknowledged it. A
vote missing at the timeout still means abort; a PRECOMMIT-ACK missing at the timeout
means commit anyway (Skeen: every site voted yes, so no site can have aborted; the silent
one is taken for failed and learns the outcome from the termination protocol when it
recovers). Nothing is forced for PRECOMMIT here: a coordinator that dies in the second
phase leaves the transaction to the participants' termination protocol
(``participant.py``), and one that recovers never answers for it.

Every rule is looked up in ``table.coordinator_table``.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from protocols.common.errors import Aborted, InvalidRequest, Unavailable
from protocols.common.ids import NodeId
from protocols.contract import Answer, Envelope, Ready
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
    Transact,
    Vote,
    VoteKind,
)
from protocols.twopc.storage import Collecting, Decided, End, Recovered
from protocols.twopc.table import Action, Event, Kind, Mode, Presumption, State, coordinator_table

__all__ = ["Coordinator", "TransactionAborted", "shard_of"]


class TransactionAborted(Aborted):
    """The transaction did not happen (a participant voted NO, or a vote never came)."""


def shard_of(key: str, participants: Sequence[str]) -> str:
    """The participant that owns ``key``: a stable hash over the sorted participants."""
    return sorted(participants)[zlib.crc32(key.encode()) % len(participants)]


@dataclass(slots=True)
class CTxn:
    txn: str
    request_id: Any
    work: dict[str, tuple[MicroOp, ...]]  # participant -> its share, in the client's order
    ops: tuple[MicroOp, ...] = ()
    owners: tuple[str, ...] = ()  # the participant of each of ``ops``
    state: State = State.INIT
    votes: dict[str, Vote] = field(default_factory=dict)
    awaiting_acks: set[str] = field(default_factory=set)
    awaiting_precommit_acks: set[str] = field(default_factory=set)  # 3PC
    waited: int = 0
    answered: bool = False
    ts: int = 0  # its age: this life's number, then its sequence number (wait-die)
    last: str | None = None  # the read-only participant asked at the lock point, if any

    @property
    def participants(self) -> tuple[str, ...]:
        return tuple(sorted(self.work))

    @property
    def voters(self) -> tuple[str, ...]:
        """The participants that vote YES (or NO): all but the one asked last."""
        return tuple(p for p in sorted(self.work) if p != self.last)


class Coordinator:
    def __init__(self, node_id: NodeId, mode: Mode, participants: Sequence[str],
                 recovered: Recovered, out: Callable[[], Ready], vote_timeout_ticks: int,
                 resend_ticks: int) -> None:
        self.node_id = node_id
        self.mode = mode
        self.table = coordinator_table(mode)
        self.shards = tuple(sorted(participants))
        self.out = out
        self.vote_timeout_ticks = vote_timeout_ticks
        self.resend_ticks = resend_ticks
        self.life = recovered.life + 1  # written by the core's first Ready
        self.next_seq = 0
        self.txns: dict[str, CTxn] = {}
        self.committed = self.aborted = 0
        for d in recovered.decided.values():  # decided, not ended: tell them again
            t = CTxn(d.txn, None, {p: () for p in d.participants},
                     state=State.COMMITTED if d.commit else State.ABORTED, answered=True)
            t.awaiting_acks = set(self._ackers(t))
            self.txns[d.txn] = t
            self._send_decision(t, t.awaiting_acks)
        for txn, parts in recovered.collecting.items():  # presumed commit, undecided
            t = CTxn(txn, None, {p: () for p in parts}, state=State.WORKING, answered=True)
            self.txns[txn] = t
            self.step(t, Event.TIMEOUT)

    # ------------------------------------------------------------------ a client's txn
    def submit(self, request_id: Any, command: Transact) -> None:
        if not self.shards:
            raise InvalidRequest(f"{self.node_id}: no participants to run a transaction on")
        if not command.ops:
            raise InvalidRequest("a transaction needs at least one micro-op")
        work: dict[str, list[MicroOp]] = {}
        owners = tuple(shard_of(op.key, self.shards) for op in command.ops)
        for op, owner in zip(command.ops, owners, strict=True):
            work.setdefault(owner, []).append(op)
        self.next_seq += 1
        txn = f"{self.node_id}.{self.life}.{self.next_seq}"
        t = self.txns[txn] = CTxn(txn, request_id, {p: tuple(o) for p, o in work.items()},
                                  command.ops, owners, ts=(self.life << 32) | self.next_seq)
        if len(work) == 1:  # one-phase commit: no vote, no phase two
            (p,) = work
            t.state = State.WORKING
            self._send(p, Prepare(txn, t.work[p], (p,), one_phase=True, ts=t.ts))
            return
        reading = [p for p, ops in sorted(t.work.items()) if not any(o.writes for o in ops)]
        if reading and not self.mode.three_phase:
            t.last = reading[-1]  # asked once every other participant holds its locks
        self.step(t, Event.BEGIN)

    # ------------------------------------------------------------------ inputs
    def on_vote(self, src: NodeId, msg: Vote) -> None:
        t = self.txns.get(msg.txn)
        if t is None:
            return  # forgotten: an uncertain voter will inquire
        if src not in t.work:
            raise InvalidRequest(f"{src} votes on {msg.txn}, which it is not part of")
        if len(t.work) == 1 and t.state is State.WORKING:  # one-phase: the outcome
            t.votes[src] = msg
            t.state = State.COMMITTED if msg.vote is VoteKind.COMMITTED else State.ABORTED
            self._answer(t)
            del self.txns[t.txn]
            return
        if t.state is State.WORKING and src in t.votes:
            return  # a duplicate vote
        t.votes[src] = msg
        last = t.state is State.WORKING and len(t.votes) == len(t.work)
        if msg.vote is VoteKind.NO:
            event = Event.VOTE_NO
        elif msg.vote is VoteKind.YES and t.last is not None and \
                set(t.work) - set(t.votes) == {t.last}:
            event = Event.LOCK_POINT  # every voter yes: now the read-only one
        elif msg.vote is VoteKind.READ_ONLY:
            event = Event.LAST_VOTE_READ_ONLY if last else Event.VOTE_READ_ONLY
        else:
            event = Event.LAST_VOTE_YES if last else Event.VOTE_YES
        self.step(t, event)

    def on_ack(self, src: NodeId, msg: Ack) -> None:
        t = self.txns.get(msg.txn)
        if t is None:
            return
        t.awaiting_acks.discard(str(src))
        self.step(t, Event.ACK if t.awaiting_acks else Event.LAST_ACK)

    def on_precommit_ack(self, src: NodeId, msg: PreCommitAck) -> None:
        """3PC: a YES voter is PRECOMMITTED (its record forced)."""
        t = self.txns.get(msg.txn)
        if t is None:
            return  # forgotten: decided and ended
        t.awaiting_precommit_acks.discard(str(src))
        self.step(t, Event.PRECOMMIT_ACK if t.awaiting_precommit_acks
                  else Event.LAST_PRECOMMIT_ACK)

    def on_inquiry(self, src: NodeId, msg: Inquiry) -> None:
        t = self.txns.get(msg.txn) or CTxn(msg.txn, None, {}, answered=True)
        self.step(t, Event.INQUIRY, asker=src)

    def tick(self) -> None:
        for t in list(self.txns.values()):
            t.waited += 1
            if t.state is State.WORKING and t.waited >= self.vote_timeout_ticks:
                if len(t.work) == 1:  # one-phase: no answer; its outcome is unknown
                    self._give_up(t)
                else:
                    self.step(t, Event.TIMEOUT)
            elif t.state is State.PRECOMMITTED and t.waited >= self.vote_timeout_ticks:
                self.step(t, Event.TIMEOUT)  # an ack missing: commit anyway (Skeen)
            elif t.state in (State.COMMITTED, State.ABORTED) and \
                    t.waited % self.resend_ticks == 0:
                self.step(t, Event.TIMEOUT)

    # ------------------------------------------------------------------ the table
    def step(self, t: CTxn, event: Event, asker: NodeId | None = None) -> None:
        rule = self.table[t.state, event]
        if rule.kind is Kind.REFUSE:
            raise InvalidRequest(f"{self.mode} coordinator {self.node_id}: {event} for {t.txn} in "
                                 f"state {t.state}: {rule.why}")
        if rule.kind is Kind.IGNORE:
            return
        if rule.next is not t.state:
            t.waited = 0
        t.state = rule.next
        for action in rule.actions:
            self._do(action, t, asker)
        if t.state in (State.COMMITTED, State.ABORTED) and not t.awaiting_acks:
            self.txns.pop(t.txn, None)  # nothing more to hear: forgotten (END written)

    def _do(self, action: Action, t: CTxn, asker: NodeId | None) -> None:
        out = self.out()
        if action is Action.FORCE_COLLECTING:
            out.persist.append(Collecting(t.txn, t.voters))
        elif action is Action.SEND_PREPARE:
            for p in t.voters:
                self._send(p, Prepare(t.txn, t.work[p], t.voters, ts=t.ts))
        elif action is Action.SEND_PREPARE_READ_ONLY:
            if t.last is not None:
                self._send(t.last, Prepare(t.txn, t.work[t.last], t.voters, ts=t.ts,
                                           read_only=True))
        elif action in (Action.RECORD_VOTE, Action.RECORD_ACK):
            pass  # recorded by on_vote / on_ack before the step
        elif action in (Action.FORCE_COMMIT, Action.FORCE_ABORT, Action.LOG_ABORT):
            out.persist.append(Decided(t.txn, action is Action.FORCE_COMMIT,
                                       tuple(sorted(self._told(t)))))
            t.awaiting_acks = set(self._ackers(t))
            if not t.awaiting_acks:  # the presumed outcome: nothing to hear, forget it
                out.persist.append(End(t.txn))
        elif action in (Action.SEND_COMMIT, Action.SEND_ABORT):
            self._send_decision(t, self._told(t))
        elif action is Action.SEND_PRECOMMIT:
            t.awaiting_precommit_acks = {p for p, v in t.votes.items()
                                         if v.vote is VoteKind.YES}
            for p in sorted(t.awaiting_precommit_acks):
                self._send(p, PreCommit(t.txn))
            if not t.awaiting_precommit_acks:  # every vote read-only: nobody to wait for
                self.step(t, Event.LAST_PRECOMMIT_ACK)
        elif action is Action.RESEND_DECISION:
            self._send_decision(t, t.awaiting_acks)
        elif action in (Action.ANSWER_COMMITTED, Action.ANSWER_ABORTED):
            self._answer(t)
        elif action is Action.WRITE_END:
            out.persist.append(End(t.txn))
        elif action in (Action.REPLY_COMMIT, Action.REPLY_ABORT, Action.REPLY_UNKNOWN):
            state = {Action.REPLY_COMMIT: "committed", Action.REPLY_ABORT: "aborted",
                     Action.REPLY_UNKNOWN: "unknown"}[action]
            if asker is not None:
                self._send(asker, Outcome(t.txn, state))
        else:
            raise AssertionError(f"coordinator {self.node_id}: {action} is not a "
                                 "coordinator's action")

    # ------------------------------------------------------------------ helpers
    def _told(self, t: CTxn) -> set[str]:
        """Who hears the decision: those that voted YES or may have (a READ-ONLY or NO
        voter is done with it already)."""
        return {p for p in t.voters if p not in t.votes or t.votes[p].vote is VoteKind.YES}

    def _ackers(self, t: CTxn) -> list[str]:
        """Who must acknowledge: those told, unless the decision is the presumed one."""
        presumed = (t.state is State.COMMITTED) == (self.mode.presume is Presumption.COMMIT)
        return [] if presumed else sorted(self._told(t))

    def _send_decision(self, t: CTxn, to: set[str]) -> None:
        for p in sorted(to):
            self._send(p, Decision(t.txn, t.state is State.COMMITTED))

    def _send(self, dst: str, msg: Any) -> None:
        self.out().messages.append(Envelope(NodeId(dst), msg))

    def _answer(self, t: CTxn) -> None:
        if t.answered or t.request_id is None:
            return
        t.answered = True
        if t.state is State.COMMITTED:
            self.committed += 1
            self.out().answers.append(Answer(t.request_id, reads_in_order(t)))
        else:
            self.aborted += 1
            why = "; ".join(f"{p}: {v.why or v.vote}" for p, v in sorted(t.votes.items())
                            if v.vote is VoteKind.NO) or "a vote did not come in time"
            self.out().answers.append(Answer(t.request_id, error=TransactionAborted(
                f"transaction {t.txn} aborted: {why}")))

    def _give_up(self, t: CTxn) -> None:
        """A one-phase transaction's participant did not answer: its outcome is unknown
        to us (it may have committed); the client hears so."""
        if t.request_id is not None and not t.answered:
            t.answered = True
            self.out().answers.append(Answer(t.request_id, error=Unavailable(
                f"transaction {t.txn}: no answer from its shard; it may have committed")))
        del self.txns[t.txn]


def reads_in_order(t: CTxn) -> tuple[Read, ...]:
    """The reads the participants returned, in the order of the client's micro-ops."""
    by_participant = {p: list(v.reads) for p, v in t.votes.items()}
    return tuple(by_participant[owner].pop(0)
                 for op, owner in zip(t.ops, t.owners, strict=True) if op.f == "r")
