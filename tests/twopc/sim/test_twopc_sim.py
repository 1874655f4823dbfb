"""2PC in the simulator (protocols.twopc): transactions across shards commit or abort
everywhere, locks serialize conflicting ones, and the crashes the textbook draws (BHG
ch. 7) end as it says: a participant uncertain after its YES blocks, holding its locks,
until someone who knows tells it; the coordinator's log finishes what it decided."""

from __future__ import annotations

from typing import Any

import pytest

from protocols.sim.world import World
from protocols.twopc.coordinator import TransactionAborted, shard_of
from protocols.twopc.core import TwoPcCore
from protocols.twopc.messages import MicroOp, Read, Transact
from protocols.twopc.sim import ADAPTER
from protocols.twopc.table import State

PARTS = ("n2", "n3", "n4")


def keys_on(shard: str, n: int = 2, prefix: str = "k") -> list[str]:
    """``n`` keys that live on participant ``shard``."""
    out, i = [], 0
    while len(out) < n:
        if shard_of(f"{prefix}{i}", PARTS) == shard:
            out.append(f"{prefix}{i}")
        i += 1
    return out


X, Y, Z = keys_on("n2", 1)[0], keys_on("n3", 1)[0], keys_on("n4", 1)[0]


def world(seed: int = 1, **options: Any) -> World:
    return World(ADAPTER, 4, seed, options=options)


def core(w: World, n: str) -> TwoPcCore:
    c = w.core(n)
    assert isinstance(c, TwoPcCore)
    return c


def run(w: World, *ops: tuple[str, str, int], max_ms: int = 5_000) -> Any:
    """Submit one transaction to n1, run until it is answered; its answer."""
    rid = w.submit("n1", Transact(tuple(MicroOp(*op) for op in ops)))
    return w.run_until(lambda: w.answers.get(rid), max_ms)


def value(w: World, key: str) -> Any:
    p = core(w, shard_of(key, PARTS)).participant
    assert p is not None
    return p.data.get(key)


def test_a_transaction_across_shards_commits_everywhere() -> None:
    w = world()
    a = run(w, ("w", X, 1), ("append", Y, 7), ("add", Z, 10))
    assert a.error is None  # answered once the decision is durable; installed soon after
    w.run_until(lambda: (value(w, X), value(w, Y), value(w, Z)) == (1, (7,), 10), 1_000)
    b = run(w, ("r", Z, 0), ("r", X, 0), ("r", Y, 0), ("r", "nothing", 0))
    assert b.result == (Read(Z, (10,), True), Read(X, (1,), True), Read(Y, (7,), True, True),
                        Read("nothing", (), False))
    w.run_for(2_000)
    assert core(w, "n1").status().details["active"] == "0"  # acknowledged, ended


def test_a_no_vote_aborts_on_every_shard_and_the_client_hears_why() -> None:
    w = world()
    assert run(w, ("add", Z, 5)).error is None
    a = run(w, ("w", X, 1), ("add", Z, -6))  # Z would go below zero: n4 votes NO
    assert isinstance(a.error, TransactionAborted) and "below zero" in str(a.error)
    w.run_for(2_000)
    assert (value(w, X), value(w, Z)) == (None, 5)
    assert all(not core(w, n).participant.locks.held for n in PARTS)  # type: ignore[union-attr]


def test_a_single_shard_transaction_commits_in_one_phase() -> None:
    w = world()
    a = run(w, ("w", X, 3), ("r", X, 0))
    assert a.error is None and a.result == (Read(X, (3,), True),)
    p = core(w, "n2").participant
    assert p is not None and not p.txns and p.outcomes  # no vote, no phase two


def test_conflicting_transactions_are_serialized_or_the_younger_dies() -> None:
    """Two transactions on the same two shards, their PREPAREs racing: wait-die lets the
    older one wait and kills the younger one where it meets the older, so no deadlock
    across shards; whatever commits is in one order on both."""
    w = world()
    first = w.submit("n1", Transact((MicroOp("append", X, 1), MicroOp("append", Y, 1))))
    second = w.submit("n1", Transact((MicroOp("append", X, 2), MicroOp("append", Y, 2))))
    w.run_until(lambda: w.answers.get(first) and w.answers.get(second), 5_000)
    assert w.answers[first].error is None  # the older never dies
    late = w.answers[second].error
    assert late is None or "wait-die" in str(late)
    if late is not None:  # once the first is installed, a retry commits
        w.run_until(lambda: value(w, X) == value(w, Y) == (1,), 2_000)
        assert run(w, ("append", X, 2), ("append", Y, 2)).error is None
    w.run_until(lambda: value(w, X) == value(w, Y) == (1, 2), 2_000)


