"""Atomic commitment as a state table, kept as data: what each side does on each input.

Two-phase commit (Gray, "Notes on Data Base Operating Systems", 1978; Bernstein,
Hadzilacos & Goodman, "Concurrency Control and Recovery in Database Systems", 1987, ch. 7)
and three-phase commit (Skeen, "Nonblocking Commit Protocols", SIGMOD 1981), with the
presumptions of Mohan, Lindsay & Obermarck ("Transaction Management in the R*
Distributed Database Management System", TODS 1986). Course chapter: atomic commitment.

Each transaction, at each side, is in one of the states of ``State``; an input (``Event``)
in a state leads to a ``Transition``: the next state and the actions, in the order they
are taken (a record *forced* to disk comes before the message it makes safe to send: the
pump persists before it sends). A transition is one of three kinds:

* ``MOVE``: the protocol's rule for that input there;
* ``IGNORE``: nothing to do (a duplicate, a late vote after the decision): the same state;
* ``REFUSE``: the input cannot happen to a correct peer there (a COMMIT for a transaction
  never prepared): the core refuses it as bad input and changes nothing.

The tables are *total*: every (state, event) pair of a mode has its line, so
``tests/twopc/unit/test_table.py`` walks them all, and the cores look their rules up
here rather than restating them. ``Mode`` picks 2PC or 3PC and the presumption: with
*presumed abort*, a coordinator that remembers nothing of a transaction answers "abort",
so it forces nothing before its decision to abort and nobody acknowledges an abort; with
*presumed commit*, it answers "commit", so it forces a COLLECTING record before asking for
votes, forces an abort, and nobody acknowledges a commit.

3PC (Skeen 1981, §4-5; BHG §7.5): after every YES the coordinator sends PRECOMMIT and
commits once each YES voter acknowledged it (or at the timeout: Skeen takes a silent site
for a failed one); a participant that voted YES and hears nothing more does not block but
starts the *termination protocol* (``Action.ELECT``): the participants elect one of them
(``Event.BECOME_COORDINATOR``), which decides from the states it collects
(``Action.DECIDE_FROM_STATES``): any COMMITTED, commit; any ABORTED, abort; any
PRECOMMITTED, PRECOMMIT the uncertain ones, then commit; all PREPARED, abort. The tables
are built for 3PC under both presumptions, but the cores run it with presumed abort only
(``TwoPcOptions.validate``): a 3PC coordinator that recovers must not answer for a
transaction its participants may have terminated without it, and no 3PC participant asks
it.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

__all__ = ["COORDINATOR_EVENTS", "PARTICIPANT_EVENTS", "Action", "Event", "Kind", "Mode",
           "Presumption", "State", "Transition", "coordinator_table", "participant_table",
           "states_of"]


class State(enum.StrEnum):
    """A transaction's state at one side (BHG §7.3's names; Skeen's for 3PC)."""

    INIT = "init"  # nothing known of it yet (a participant: no work done for it)
    WORKING = "working"  # coordinator: collecting votes ("wait"); participant: executing
    PREPARED = "prepared"  # participant: voted yes, PREPARED forced: uncertain, holds locks
    PRECOMMITTED = "precommitted"  # 3PC: every vote was yes, no one has committed yet
    COMMITTED = "committed"
    ABORTED = "aborted"


