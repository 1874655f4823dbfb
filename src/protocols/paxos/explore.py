"""The Synod and Multi-Paxos as models for the explorer (``protocols.explore``).

The Synod: 3 acceptors, 2 proposers (n1 and n2, each asked by one client for its own
value), every order of messages, timeouts and timer firings: at most one value is chosen
(P2 of "Paxos Made Simple" §2.2, ``SynodAgreement`` over every acceptance seen), and "a
value is chosen" is reachable (a model that does nothing does not pass).

Multi-Paxos: 3 nodes run the cores of ``protocols.paxos.core`` (replica, leader and
acceptor in one, "Paxos Made Moderately Complex" §3) with the shortest timers the
options allow; a client asks n1 for two puts through the KV binding. Every write
reaches the disk as a move of its own and one node may crash: so a message that left
ahead of its write (Raft thesis §10.2.1) may outlive the write. Checked in every state:
the simulator's ``PaxosInvariants`` (one command per slot, one command per ballot and
slot, decisions chosen by a phase-2 quorum, PMMC's acceptor and replica invariants),
the client's history is linearizable (the engine adds it: ``kv`` is set), and, so the
model is not vacuous, that a leader is adopted and that a command is decided.
Paxos orders ballots by node id (``Ballot(round, leader_id)``): the model is not
symmetric under renaming nodes.
"""

from __future__ import annotations

from protocols.common.ids import NodeId
from protocols.explore import Always, Bounds, ExploreAdapter, Sometimes, System
from protocols.kv.rsm import KV_BINDING
from protocols.paxos import SPEC, SYNOD_SPEC
from protocols.paxos.core import PaxosCore
from protocols.paxos.sim import ADAPTER, SYNOD
from protocols.paxos.synod import SynodCore

__all__ = ["MODELS", "SYNOD_MODELS", "multipaxos", "synod"]


# ====================================================================== the Synod
def _chosen(system: System) -> bool:
    """Some node learned a value (a majority accepted it and the proposer heard)."""
    return any(isinstance(node.core, SynodCore) and node.core.chosen is not None
               for node in system.nodes.values() if node.up)


def _learners_agree(system: System) -> str | None:
    learned = {node.core.chosen for node in system.nodes.values()
               if node.up and isinstance(node.core, SynodCore) and node.core.chosen}
    return None if len(learned) <= 1 else f"nodes learned different values: {sorted(learned)}"


def synod(size: str = "small") -> ExploreAdapter:
    """``size`` "small": each proposer tries once (no timer fires, no request times
    out) and the network holds at most 4 messages, so the second proposer starts while
    the first is under way but not at its very start (seconds); "full": at most 12
    messages in flight (every order) and each proposer may time out and retry once."""
    bounds = (Bounds(ticks=0, timeouts=False, persist_moves=False, in_flight=4)
              if size == "small" else
              Bounds(ticks=1, timeouts=True, persist_moves=False, in_flight=12))
    return ExploreAdapter(
        "synod", SYNOD_SPEC, nodes=3,
        options={"retry_min_ticks": 1, "retry_max_ticks": 2},
        bounds=bounds,
        commands=("x", "y"), targets=(("n1",), ("n2",)),
        properties=(Always("learners agree", _learners_agree),
                    Sometimes("a value is chosen", _chosen)),
        sim=SYNOD,
        summary="the Synod: 3 acceptors, 2 proposers asked for x and y")


# ====================================================================== Multi-Paxos
# the shortest timers the options allow: heartbeat < election_min < election_max; a
# window below 4 so a P2a is never held back for batching (``PaxosCore._flush``)
TIMERS = {"election_timeout_min_ticks": 2, "election_timeout_max_ticks": 3,
          "heartbeat_interval_ticks": 1, "window": 3}

PUTS = (KV_BINDING.kv_command("put", "k", "X", "", 0),  # no session: nothing to dedup
        KV_BINDING.kv_command("put", "k", "Y", "", 0))

# attributes that are not state: counters and statistics, the lease's clock (reads go
# through the log here), and tables keyed by ``id()`` of a message (a copied state
# gives its messages new ids: those entries are stale in every copy; with a window
# below 4 they change nothing the core does); and the simulator's checkers' tap on
# decisions (``events``: drained after every step, absent on a process)
IGNORE = frozenset({
    "PaxosCore.ticks", "PaxosCore.lease_reads", "PaxosCore.lease_from",
    "PaxosCore._sent_at", "PaxosCore._batches", "PaxosCore.events",
})


def _cores(system: System) -> list[PaxosCore]:
    return [node.core for node in system.nodes.values()
            if node.up and isinstance(node.core, PaxosCore)]


def _adopted(system: System) -> bool:
    """Some node's leader was adopted by a phase-1 quorum (PMMC "adopted")."""
    return any(core.leader.active for core in _cores(system))


def _decided(system: System) -> bool:
    """Some replica learned a decision (a phase-2 quorum accepted a client's put)."""
    return any(core.replica.decisions for core in _cores(system))


def _n1_leads_alone(system: System) -> bool:
    """The model's own bound (a state it says False of is checked, not expanded): only
    n1's election timer fires (n2 and n3 follow it)."""
    return all(node.ticks == 0 for n, node in system.nodes.items() if n != "n1")