@pytest.mark.parametrize("presume", ["abort", "commit"])
def test_coordinator_dead_after_its_decision_blocks_the_participants_until_it_recovers(
        presume: str) -> None:
    """The crash BHG §7.4 draws: the decision is durable, no COMMIT has left. Every
    participant voted YES and is uncertain: it keeps its locks, asks, and does not guess
    (cooperative termination finds no one who knows). The coordinator's restart reads
    COMMIT from its log and finishes it."""
    w = world(presume=presume, inquiry_ticks=5)
    w.crash_at("n1", "after_persist:Decided")
    rid = w.submit("n1", Transact((MicroOp("w", X, 1), MicroOp("w", Y, 1))))
    w.run_until(lambda: not w.nodes["n1"].up, 5_000)  # type: ignore[index]
    w.run_for(3_000)  # a long while: they ask each other, nobody knows
    for n in ("n2", "n3"):
        p = core(w, n).participant
        assert p is not None and p.state_of(p.in_doubt()[0]) is State.PREPARED
        assert p.locks.held and p.blocked_ticks > 100
    assert value(w, X) is None and rid not in w.answers
    w.restart("n1")
    w.run_until(lambda: value(w, X) == 1 and value(w, Y) == 1, 5_000)
    for n in ("n2", "n3"):
        p = core(w, n).participant
        assert p is not None and not p.in_doubt() and not p.locks.held


@pytest.mark.parametrize("presume", ["abort", "commit"])
def test_coordinator_dead_before_deciding_aborts(presume: str) -> None:
    """Crashed after its PREPAREs left, before any decision: on restart it knows nothing
    of the transaction (presumed abort) or finds it COLLECTING (presumed commit), and the
    participants' inquiries end in ABORT either way."""
    w = world(presume=presume, inquiry_ticks=5)
    w.crash_at("n1", "before_send:Prepare")  # the second PREPARE never leaves
    rid = w.submit("n1", Transact((MicroOp("w", X, 1), MicroOp("w", Y, 1))))
    w.run_until(lambda: not w.nodes["n1"].up, 5_000)  # type: ignore[index]
    w.restart("n1")
    w.run_until(lambda: all(not core(w, n).participant.in_doubt()  # type: ignore[union-attr]
                            for n in PARTS) and w.nodes["n1"].up, 5_000)  # type: ignore[index]
    w.run_for(1_000)
    assert (value(w, X), value(w, Y)) == (None, None) and rid not in w.answers
    assert run(w, ("w", X, 2), ("w", Y, 2)).error is None  # the locks are free again


def test_cooperative_termination_learns_the_outcome_from_a_peer() -> None:
    """The COMMIT reached n2 but never n3, and the coordinator died: n3, uncertain, asks
    n2, which knows, and commits without waiting for the coordinator (BHG §7.4)."""
    w = world(inquiry_ticks=5)
    w.hook("Decision", "drop", src="n1", dst="n3")
    w.submit("n1", Transact((MicroOp("w", X, 1), MicroOp("w", Y, 1))))
    w.run_until(lambda: value(w, X) == 1, 5_000)
    w.crash("n1")
    w.run_until(lambda: value(w, Y) == 1, 5_000)
    assert not core(w, "n3").participant.in_doubt()  # type: ignore[union-attr]


def test_the_atomicity_invariant_catches_a_split_outcome() -> None:
    """The invariant can fail: one participant committed what another aborted."""
    from protocols.check.invariants import InvariantViolation
    from protocols.twopc.sim import Atomicity

    w = world()
    check = Atomicity()
    check(w)
    core(w, "n2").participant.outcomes["t"] = True  # type: ignore[union-attr]
    core(w, "n3").participant.outcomes["t"] = False  # type: ignore[union-attr]
    with pytest.raises(InvariantViolation, match=r"atomicity: t committed at \['n2'\] "
                                                 r"and aborted at \['n3'\]"):
        check(w)