class Event(enum.StrEnum):
    """An input about one transaction."""

    # at the coordinator
    BEGIN = "begin"  # a client asks to commit a transaction over some participants
    VOTE_YES = "vote-yes"  # a yes vote, not the last one awaited
    LAST_VOTE_YES = "last-vote-yes"  # the last vote awaited came, and every vote was yes
    VOTE_NO = "vote-no"
    VOTE_READ_ONLY = "vote-read-only"  # not the last: that participant leaves phase two
    LAST_VOTE_READ_ONLY = "last-vote-read-only"  # the last awaited; no other vote was no
    LOCK_POINT = "lock-point"  # every vote yes but the read-only participant's, not asked yet
    PRECOMMIT_ACK = "precommit-ack"  # 3PC, not the last one awaited
    LAST_PRECOMMIT_ACK = "last-precommit-ack"
    ACK = "ack"  # a participant acknowledged the decision, not the last one awaited
    LAST_ACK = "last-ack"
    INQUIRY = "inquiry"  # a participant asks what was decided (it timed out, or recovered)
    TIMEOUT = "timeout"  # waited long enough for votes, acks or an answer
    # at a participant
    PREPARE = "prepare"  # the coordinator's vote request, with this participant's work
    PREPARE_CONFLICT = "prepare-conflict"  # the same, but its locks cannot be granted
    PREPARE_READ_ONLY = "prepare-read-only"  # the same, and it writes nothing here
    PREPARE_ONE_PHASE = "prepare-one-phase"  # the only participant: commit at once
    LOCKS_BUSY = "locks-busy"  # a PREPARE whose locks others hold: it waits for them
    COMMIT = "commit"  # the decision (or a peer's answer) says commit
    ABORT = "abort"  # the decision (or a peer's answer) says abort
    PRECOMMIT = "precommit"  # 3PC's second phase
    PEER_INQUIRY = "peer-inquiry"  # cooperative termination: a peer asks what we know
    BECOME_COORDINATOR = "become-coordinator"  # 3PC termination: elected to finish it


COORDINATOR_EVENTS = (Event.BEGIN, Event.VOTE_YES, Event.LAST_VOTE_YES, Event.VOTE_NO,
                      Event.VOTE_READ_ONLY, Event.LAST_VOTE_READ_ONLY, Event.LOCK_POINT,
                      Event.PRECOMMIT_ACK,
                      Event.LAST_PRECOMMIT_ACK, Event.ACK, Event.LAST_ACK, Event.INQUIRY,
                      Event.TIMEOUT)
PARTICIPANT_EVENTS = (Event.PREPARE, Event.PREPARE_CONFLICT, Event.PREPARE_READ_ONLY,
                      Event.PREPARE_ONE_PHASE, Event.LOCKS_BUSY, Event.COMMIT, Event.ABORT,
                      Event.PRECOMMIT, Event.PEER_INQUIRY, Event.TIMEOUT,
                      Event.BECOME_COORDINATOR)


class Action(enum.StrEnum):
    """What a side does, in the order a transition lists them."""

    # the coordinator's
    FORCE_COLLECTING = "force COLLECTING"  # presumed commit: before asking for votes
    SEND_PREPARE = "send PREPARE"  # to all but the read-only participant asked last
    SEND_PREPARE_READ_ONLY = "send PREPARE to the read-only participant"  # at the lock point
    RECORD_VOTE = "record the vote"
    FORCE_COMMIT = "force COMMIT"
    LOG_COMMIT = "write COMMIT"  # not forced (a participant: it can ask again)
    FORCE_ABORT = "force ABORT"
    LOG_ABORT = "write ABORT"  # not forced: presumed abort answers abort anyway
    SEND_PRECOMMIT = "send PRECOMMIT"
    RECORD_ACK = "record the ack"
    SEND_COMMIT = "send COMMIT"
    SEND_ABORT = "send ABORT"  # to the participants that may have voted yes
    RESEND_DECISION = "resend the decision"  # to those that have not acknowledged it
    ANSWER_COMMITTED = "answer the client: committed"
    ANSWER_ABORTED = "answer the client: aborted"
    WRITE_END = "write END"  # every acknowledgement in: the transaction can be forgotten
    REPLY_COMMIT = "reply COMMIT"  # to an inquiry
    REPLY_ABORT = "reply ABORT"
    REPLY_UNKNOWN = "reply: not decided yet"
    # a participant's
    EXECUTE = "take the locks and do the work"
    FORCE_PREPARED = "force PREPARED"
    VOTE_YES = "vote YES"
    VOTE_NO = "vote NO"
    VOTE_READ_ONLY = "vote READ-ONLY"
    FORCE_ONE_PHASE = "force the writes"  # one-phase commit: the outcome in one write
    REPLY_COMMITTED = "reply COMMITTED"  # one-phase commit's answer to its coordinator
    FORCE_PRECOMMITTED = "force PRECOMMITTED"
    ACK_PRECOMMIT = "acknowledge PRECOMMIT"
    APPLY = "install the writes"
    RELEASE_LOCKS = "release the locks"
    ACK = "acknowledge the decision"
    ASK = "ask the coordinator and the peers"  # cooperative termination, keeps waiting
    REPLY_STATE = "reply with what it knows"  # to a peer's inquiry
    ELECT = "start the termination protocol"  # 3PC: the coordinator is gone
    DECIDE_FROM_STATES = "decide from the peers' states"  # 3PC's termination rule


