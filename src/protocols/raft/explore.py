"""Raft as models for the explorer (``protocols.explore``): elections and one client entry.

Three nodes run the cores the gRPC nodes and the simulator run (``protocols.raft.core``),
with the shortest timers the options allow (an election timeout of 2 ticks, a heartbeat
every tick) so a node campaigns after two timer firings; a client puts x=1 once through
the KV binding. The explorer walks every order of messages and timer firings. Four
models: pre-vote (thesis §9.6) and check-quorum (thesis §6.2) on and off. ``SIZES``:

* "small" (seconds): n1's timer fires (one campaign), the client asks n1;
* "full" (the issue's target): n1's and n2's timers fire (two campaigns: split votes,
  competing terms, a leader of term 1 deposed in term 2), the client asks any node.

In both, a write reaches the disk with the input that made it (``persist_moves`` off:
with it, thesis §10.2.1's early AppendEntries, the space is too large for minutes).

Each node's timer fires at most twice, so a leader never ticks after it won: its
heartbeats and check-quorum's step-down are not explored; check-quorum and pre-vote
still change who votes (a node that heard from a leader within an election timeout
refuses to vote, thesis §4.2.3), and pre-vote adds its round.

Checked in every state:

* the simulator's ``RaftSafety`` (``protocols.check.raft``): Election Safety (§5.2),
  Log Matching (§5.3), Leader Completeness (§5.4) and State Machine Safety (§5.4.3),
  over all it has seen on the path (the checker's memory is part of the state);
* Log Matching and agreement on committed entries among the nodes up now
  (``protocols.check.invariants``), which name the nodes that disagree;
* the client's history is linearizable (the engine adds it: ``kv`` is set);
* and, so the model is not vacuous, that a leader is elected and that the client's
  entry is committed in some reachable state.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from protocols.check.invariants import check_agreement, check_log_matching
from protocols.explore import Always, Bounds, ExploreAdapter, Sometimes, System
from protocols.kv.rsm import KV_BINDING
from protocols.raft import SPEC
from protocols.raft.core import RaftCore, Role
from protocols.raft.messages import EntryKind
from protocols.raft.sim import ADAPTER

__all__ = ["MODELS", "OnlyTimers", "raft_model"]

PUT = KV_BINDING.kv_command("put", "x", "1", "", 0)  # no session: nothing to dedup

# the shortest timers the options allow: heartbeat < election_min < election_max
TIMERS = {"election_timeout_min_ticks": 2, "election_timeout_max_ticks": 3,
          "heartbeat_interval_ticks": 1}

# attributes that are not state: counters that only grow, statistics, caches
IGNORE = frozenset({
    "RaftCore.ticks",  # ticks since start (the lease's clock, unused here); XNode counts
    "RaftCore.lease_reads",  # a statistic
    "RaftLog.truncations",  # bumped on every truncation, for the checker's cache
    "RaftSafety._log_checked", "RaftSafety._commit_checked",  # how far it has checked
    "RaftSafety._leader_checked", "RaftSafety._commit_seen",
    # the configuration, fixed in these models: nothing in them changes it
    "RaftCore.options", "RaftCore.known_nodes", "RaftCore.tick_s", "RaftCore.node_id",
    "RaftCore.base_membership", "RaftCore.membership", "max_sessions", "ReadIndex._history",
})


def _cores(system: System) -> dict[str, RaftCore]:
    return {n: node.core for n, node in system.nodes.items()
            if node.up and isinstance(node.core, RaftCore)}


def _leader_elected(system: System) -> bool:
    return any(c.role is Role.LEADER for c in _cores(system).values())


def _entry_committed(system: System) -> bool:
    """Some node committed the client's entry (a NORMAL entry at or below its commit)."""
    for core in _cores(system).values():
        for index in range(core.log.snapshot_index + 1, core.commit_index + 1):
            if core.log.entry(index).kind == EntryKind.NORMAL:
                return True
    return False


def _logs_match(system: System) -> None:
    """§5.3 Log Matching over the logs of the nodes up now."""
    check_log_matching({n: [(e.term, e.command) for e in c.log.entries()]
                        for n, c in _cores(system).items()})


def _committed_agree(system: System) -> None:
    """§5.4.3 State Machine Safety now: the nodes up commit one entry per index."""
    check_agreement({n: {i: (c.log.term_at(i), c.log.entry(i).command)
                         for i in range(c.log.snapshot_index + 1, c.commit_index + 1)}
                     for n, c in _cores(system).items()})


PROPERTIES = (
    Always("logs match", _logs_match),
    Always("committed entries agree", _committed_agree),
    Sometimes("a leader is elected", _leader_elected),
    Sometimes("the entry is committed", _entry_committed),
)


@dataclass(frozen=True, slots=True)
class OnlyTimers:
    """The model's own bound (``ExploreAdapter.within``): only these nodes' timers fire
    (the others wait longer than the run lasts); with ``to_leader``, the client's command
    reaches a leader (a follower's NotLeader answer ends the path: a real client would
    retry at the leader it names); with ``crash``, only those nodes crash. A state
    outside is checked but not expanded."""

    nodes: tuple[str, ...]
    to_leader: bool = False
    crash: tuple[str, ...] = ()

    def __call__(self, system: System) -> bool:
        if self.to_leader and any(e.type == "fail" for e in system.history.events):
            return False
        if self.crash and any(node.incarnation > 1 or not node.up
                              for n, node in system.nodes.items() if n not in self.crash):
            return False
        return all(node.ticks == 0 for n, node in system.nodes.items() if n not in self.nodes)


SIZES = {
    # one candidate (n1's timer fires twice: one campaign) and the client asks n1;
    # every order of messages, a write reaching the disk with its input: seconds
    "small": (Bounds(depth=40, ticks=2, in_flight=4, persist_moves=False, timeouts=False),
              OnlyTimers(("n1",), to_leader=True), ("n1",)),
    # two candidates (n1's and n2's timers fire twice each: split votes, competing
    # terms) and the client asks any node: minutes
    "full": (Bounds(depth=60, ticks=2, in_flight=6, persist_moves=False, timeouts=False),
             OnlyTimers(("n1", "n2"), to_leader=True), ()),
}


def raft_model(pre_vote: bool, check_quorum: bool) -> Callable[[str], ExploreAdapter]:
    """The factory of the model with pre-vote and check-quorum as given."""
    def factory(size: str = "small") -> ExploreAdapter:
        bounds, within, target = SIZES[size]
        name = "raft" + ("-prevote" if pre_vote else "") + ("-checkquorum" if check_quorum
                                                           else "")
        return ExploreAdapter(
            name, SPEC, nodes=3,
            options={**TIMERS, "pre_vote": pre_vote, "check_quorum": check_quorum},
            bounds=bounds, within=within,
            commands=(PUT,), targets=(target,) if target else (),
            properties=PROPERTIES,
            symmetric=False,  # the bounds single nodes out (n1's timer, the client's node)
            ignore=IGNORE,
            kv=KV_BINDING,
            sim=ADAPTER,
            summary=f"Raft, 3 nodes, one put; pre-vote {'on' if pre_vote else 'off'}, "
                    f"check-quorum {'on' if check_quorum else 'off'}; {size}: timers of "
                    f"{', '.join(within.nodes)}")
    factory.__doc__ = (f"Raft with pre_vote={pre_vote}, check_quorum={check_quorum}; "
                       "size 'small' or 'full' (``SIZES``).")
    return factory


MODELS = {factory("small").name: factory for factory in
          (raft_model(pv, cq) for pv in (False, True) for cq in (False, True))}
