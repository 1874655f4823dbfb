"""The commit protocols' state tables (``protocols.twopc.table``), walked over every
(state, input) pair of every mode: each pair has exactly one line, and the rules the
textbooks state hold on every line (BHG ch. 7; Skeen 1981; Mohan et al. 1986)."""

from __future__ import annotations

import pytest

from protocols.twopc.table import (
    COORDINATOR_EVENTS,
    PARTICIPANT_EVENTS,
    Action,
    Event,
    Kind,
    Mode,
    Presumption,
    State,
    Transition,
    coordinator_table,
    participant_table,
    states_of,
)

MODES = list(Mode.all())
IDS = [str(m) for m in MODES]
PA2, PC2 = Mode(False, Presumption.ABORT), Mode(False, Presumption.COMMIT)
PA3 = Mode(True, Presumption.ABORT)


def lines(mode: Mode, side: str) -> list[tuple[State, Event, Transition]]:
    table = coordinator_table(mode) if side == "coordinator" else participant_table(mode)
    return [(s, e, t) for (s, e), t in table.items()]


def before(actions: tuple[Action, ...], first: Action, then: Action) -> bool:
    """``first`` comes before ``then`` wherever ``then`` is taken."""
    return then not in actions or (first in actions and
                                   actions.index(first) < actions.index(then))


@pytest.mark.parametrize("mode", MODES, ids=IDS)
def test_every_state_input_pair_has_exactly_one_line(mode: Mode) -> None:
    for side, events in (("coordinator", COORDINATOR_EVENTS),
                         ("participant", PARTICIPANT_EVENTS)):
        table = coordinator_table(mode) if side == "coordinator" else participant_table(mode)
        states = states_of(mode, side)
        assert set(table) == {(s, e) for s in states for e in events}, side
        for (s, e), t in table.items():
            assert t.next in states, (side, s, e, t)
            if t.kind is not Kind.MOVE:  # nothing happens, and the table says why
                assert (t.next, t.actions) == (s, ()) and t.why, (side, s, e, t)


@pytest.mark.parametrize("mode", MODES, ids=IDS)
def test_a_decision_is_forced_before_it_is_sent_or_answered(mode: Mode) -> None:
    """Gray 1978: the coordinator's COMMIT record is on disk before any COMMIT leaves and
    before the client hears "committed" (else a crash could forget a commit someone saw);
    under presumed commit the same holds for ABORT, and COLLECTING precedes PREPARE."""
    for s, e, t in lines(mode, "coordinator"):
        a = t.actions
        assert before(a, Action.FORCE_COMMIT, Action.SEND_COMMIT), (s, e)
        assert before(a, Action.FORCE_COMMIT, Action.ANSWER_COMMITTED), (s, e)
        if mode.presume is Presumption.COMMIT:
            assert before(a, Action.FORCE_ABORT, Action.SEND_ABORT), (s, e)
            assert before(a, Action.FORCE_COLLECTING, Action.SEND_PREPARE), (s, e)
            assert Action.LOG_ABORT not in a
        else:
            assert Action.FORCE_ABORT not in a and Action.FORCE_COLLECTING not in a


@pytest.mark.parametrize("mode", MODES, ids=IDS)
def test_a_participant_forces_prepared_before_it_votes_yes(mode: Mode) -> None:
    """BHG §7.3: a YES is a promise to commit if told so, which a crash must not break:
    PREPARED is forced first. A resent PREPARE to a prepared participant gets the same
    YES (its record is on disk already)."""
    for s, e, t in lines(mode, "participant"):
        if Action.VOTE_YES in t.actions and s in (State.INIT, State.WORKING):
            assert before(t.actions, Action.FORCE_PREPARED, Action.VOTE_YES), (s, e)
            assert t.next is State.PREPARED
        if Action.VOTE_YES in t.actions and s not in (State.INIT, State.WORKING):
            assert s is State.PREPARED and t.actions == (Action.VOTE_YES,), (s, e)


@pytest.mark.parametrize("mode", MODES, ids=IDS)
def test_locks_are_held_while_uncertain(mode: Mode) -> None:
    """Strict two-phase locking: a participant that voted YES releases its locks only at
    the outcome (COMMITTED or ABORTED), never while PREPARED or PRECOMMITTED."""
    for s, e, t in lines(mode, "participant"):
        if Action.RELEASE_LOCKS in t.actions:
            assert t.next in (State.COMMITTED, State.ABORTED) or (
                e is Event.PREPARE_READ_ONLY), (s, e, t)
        if s in (State.PREPARED, State.PRECOMMITTED) and t.next is s:
            assert Action.RELEASE_LOCKS not in t.actions