class Kind(enum.StrEnum):
    MOVE = "move"
    IGNORE = "ignore"
    REFUSE = "refuse"


@dataclass(frozen=True, slots=True)
class Transition:
    kind: Kind
    next: State
    actions: tuple[Action, ...] = ()
    why: str = ""  # for IGNORE and REFUSE: why the input is not a rule here


class Presumption(enum.StrEnum):
    ABORT = "abort"
    COMMIT = "commit"


@dataclass(frozen=True, slots=True)
class Mode:
    """2PC or 3PC, and what a coordinator presumes of a transaction it has forgotten."""

    three_phase: bool = False
    presume: Presumption = Presumption.ABORT

    def __str__(self) -> str:
        return f"{'3PC' if self.three_phase else '2PC'}/presumed-{self.presume}"

    @classmethod
    def all(cls) -> Iterator[Mode]:
        for three, presume in itertools.product((False, True), Presumption):
            yield cls(three, presume)


def states_of(mode: Mode, side: str = "participant") -> tuple[State, ...]:
    """The states a transaction may be in at ``side`` ("coordinator" or "participant") in
    that mode: PRECOMMITTED is 3PC's, PREPARED a participant's."""
    return tuple(s for s in State if (mode.three_phase or s is not State.PRECOMMITTED)
                 and (side == "participant" or s is not State.PREPARED))


Table = Mapping[tuple[State, Event], Transition]


def _move(next_: State, *actions: Action) -> Transition:
    return Transition(Kind.MOVE, next_, actions)


def _ignore(state: State, why: str) -> Transition:
    return Transition(Kind.IGNORE, state, (), why)


def _refuse(state: State, why: str) -> Transition:
    return Transition(Kind.REFUSE, state, (), why)


