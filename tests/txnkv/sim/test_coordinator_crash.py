"""The coordinator killed at every step of a parallel commit (issue #36), in the
simulator, with the TLA+ model's properties checked after every event
(``ParallelCommitProperties``) and the final state judged (``final_state_violations``).

One transfer, coordinated by n1, writes an account in each of the three ranges (the
record goes to the first's range, r1). n1 is killed:

* before STAGING: its write batches never leave (dropped): nothing of it may survive;
* after STAGING, with a write missing (the batch to one range dropped): a reader finds
  the record abandoned, fails to find that write, prevents it, and aborts;
* after every write landed, before n1 heard back: implicitly committed, never
  acknowledged: a reader's recovery finds every write and commits;
* after answering its client, before the COMMITTED record (the explicit commit is lost
  on its way): the acknowledged transfer must end COMMITTED, by a recovery;
* after the COMMITTED record, before resolving its intents: readers resolve them.

A reader on n2 then reads every account (it meets the intents, pushes the record,
recovers or resolves) and the bank must add up, with the transfer all there or not at
all, as each case says.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from protocols.check.invariants import InvariantViolation
from protocols.sim.world import World
from protocols.txnkv.record import TxnStatus, implicitly_committed
from protocols.txnkv.sim import (
    ParallelCommitProperties,
    _found,
    committed_state,
    final_state_violations,
)
from tests.txnkv.sim.scenarios import (
    commits,
    drop_batches_from_n1,
    read_all,
    record,
    transfer,
    world,
    writes,
)


def _balances(w: World) -> list[int]:
    reads = read_all(w)
    assert not final_state_violations(w)
    return [r.values[0] for r in reads]


def _recoveries(w: World) -> int:
    return w.core("n2").coordinator.stats["recoveries"]


UNCHANGED, MOVED = [10, 10, 10], [7, 11, 12]


def test_killed_before_staging_leaves_nothing() -> None:
    w = world()
    drop_batches_from_n1(w, writes)
    transfer(w)
    w.run_until(lambda: any(c.attempt is not None and c.attempt.record_written
                            for c in w.core("n1").coordinator.txns.values()), max_ms=5000)
    w.crash("n1")
    assert _balances(w) == UNCHANGED


def test_killed_after_staging_with_a_write_missing_aborts() -> None:
    w = world()
    drop_batches_from_n1(w, lambda r: writes(r) and r.range_id == "r3")
    transfer(w)
    w.run_until(lambda: (rec := record(w)) is not None
                and rec.status is TxnStatus.STAGING, max_ms=5000)
    w.crash("n1")
    assert _balances(w) == UNCHANGED
    aborted = record(w)
    assert aborted.status is TxnStatus.ABORTED
    assert _recoveries(w) >= 1
    # the write to r3 was prevented at the aborted attempt ...
    prevented = {(t, e, ts) for c in (w.core(n) for n in w.up_nodes())
                 for r in c.replicas.values() for t, e, ts, _ in r.prevented}
    assert (aborted.txn_id, aborted.epoch, aborted.write_ts) in prevented
    # ... and a record COMMITTED there afterwards (planted) is what the invariant
    # exists to catch
    properties = ParallelCommitProperties()
    properties(w)
    for c in (w.core(n) for n in w.up_nodes()):
        if "r1" in c.replicas:
            c.replicas["r1"].machine.records[aborted.txn_id] = replace(
                aborted, status=TxnStatus.COMMITTED)
    with pytest.raises(InvariantViolation, match="a recovery prevented"):
        properties(w)


def _implicit(w: World) -> bool:
    staged = record(w)
    return staged is not None and implicitly_committed(
        staged, _found(committed_state(w), staged))


def test_killed_after_every_write_before_hearing_back_commits() -> None:
    w = world()
    rid = transfer(w)
    w.run_until(lambda: _implicit(w), max_ms=5000)
    assert rid not in w.answers  # nobody was told
    w.crash("n1")
    assert _balances(w) == MOVED
    assert record(w).status is TxnStatus.COMMITTED
    assert _recoveries(w) >= 1


def test_killed_after_acknowledging_before_the_committed_record() -> None:
    w = world()
    drop_batches_from_n1(w, commits)  # the explicit commit never lands
    rid = transfer(w)
    w.run_until(lambda: rid in w.answers, max_ms=5000)
    assert w.answers[rid].error is None and record(w).status is TxnStatus.STAGING
    w.crash("n1")
    assert _balances(w) == MOVED
    assert record(w).status is TxnStatus.COMMITTED
    assert _recoveries(w) >= 1


def test_killed_after_the_committed_record_before_resolving() -> None:
    w = world()
    rid = transfer(w)
    w.run_until(lambda: (rec := record(w)) is not None
                and rec.status is TxnStatus.COMMITTED, max_ms=5000)
    w.crash("n1")
    assert w.answers[rid].error is None
    assert _balances(w) == MOVED


@pytest.mark.parametrize("seed", [1, 2])
def test_every_step_holds_on_other_seeds(seed: int) -> None:
    w = world(seed)
    rid = transfer(w)
    w.run_until(lambda: rid in w.answers, max_ms=5000)
    w.crash("n1")
    assert _balances(w) == MOVED


def test_an_explicit_commit_that_never_lands_is_left_to_a_recovery() -> None:
    """n1 stays up, but its explicit commit never lands (every try times out): it must
    stop heartbeating the record it cannot finish, or no reader would ever recover it
    (bank seed 9: the final read waited forever)."""
    w = world()
    drop_batches_from_n1(w, commits, time_out=True)
    rid = transfer(w)
    w.run_until(lambda: rid in w.answers, max_ms=5000)
    assert w.answers[rid].error is None
    assert _balances(w) == MOVED
    assert record(w).status is TxnStatus.COMMITTED
    assert _recoveries(w) >= 1


def test_a_coordinator_that_lost_its_replies_finds_it_committed_rather_than_abort() -> None:
    """Every reply of n1's write batch to r3 is lost, though the batch lands (and so do
    its resends): n1 gives up on it and abandons the attempt, but its STAGING record may
    be implicitly committed (it is: every write landed). It may abort only once a write
    can never land, so it queries its own writes first, finds them all, and commits
    (the TLA+ model; without the queries the invariant "an implicitly committed
    transaction is never aborted" fails at the abort)."""
    w = world()
    drop_batches_from_n1(w, lambda r: writes(r) and r.range_id == "r3", lose_reply=True)
    rid = transfer(w)
    w.run_until(lambda: rid in w.answers, max_ms=10_000)
    assert w.answers[rid].error is None  # committed, and the client told so
    assert record(w).status is TxnStatus.COMMITTED
    assert _balances(w) == MOVED
