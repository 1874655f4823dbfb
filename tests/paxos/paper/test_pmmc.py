"""The invariants of "Paxos Made Moderately Complex" (van Renesse & Altinbuken 2015, §3)
that the simulator checks after every event (``check.paxos.MultiPaxosSafety``): each is
caught when a violation is planted, and each holds on real cores under every fault the
simulator has — crashes timed inside a write on a slow disk among them.

A1 an acceptor's ballot only increases; A2 it accepts only at its ballot; A4 one ballot
carries one command per slot; A5 (P2c) once chosen, every higher-ballot pvalue in that
slot carries the same command; R1 one command decided per slot; R2/R3 replicas apply
the decisions in slot order; R4 slot_out never decreases; L2 a new leader proposes what
may have been chosen."""

from __future__ import annotations

import pytest

from protocols.check.invariants import InvariantViolation
from protocols.check.paxos import MultiPaxosSafety
from protocols.kv.commands import KvCommand
from protocols.paxos import SPEC
from protocols.paxos.core import PaxosCore
from protocols.paxos.messages import Ballot, P1a, P1b, P2a, P2b, PValue
from protocols.sim.nemesis import KINDS
from protocols.simulate import run_once
from tests.support.by_hand import ByHand

B1, B2, B3 = Ballot(1, "n1"), Ballot(2, "n2"), Ballot(3, "n3")


def cmd(value: str) -> bytes:
    return KvCommand("put", "k", value).encode()


# ====================================================================== planted
def test_a1_an_acceptor_ballot_going_down_is_caught_unless_it_restarted() -> None:
    check = MultiPaxosSafety(2)
    check.acceptor_state("n1", B2, ())
    check.acceptor_state("n1", B1, (), restarted=True)  # a promise whose reply never left
    check.acceptor_state("n1", B2, ())
    with pytest.raises(InvariantViolation, match="A1"):
        check.acceptor_state("n1", B1, ())


def test_a2_a_pvalue_above_its_acceptor_ballot_is_caught() -> None:
    check = MultiPaxosSafety(2)
    check.acceptor_state("n1", B2, [PValue(B2, 1, cmd("x"))])
    with pytest.raises(InvariantViolation, match="A2"):
        check.acceptor_state("n2", B1, [PValue(B2, 1, cmd("x"))], restarted=True)


def test_a4_one_ballot_with_two_commands_in_a_slot_is_caught() -> None:
    check = MultiPaxosSafety(3)
    check.accept("n1", [PValue(B2, 1, cmd("x"))])
    check.accept("n2", [PValue(B2, 2, cmd("y"))])  # another slot: fine
    with pytest.raises(InvariantViolation, match="A4"):
        check.accept("n3", [PValue(B2, 1, cmd("y"))])


def test_r4_slot_out_going_down_is_caught_unless_it_restarted() -> None:
    check = MultiPaxosSafety(2)
    check.replica_state("n1", 9)
    check.replica_state("n1", 4, restarted=True)  # back to its snapshot
    with pytest.raises(InvariantViolation, match="R4"):
        check.replica_state("n1", 3)


# ====================================================================== L2, by hand
def is_request(kind: type, src: str, dst: str) -> object:
    return lambda m: (not m.is_reply and isinstance(m.msg, kind)
                      and m.src == src and m.dst == dst)


def test_l2_a_new_leader_proposes_the_command_that_may_have_been_chosen() -> None:
    """n1 gets x accepted by itself and n2 (a majority: chosen), then crashes. n3's
    scout hears n2: pmax is x, so n3 proposes x in that slot, not its own command."""
    h = ByHand(SPEC, 3, options={"stickiness": False})
    n1: PaxosCore = h.core("n1")
    n1._start_scout()
    h._input("n1")
    h.deliver_all()
    h.submit("n1", "x", KvCommand("put", "k", "x"))
    h.deliver(is_request(P2a, "n1", "n2"))  # type: ignore[arg-type]
    h.deliver(lambda m: m.is_reply and isinstance(m.reply, P2b))
    assert h.answers["x"].error is None  # chosen and acknowledged
    h.crash("n1")
    h.flight.clear()
    n3: PaxosCore = h.core("n3")
    n3._start_scout()
    h._input("n3")
    h.deliver(is_request(P1a, "n3", "n2"))  # type: ignore[arg-type]
    h.deliver(lambda m: m.is_reply and isinstance(m.reply, P1b))
    assert n3.leader.active
    assert n3.leader.proposals[1] == cmd("x")
    proposed = [pv for m in h.flight if isinstance(m.msg, P2a) for pv in m.msg.pvalues]
    assert proposed and all(pv.command == cmd("x") for pv in proposed if pv.slot == 1)


def test_r1_r3_replicas_apply_the_same_commands_in_slot_order() -> None:
    h = ByHand(SPEC, 3)
    for _ in range(300):  # time passes and every message arrives: someone is adopted
        h.tick_all()
        h.deliver_all()
        leaders = [n for n in h.ids if h.core(n).leader.active]
        if leaders:
            break
    leader = leaders[0]
    for i in range(30):
        h.submit(leader, i, KvCommand("put", f"k{i % 4}", str(i)))
        if i % 3 == 0:
            h.deliver_all()
    h.deliver_all()
    h.tick_all(h.core(leader).options.heartbeat_interval_ticks)
    h.deliver_all(lambda m: True)
    states = {n: h.core(n).kv.state_machine.data for n in h.ids}
    assert len({str(sorted(s.items())) for s in states.values()}) == 1, states
    assert all(h.core(n).replica.slot_out == h.core(leader).replica.slot_out for n in h.ids)


# ====================================================================== under faults
@pytest.mark.parametrize("seed", range(1, 9))
def test_every_invariant_holds_with_crashes_inside_writes_on_a_slow_disk(seed: int) -> None:
    """A crash timed between a message leaving and its write (the leader's P2a go out
    while its own accept is still being written), on a disk 3 ms slow: the window where
    a core must not rely on an unfinished write (issue #31)."""
    result = run_once("paxos", seed, duration_ms=4000, disk_latency_ms=3,
                      nemesis_kinds=("crash-mid-write", "crash", "partition", "pause"))
    assert result.ok, result.failure
    assert result.verdict == "ok"


@pytest.mark.parametrize("seed", range(1, 5))
def test_lease_mode_holds_them_too_with_a_slow_disk(seed: int) -> None:
    result = run_once("paxos", seed, duration_ms=4000, disk_latency_ms=2,
                      options={"read_mode": "lease"},
                      nemesis_kinds=(*KINDS, "crash-mid-write"))
    assert result.ok, result.failure