# ====================================================================== the coordinator
def coordinator_table(mode: Mode) -> Table:
    """The coordinator's rules (BHG Fig. 7-3 for 2PC; Skeen 1981 Fig. 4 for 3PC)."""
    pc = mode.presume is Presumption.COMMIT
    commit = (Action.FORCE_COMMIT, Action.SEND_COMMIT, Action.ANSWER_COMMITTED)
    # presumed commit: an abort must be remembered (forgotten would mean "commit")
    abort = ((Action.FORCE_ABORT if pc else Action.LOG_ABORT), Action.SEND_ABORT,
             Action.ANSWER_ABORTED)
    all_yes = ((_move(State.PRECOMMITTED, Action.RECORD_VOTE, Action.SEND_PRECOMMIT))
               if mode.three_phase else _move(State.COMMITTED, Action.RECORD_VOTE, *commit))
    t: dict[tuple[State, Event], Transition] = {}
    for s in states_of(mode, "coordinator"):
        for e in COORDINATOR_EVENTS:
            t[s, e] = _refuse(s, "not an input of the coordinator in this state")
    begin = ((Action.FORCE_COLLECTING,) if pc else ()) + (Action.SEND_PREPARE,)
    t[State.INIT, Event.BEGIN] = _move(State.WORKING, *begin)
    t[State.INIT, Event.INQUIRY] = _move(
        State.INIT, Action.REPLY_COMMIT if pc else Action.REPLY_ABORT)  # forgotten: presumed
    t[State.INIT, Event.TIMEOUT] = _ignore(State.INIT, "nothing is awaited")
    # forgotten (END written, or never logged before a crash): its voters will inquire
    for e in (Event.VOTE_YES, Event.LAST_VOTE_YES, Event.VOTE_NO, Event.VOTE_READ_ONLY,
              Event.LAST_VOTE_READ_ONLY, Event.LOCK_POINT, Event.PRECOMMIT_ACK,
              Event.LAST_PRECOMMIT_ACK, Event.ACK, Event.LAST_ACK):
        t[State.INIT, e] = _ignore(State.INIT, "about a forgotten transaction")
    # phase one: collecting votes
    t[State.WORKING, Event.VOTE_YES] = _move(State.WORKING, Action.RECORD_VOTE)
    t[State.WORKING, Event.LAST_VOTE_YES] = all_yes
    t[State.WORKING, Event.VOTE_READ_ONLY] = _move(State.WORKING, Action.RECORD_VOTE)
    # the last vote read-only, every other yes or read-only: commit (with nobody to tell
    # if all were read-only: the sends and acks then concern no one)
    t[State.WORKING, Event.LAST_VOTE_READ_ONLY] = all_yes
    # every participant but the read-only one holds its locks: the transaction's lock
    # point; only now may that one lock, read and release at once (BHG §3.2, two-phase
    # locking: no lock is released before the last is acquired)
    t[State.WORKING, Event.LOCK_POINT] = _move(State.WORKING, Action.RECORD_VOTE,
                                               Action.SEND_PREPARE_READ_ONLY)
    t[State.WORKING, Event.VOTE_NO] = _move(State.ABORTED, Action.RECORD_VOTE, *abort)
    t[State.WORKING, Event.TIMEOUT] = _move(State.ABORTED, *abort)  # a vote is missing
    t[State.WORKING, Event.INQUIRY] = _move(State.WORKING, Action.REPLY_UNKNOWN)
    t[State.WORKING, Event.BEGIN] = _ignore(State.WORKING, "a duplicate request")
    # 3PC's second phase: every vote was yes, PRECOMMIT sent
    if mode.three_phase:
        p = State.PRECOMMITTED
        t[p, Event.PRECOMMIT_ACK] = _move(p, Action.RECORD_ACK)
        t[p, Event.LAST_PRECOMMIT_ACK] = _move(State.COMMITTED, *commit)
        # Skeen: a participant that did not acknowledge failed; all voted yes: commit
        t[p, Event.TIMEOUT] = _move(State.COMMITTED, *commit)
        t[p, Event.INQUIRY] = _move(p, Action.REPLY_UNKNOWN)
        for e in (Event.VOTE_YES, Event.LAST_VOTE_YES, Event.VOTE_READ_ONLY,
                  Event.LAST_VOTE_READ_ONLY, Event.LOCK_POINT):
            t[p, e] = _ignore(p, "a duplicate vote")
        t[p, Event.BEGIN] = _ignore(p, "a duplicate request")
    # phase two: the decision is durable; resend it until every participant acknowledged
    for done, reply in ((State.COMMITTED, Action.REPLY_COMMIT),
                        (State.ABORTED, Action.REPLY_ABORT)):
        t[done, Event.ACK] = _move(done, Action.RECORD_ACK)
        t[done, Event.LAST_ACK] = _move(done, Action.RECORD_ACK, Action.WRITE_END)
        t[done, Event.TIMEOUT] = _move(done, Action.RESEND_DECISION)
        t[done, Event.INQUIRY] = _move(done, reply)
        t[done, Event.BEGIN] = _ignore(done, "a duplicate request: already answered")
        for e in (Event.VOTE_YES, Event.LAST_VOTE_YES, Event.VOTE_READ_ONLY,
                  Event.LAST_VOTE_READ_ONLY, Event.LOCK_POINT, Event.PRECOMMIT_ACK,
                  Event.LAST_PRECOMMIT_ACK):
            t[done, e] = _ignore(done, "late: the decision is made")
    t[State.ABORTED, Event.VOTE_NO] = _ignore(State.ABORTED, "late: already aborted")
    t[State.COMMITTED, Event.VOTE_NO] = _refuse(
        State.COMMITTED, "a NO after a commit: that participant had voted YES")
    return t


