"""Multi-Paxos leader leases (``read_mode="lease"``), under the same clock assumption as
Raft's lease reads: linearizable in the simulator under every fault (stalls and pauses
of the leader among them), and a stalled leader whose lease ran out serves no read."""

from __future__ import annotations

import pytest

from protocols.kv.commands import KvCommand
from protocols.paxos.core import PaxosCore
from protocols.paxos.sim import ADAPTER
from protocols.sim import World
from protocols.sim.nemesis import KINDS
from protocols.simulate import run_once

LEASE = {"read_mode": "lease"}
FAULTS = (*KINDS, "crash-mid-write")  # the last bites when the disk is slow (seed % 3 > 0)


def core(w: World, n: str) -> PaxosCore:
    c = w.core(n)
    assert isinstance(c, PaxosCore)
    return c


@pytest.mark.parametrize("seed", range(1, 16))
def test_lease_reads_stay_linearizable_under_every_fault(seed: int) -> None:
    result = run_once("paxos", seed, duration_ms=6000, options=LEASE, nemesis_kinds=FAULTS,
                      disk_latency_ms=seed % 3)
    assert result.ok, result.failure
    assert result.verdict == "ok" and len(result.history) > 100


def test_a_lease_read_needs_no_slot_and_a_stalled_leader_serves_none() -> None:
    w = World(ADAPTER, 3, seed=2, options=LEASE)
    old = w.run_until(w.leader, 5000)
    rid = w.submit(old, KvCommand("put", "k", "old"))
    w.run_until(lambda: rid in w.answers, 2000)
    w.run_for(300)  # heartbeats: the lease holds
    slots = core(w, old).replica.slot_in
    rid = w.submit(old, KvCommand("get", "k"))
    assert w.answers[rid].result.value == "old"  # at once, in no slot
    assert core(w, old).replica.slot_in == slots and core(w, old).lease_reads == 1
    w.disconnect(old)
    w.stall(old, 3000)  # it takes no input for 3 s; the others elect and write
    new = w.run_until(lambda: w.leader() if w.leader() not in (None, old) else None, 3000)
    rid = w.submit(new, KvCommand("put", "k", "new"))
    w.run_until(lambda: rid in w.answers and w.answers[rid].error is None, 3000)
    w.run_until(lambda: w.now >= w.nodes[old].stalled_until, 5000)  # it runs again
    assert core(w, old).leader.active  # it has not noticed yet
    stale = w.submit(old, KvCommand("get", "k"))
    w.run_for(1)
    answer = w.answers.get(stale)
    assert answer is None or answer.error is not None or answer.result.value == "new", \
        "a leader whose lease ran out during a stall answered from its own state"


def test_no_lease_read_before_what_was_open_at_adoption_is_applied() -> None:
    """A new leader may hold the previous leader's acknowledged writes only as pvalues it
    re-proposes: until those are decided and applied, its state is behind, and a lease
    read must wait (the role of Raft's "an entry of its own term committed")."""
    from protocols.paxos.leader import Scout
    from protocols.paxos.messages import Ballot, Decision, PValue

    w = World(ADAPTER, 3, seed=5, options=LEASE)
    w.run_until(w.leader, 5000)
    c = core(w, next(n for n in w.ids if not core(w, n).leader.active))
    ballot = Ballot(c.max_round + 5, c.node_id)
    scout = Scout(ballot, set())
    top = c.replica.slot_out + 3
    for slot in range(c.replica.slot_out, top + 1):  # the previous leader's pvalues
        scout.pvalues[slot] = PValue(Ballot(1, "n9"), slot, KvCommand("put", "k", "x").encode())
    c._adopted(scout)
    c.lease_from = {p: c.clock() for p in c.peers}  # every acceptor just answered
    assert not c._lease_valid(), "a lease read before the adopted slots were applied"
    for slot in range(c.replica.slot_out, top + 1):
        c._decide(Decision(slot, scout.pvalues[slot].command))
    assert c.replica.slot_out > top and c._lease_valid()


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(16, 216))
def test_lease_sweep(seed: int) -> None:
    result = run_once("paxos", seed, duration_ms=6000, options=LEASE, nemesis_kinds=FAULTS,
                      disk_latency_ms=seed % 3)
    assert result.ok, result.failure