def _n1_leads_crashes_and_leads_again(system: System) -> bool:
    """The model's bound: n1 alone times out and crashes (n2 and n3 stay up), is asked
    only while it leads, X in its first life and Y in its second, and its timer fires
    only while it does not lead (a leader's firing only sends heartbeats). What is
    left: every order of messages and disk writes around one leader that crashes and
    leads again."""
    n1 = system.nodes[NodeId("n1")]
    core = n1.core
    return (_n1_leads_alone(system)
            and all(node.up and node.incarnation == 1
                    for n, node in system.nodes.items() if n != "n1")
            and all(e.type != "fail" for e in system.history.events)
            and (0 in system.submitted or n1.incarnation == 1)  # X before the crash,
            and (1 not in system.submitted or n1.incarnation == 2)  # Y after it
            and not (isinstance(core, PaxosCore) and core.leader.active
                     and core.leader_elapsed > 0))


def _multipaxos_bounds(size: str) -> Bounds:
    """"full": 4 timer firings (n1 leads, crashes and leads again: 2 each with the
    shortest timers), one crash, every write a move of its own, no loss; "small": 2
    firings, no crash, each write done with its input, at most 3 messages in flight
    (n1 leads once and X is decided; seconds)."""
    if size == "small":
        return Bounds(depth=60, ticks=2, crashes=0, persist_moves=False, timeouts=False,
                      in_flight=3)
    # n1 alone crashes (``within``): only its writes are moves, and it crashes only
    # with one under way (the window of the ballot reuse)
    return Bounds(depth=60, ticks=4, crashes=1, persist_moves=True, timeouts=False,
                  in_flight=5, crash_in_writes=True, persist_moves_at=("n1",))


def multipaxos(size: str = "small") -> ExploreAdapter:
    """Multi-Paxos, 3 nodes, two puts asked of n1, one crash (``_multipaxos_bounds``)."""
    return ExploreAdapter(
        "multipaxos", SPEC, nodes=3,
        options=TIMERS,
        bounds=_multipaxos_bounds(size),
        commands=PUTS, targets=(("n1",), ("n1",)),
        properties=(Sometimes("a leader is adopted", _adopted),
                    Sometimes("a command is decided", _decided)),
        symmetric=False,  # ballots are ordered by node id
        within=_n1_leads_crashes_and_leads_again,
        ignore=IGNORE,
        kv=KV_BINDING,
        sim=ADAPTER,
        summary="Multi-Paxos: 3 nodes, puts X and Y asked of n1, one crash")


def _two_leaders_one_crash(system: System) -> bool:
    """The ballot-reuse model's bound: n2 leads first (only its timer fires, X is asked
    of n2 only while it leads); then only n1's timer fires, n1 alone crashes (once, with
    a write under way), n2 and n3 stay up, and Y is asked of n1 only in its second life
    while it leads. A leader's timer fires only while it does not lead."""
    n1, n2 = system.nodes[NodeId("n1")], system.nodes[NodeId("n2")]
    n2_led = 0 in system.submitted
    return (all(node.up for n, node in system.nodes.items() if n != "n1")
            and (n2_led or n1.ticks == 0)  # n1 waits until n2 led and was asked X
            and (not n2_led or n2.ticks <= 2)
            and system.nodes[NodeId("n3")].ticks == 0
            and (1 not in system.submitted or n1.incarnation == 2)
            and all(not (isinstance(node.core, PaxosCore) and node.core.leader.active
                         and node.core.leader_elapsed > 0)
                    for node in system.nodes.values() if node.up)
            and not any(pv.ballot.leader_id == "n2"  # X reaches n2's acceptor alone
                        for n, node in system.nodes.items() if n != "n2"
                        and isinstance(node.core, PaxosCore)
                        for pv in node.core.acceptor.accepted.values()))


def ballot_reuse(size: str = "small") -> ExploreAdapter:
    """Multi-Paxos, 3 nodes, two leaders and one crash: PMS §2.2's "a proposal number is
    never used twice", crashes included. n2 leads and gets X accepted (by itself, say);
    n1 runs phase 1, finds X, and sends its P2a ahead of its own write; a crash erases
    that write; n1 leads again. "small" and "full" are the same model."""
    return ExploreAdapter(
        "ballot-reuse", SPEC, nodes=3,
        options={**TIMERS, "stickiness": False},  # n2 may promise n1 while it leads
        bounds=Bounds(depth=60, ticks=4, crashes=1, persist_moves=True, timeouts=False,
                      in_flight=4, crash_in_writes=True, persist_moves_at=("n1",)),
        commands=PUTS, targets=(("n2",), ("n1",)),
        properties=(Sometimes("a leader is adopted", _adopted),
                    Sometimes("a command is decided", _decided)),
        symmetric=False,
        within=_two_leaders_one_crash,
        ignore=IGNORE,
        kv=KV_BINDING,
        sim=ADAPTER,
        summary="Multi-Paxos: n2 leads with X, n1 leads, crashes inside a write, leads again")


SYNOD_MODELS = {"synod": synod}
MODELS = {"multipaxos": multipaxos, "ballot-reuse": ballot_reuse}