# ====================================================================== a participant
def participant_table(mode: Mode) -> Table:
    """A participant's rules (BHG Fig. 7-4; Skeen 1981 for 3PC; BHG §7.4's cooperative
    termination protocol for a blocked 2PC participant)."""
    pa = mode.presume is Presumption.ABORT
    t: dict[tuple[State, Event], Transition] = {}
    for s in states_of(mode):
        for e in PARTICIPANT_EVENTS:
            t[s, e] = _refuse(s, "not an input of a participant in this state")
    # phase one: the vote request
    for s in (State.INIT, State.WORKING):
        t[s, Event.PREPARE] = _move(State.PREPARED, Action.EXECUTE, Action.FORCE_PREPARED,
                                    Action.VOTE_YES)
        t[s, Event.PREPARE_CONFLICT] = _move(State.ABORTED, Action.RELEASE_LOCKS,
                                             Action.VOTE_NO)
        # read-only, asked last (``Prepare.read_only``: every other participant holds its
        # locks already): nothing to install, nothing to wait for, its locks released at
        # once; it forgets the transaction (BHG §7.5), and nobody will ask it about it
        t[s, Event.PREPARE_READ_ONLY] = _move(State.INIT, Action.EXECUTE,
                                              Action.RELEASE_LOCKS, Action.VOTE_READ_ONLY)
        # one-phase commit (the only participant): no vote, no uncertainty
        t[s, Event.PREPARE_ONE_PHASE] = _move(State.COMMITTED, Action.EXECUTE,
                                              Action.FORCE_ONE_PHASE, Action.APPLY,
                                              Action.RELEASE_LOCKS, Action.REPLY_COMMITTED)
        t[s, Event.LOCKS_BUSY] = _move(State.WORKING)  # it waits, holding nothing
        # not voted yet: free to abort on its own (BHG §7.3), and so to answer "abort";
        # an abort someone else learns of is written first (a restart must not vote YES)
        t[s, Event.ABORT] = _move(State.ABORTED, Action.RELEASE_LOCKS,
                                  *(() if pa else (Action.ACK,)))
        t[s, Event.TIMEOUT] = _move(State.ABORTED, Action.RELEASE_LOCKS)
        t[s, Event.PEER_INQUIRY] = _move(State.ABORTED, Action.LOG_ABORT,
                                         Action.RELEASE_LOCKS, Action.REPLY_STATE)
        t[s, Event.COMMIT] = _refuse(s, "a COMMIT before this participant voted YES")
        t[s, Event.PRECOMMIT] = _refuse(s, "a PRECOMMIT before this participant voted YES")
    # uncertain: voted yes, PREPARED forced, locks held until the outcome is known
    p = State.PREPARED
    for dup in (Event.PREPARE, Event.PREPARE_CONFLICT, Event.PREPARE_READ_ONLY,
                Event.PREPARE_ONE_PHASE):
        t[p, dup] = _move(p, Action.VOTE_YES)  # a resent request: the same vote again
    t[p, Event.LOCKS_BUSY] = _refuse(p, "a prepared transaction holds its locks")
    t[p, Event.COMMIT] = _move(State.COMMITTED, Action.APPLY, Action.LOG_COMMIT,
                               Action.RELEASE_LOCKS, *((Action.ACK,) if pa else ()))
    t[p, Event.ABORT] = _move(State.ABORTED, Action.LOG_ABORT, Action.RELEASE_LOCKS,
                              *(() if pa else (Action.ACK,)))
    t[p, Event.PEER_INQUIRY] = _move(p, Action.REPLY_STATE)  # "uncertain too"
    if mode.three_phase:
        t[p, Event.PRECOMMIT] = _move(State.PRECOMMITTED, Action.FORCE_PRECOMMITTED,
                                      Action.ACK_PRECOMMIT)
        t[p, Event.TIMEOUT] = _move(p, Action.ELECT)  # 3PC does not block on the coordinator
        t[p, Event.BECOME_COORDINATOR] = _move(p, Action.DECIDE_FROM_STATES)
        q = State.PRECOMMITTED
        t[q, Event.PRECOMMIT] = _move(q, Action.ACK_PRECOMMIT)  # a resent one
        t[q, Event.COMMIT] = t[p, Event.COMMIT]
        # an elected participant found only uncertain ones while this one was down (or,
        # once the network partitions, cut off: the split Skeen's model rules out)
        t[q, Event.ABORT] = t[p, Event.ABORT]
        t[q, Event.TIMEOUT] = _move(q, Action.ELECT)
        t[q, Event.BECOME_COORDINATOR] = _move(q, Action.DECIDE_FROM_STATES)
        t[q, Event.PEER_INQUIRY] = _move(q, Action.REPLY_STATE)
        for dup in (Event.PREPARE, Event.PREPARE_CONFLICT, Event.PREPARE_READ_ONLY,
                    Event.PREPARE_ONE_PHASE):
            t[q, dup] = _ignore(q, "late: the vote was counted")
        t[q, Event.LOCKS_BUSY] = _refuse(q, "a precommitted transaction holds its locks")
    else:
        # 2PC blocks: it may not guess; it asks, keeps its locks and waits (BHG §7.4)
        t[p, Event.TIMEOUT] = _move(p, Action.ASK)
        t[p, Event.PRECOMMIT] = _refuse(p, "PRECOMMIT is 3PC's")
        t[p, Event.BECOME_COORDINATOR] = _refuse(p, "2PC elects no new coordinator")
    # the outcome is known: duplicates are acknowledged again, inquiries answered
    for done in (State.COMMITTED, State.ABORTED):
        same = Event.COMMIT if done is State.COMMITTED else Event.ABORT
        other = Event.ABORT if done is State.COMMITTED else Event.COMMIT
        acks = (pa and done is State.COMMITTED) or (not pa and done is State.ABORTED)
        t[done, same] = (_move(done, Action.ACK) if acks else
                         _ignore(done, "a duplicate decision nobody awaits an ack of"))
        t[done, other] = _refuse(done, "the opposite of the outcome already reached")
        t[done, Event.PEER_INQUIRY] = _move(done, Action.REPLY_STATE)
        t[done, Event.TIMEOUT] = _ignore(done, "nothing is awaited")
        t[done, Event.PREPARE] = _ignore(done, "late: the outcome is known")
        t[done, Event.PREPARE_CONFLICT] = _ignore(done, "late: the outcome is known")
        t[done, Event.PREPARE_READ_ONLY] = _ignore(done, "late: the outcome is known")
        t[done, Event.PREPARE_ONE_PHASE] = (
            _move(done, Action.REPLY_COMMITTED) if done is State.COMMITTED
            else _ignore(done, "late: aborted, and its coordinator was told"))
        t[done, Event.LOCKS_BUSY] = _refuse(done, "an outcome known: no lock is requested")
        if mode.three_phase:
            t[done, Event.PRECOMMIT] = (_ignore(done, "late: committed") if done is
                                        State.COMMITTED else
                                        _refuse(done, "a PRECOMMIT after an abort"))
            t[done, Event.BECOME_COORDINATOR] = _move(done, Action.DECIDE_FROM_STATES)
        else:
            t[done, Event.PRECOMMIT] = _refuse(done, "PRECOMMIT is 3PC's")
            t[done, Event.BECOME_COORDINATOR] = _refuse(done, "2PC elects no new coordinator")
    return t
