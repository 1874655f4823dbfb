"""Three-phase commit in the simulator (protocols.twopc, ``commit_protocol="3pc"``):
the classic lesson of Skeen's "Nonblocking Commit Protocols" (SIGMOD 1981) and BHG §7.5.

* The coordinator dies after the votes, before or amid its PRECOMMITs: the participants
  run the termination protocol and finish the transaction without it (abort if none is
  PRECOMMITTED, commit if one is), where 2PC in the same place blocks.
* The network partitions during the termination protocol, a PRECOMMITTED participant on
  one side and PREPARED ones on the other: each side elects its own coordinator, one
  commits and the other aborts. Skeen's model has sites fail and messages arrive; a
  partition breaks it, and the simulator's Atomicity invariant catches the split.
"""

from __future__ import annotations

from typing import Any

import pytest

from protocols.check.invariants import InvariantViolation
from protocols.common.errors import ConfigError
from protocols.sim.world import SimulationFailure, World
from protocols.twopc.coordinator import shard_of
from protocols.twopc.core import TwoPcCore
from protocols.twopc.messages import MicroOp, Transact
from protocols.twopc.participant import Participant
from protocols.twopc.sim import ADAPTER
from protocols.twopc.table import State

PARTS = ("n2", "n3", "n4")
# the termination protocol starts after termination_ticks of silence, above the
# coordinator's vote timeout (Skeen's 3PC needs a timeout to mean a failure)
THREE = {"commit_protocol": "3pc", "vote_timeout_ticks": 10, "termination_ticks": 20}


def key_on(shard: str) -> str:
    return next(f"k{i}" for i in range(1000) if shard_of(f"k{i}", PARTS) == shard)


X, Y, Z = key_on("n2"), key_on("n3"), key_on("n4")
TXN = Transact((MicroOp("w", X, 1), MicroOp("w", Y, 1), MicroOp("w", Z, 1)))


def world(seed: int = 1, **options: Any) -> World:
    return World(ADAPTER, 4, seed, options={**THREE, **options})


def part(w: World, n: str) -> Participant:
    c = w.core(n)
    assert isinstance(c, TwoPcCore) and c.participant is not None
    return c.participant


def state(w: World, n: str) -> State:
    """The state of the only transaction ``n`` has seen."""
    p = part(w, n)
    (txn,) = {*p.txns, *p.outcomes}
    s = p.state_of(txn)
    assert isinstance(s, State)
    return s


def outcomes(w: World) -> dict[str, bool | None]:
    out: dict[str, bool | None] = {}
    for n in PARTS:
        p = part(w, n)
        out[n] = next(iter(p.outcomes.values())) if p.outcomes else None
    return out


def settled(w: World) -> bool:
    return all(w.nodes[n].up and part(w, n).outcomes for n in PARTS)  # type: ignore[index]


def test_3pc_commits_after_a_precommit_round() -> None:
    w = world()
    rid = w.submit("n1", TXN)
    a = w.run_until(lambda: w.answers.get(rid), 2_000)
    assert a.error is None
    w.run_until(lambda: all(part(w, n).data for n in PARTS), 1_000)
    assert w.rpc_count["PreCommit"] == w.rpc_count["PreCommitAck"] == 3
    assert outcomes(w) == dict.fromkeys(PARTS, True)
    assert not any(part(w, n).locks.held for n in PARTS)


def test_2pc_blocks_where_3pc_terminates_the_coordinator_dead_after_the_votes() -> None:
    """Every participant voted YES; the coordinator dies before a word of the second
    phase leaves. 2PC: uncertain for good (BHG §7.4), locks held. 3PC: they find each
    other PREPARED, none PRECOMMITTED, so none can have committed: abort (Skeen's
    termination rule)."""
    two = World(ADAPTER, 4, 1, options={"inquiry_ticks": 20})
    two.crash_at("n1", "before_send:Decision")
    two.submit("n1", TXN)
    two.run_for(2_000)
    assert not two.nodes["n1"].up  # type: ignore[index]
    assert all(state(two, n) is State.PREPARED and part(two, n).locks.held for n in PARTS)

    three = world()
    three.crash_at("n1", "before_send:PreCommit")
    three.submit("n1", TXN)
    three.run_until(lambda: settled(three), 2_000)
    assert not three.nodes["n1"].up  # type: ignore[index]
    assert outcomes(three) == dict.fromkeys(PARTS, False)
    assert not any(part(three, n).locks.held or part(three, n).data for n in PARTS)