def test_2pc_blocks_a_prepared_participant_3pc_does_not() -> None:
    """2PC's blocking (BHG §7.4): a prepared participant that hears nothing does not
    guess; it asks and keeps waiting, in PREPARED. 3PC's starts the termination protocol
    (Skeen 1981) and has a state (PRECOMMITTED) where everyone is known to have voted
    yes."""
    for mode in (PA2, PC2):
        t = participant_table(mode)[State.PREPARED, Event.TIMEOUT]
        assert (t.next, t.actions) == (State.PREPARED, (Action.ASK,))
        assert State.PRECOMMITTED not in states_of(mode)
    t3 = participant_table(PA3)[State.PREPARED, Event.TIMEOUT]
    assert (t3.next, t3.actions) == (State.PREPARED, (Action.ELECT,))
    assert coordinator_table(PA3)[State.WORKING, Event.LAST_VOTE_YES].next is \
        State.PRECOMMITTED


@pytest.mark.parametrize("mode", MODES, ids=IDS)
def test_what_a_forgotten_transaction_is_presumed_to_be(mode: Mode) -> None:
    """Mohan, Lindsay & Obermarck 1986: a coordinator that remembers nothing answers
    abort (presumed abort) or commit (presumed commit); the presumed outcome needs no
    acknowledgement, the other one does."""
    coord, part = coordinator_table(mode), participant_table(mode)
    answer = coord[State.INIT, Event.INQUIRY].actions
    pa = mode.presume is Presumption.ABORT
    assert answer == ((Action.REPLY_ABORT,) if pa else (Action.REPLY_COMMIT,))
    commit = part[State.PREPARED, Event.COMMIT].actions
    abort = part[State.PREPARED, Event.ABORT].actions
    assert (Action.ACK in commit, Action.ACK in abort) == (pa, not pa)


@pytest.mark.parametrize("mode", MODES, ids=IDS)
def test_a_participant_that_has_not_voted_may_abort_alone(mode: Mode) -> None:
    """BHG §7.3: until it votes YES a participant may abort unilaterally (on a timeout, or
    when a peer's inquiry finds it undecided: cooperative termination then has its
    answer); after, never: a COMMIT before a YES is refused as impossible."""
    part = participant_table(mode)
    for s in (State.INIT, State.WORKING):
        assert part[s, Event.TIMEOUT].next is State.ABORTED
        assert part[s, Event.PEER_INQUIRY].next is State.ABORTED
        assert part[s, Event.COMMIT].kind is Kind.REFUSE
    assert part[State.PREPARED, Event.PEER_INQUIRY].next is State.PREPARED


@pytest.mark.parametrize("mode", MODES, ids=IDS)
def test_an_outcome_never_changes(mode: Mode) -> None:
    """Atomicity at one side: from COMMITTED or ABORTED every input leads back to the same
    state, and the opposite decision is refused as impossible."""
    for side in ("coordinator", "participant"):
        for s, e, t in lines(mode, side):
            if s in (State.COMMITTED, State.ABORTED):
                assert t.next is s, (side, s, e)
    part = participant_table(mode)
    assert part[State.COMMITTED, Event.ABORT].kind is Kind.REFUSE
    assert part[State.ABORTED, Event.COMMIT].kind is Kind.REFUSE


@pytest.mark.parametrize("mode", MODES, ids=IDS)
def test_duplicates_and_late_messages_are_never_refused(mode: Mode) -> None:
    """The network duplicates and delays: a resent PREPARE, a second decision, a vote
    after the decision, an ack of a forgotten transaction are ignored or answered again,
    never refused (refusing would fail a correct peer's request)."""
    coord, part = coordinator_table(mode), participant_table(mode)
    for s in states_of(mode, "coordinator"):
        for e in (Event.ACK, Event.LAST_ACK, Event.VOTE_YES, Event.LAST_VOTE_YES):
            if s in (State.WORKING, State.PRECOMMITTED) and e in (Event.ACK, Event.LAST_ACK):
                continue  # an ack of a decision not yet made: no correct peer sends it
            assert coord[s, e].kind is not Kind.REFUSE, (s, e)
    for s in (State.PREPARED, State.COMMITTED, State.ABORTED):
        assert part[s, Event.PREPARE].kind is not Kind.REFUSE
    assert part[State.COMMITTED, Event.COMMIT].kind is not Kind.REFUSE
    assert part[State.ABORTED, Event.ABORT].kind is not Kind.REFUSE