def test_3pc_commits_without_the_coordinator_when_one_is_precommitted() -> None:
    """The PRECOMMIT to n4 is lost and the coordinator dies after n2 and n3 acknowledged
    theirs: the elected participant (n2, the lowest) finds PRECOMMITTED ones, so all
    voted YES: it PRECOMMITs n4, then commits everywhere."""
    w = world()
    w.hook("PreCommit", "drop", src="n1", dst="n4")
    w.submit("n1", TXN)
    w.run_until(lambda: all(part(w, n).txns and state(w, n) is State.PRECOMMITTED
                            for n in ("n2", "n3")), 2_000)
    w.crash("n1")
    assert state(w, "n4") is State.PREPARED
    w.run_until(lambda: settled(w), 2_000)
    assert outcomes(w) == dict.fromkeys(PARTS, True)
    assert (part(w, "n2").data, part(w, "n3").data, part(w, "n4").data) == (
        {X: 1}, {Y: 1}, {Z: 1})
    assert w.rpc_count["PreCommit"] == 3 + 1  # the coordinator's (one lost), n2's to n4


def test_the_lowest_participant_it_hears_from_is_elected_and_a_recovered_one_asks() -> None:
    """The coordinator and n2 (the lowest participant) both die after voting: n3 and n4
    hear nothing from n2 in their first round, so n3 is elected and aborts. n2, back
    from its log still PREPARED, asks and learns the outcome: 3PC blocks only if every
    site fails (Skeen §5)."""
    w = world()
    w.crash_at("n1", "before_send:PreCommit")
    w.submit("n1", TXN)
    w.run_until(lambda: not w.nodes["n1"].up, 1_000)  # type: ignore[index]
    w.crash("n2")
    w.run_until(lambda: part(w, "n3").outcomes and part(w, "n4").outcomes, 2_000)
    assert part(w, "n3").outcomes == part(w, "n4").outcomes and \
        set(part(w, "n3").outcomes.values()) == {False}
    w.restart("n2")
    assert state(w, "n2") is State.PREPARED and part(w, "n2").locks.held
    w.run_until(lambda: settled(w), 2_000)
    assert outcomes(w) == dict.fromkeys(PARTS, False) and not part(w, "n2").locks.held


def test_a_partition_during_termination_splits_the_decision() -> None:
    """Skeen's termination protocol takes a silent site for a failed one. Partition it:
    the coordinator's PRECOMMIT reached n2 only, then the coordinator died and the network
    split {n2} | {n3, n4}. n2, alone and PRECOMMITTED, elects itself and commits; n3 and
    n4, both PREPARED, elect n3, which aborts. The Atomicity invariant fails the run."""
    w = world()
    w.hook("PreCommit", "drop", src="n1", dst="n3")
    w.hook("PreCommit", "drop", src="n1", dst="n4")
    w.submit("n1", TXN)
    w.run_until(lambda: part(w, "n2").txns and state(w, "n2") is State.PRECOMMITTED, 2_000)
    w.crash("n1")
    w.partition([["n1", "n2"], ["n3", "n4"]])
    with pytest.raises(SimulationFailure, match=r"InvariantViolation: atomicity: \S+ "
                       r"committed at \['n2'\] and aborted at \['n3', 'n4'\]") as e:
        w.run_for(2_000)
    assert isinstance(e.value.__cause__, InvariantViolation)


def test_3pc_refuses_presumed_commit() -> None:
    with pytest.raises(ConfigError, match="presume=abort only"):
        world(presume="commit")
