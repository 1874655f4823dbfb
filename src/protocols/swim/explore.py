"""SWIM as a model for the explorer (``protocols.explore``), issue #33's target: a group
of members, one crash. Three properties, SWIM's in the explorer's terms:

* **completeness** (§3.1, "every failure is eventually detected"): the crashed member
  is declared dead by every live member (``Eventually``, judged on every maximal path:
  every live member's ticks spent, every message delivered). The crashed member stays
  down (``Bounds.restarts=False``) and crashes early, before any member's first tick
  (``CRASH_WITHIN``; the tick budget is counted from there): a state past that with
  no crash is checked but not expanded (``ExploreAdapter.within``).
* **accuracy** (§4.2, suspicion is what keeps a slow member from being killed): no live
  member is declared dead without a loss or a pause (``Always``). A loss is a message
  dropped (``System.drops``; requests never time out here: SWIM's ``on_send_failed``
  does nothing, so a timeout is a dropped reply). A pause is a member's timer firing
  while a message to or from it is still in flight (``System.late``): its protocol
  period ran out before the network delivered, which is all a pause, a GC stall or a
  slow link looks like to SWIM. Without either, every ping is acked within its probe
  timeout, so no live member is even suspected.
* §4.2's rule the simulator's ``SwimInvariants`` checks: only a member raises its own
  incarnation, here per state over the cores. (``SwimInvariants`` itself hears of
  changes through a list it hands each core, ``core.events``, which the explorer's
  copies of a node and of the checkers do not keep shared: ``sim_invariants=False``.)

``Sometimes("a member is suspected")`` shows the model gets that far.

Bounds. A path with a late message is checked but not expanded (``System.late``): the
models are synchronous rounds, the paper's setting (every ack inside its probe timeout
unless lost), and accuracy is only claimed there anyway; every order of the deliveries
and of the members' timers within that is explored. (Late messages unbounded, three
members already take tens of thousands of states: false suspicions, refutations.)
Timers are as short as the options allow (a tick is 10 ms,
``protocols.explore.system.TICK_S``): a protocol period of one tick (the probe timeout
rounds into it, so no ping-req: ``indirect_checks=0``, and no nacks), a suspicion
timeout of one period (``suspicion_mult=1``: max(1, log10 N) periods;
``suspicion_max_mult=1``: Lifeguard does not start it longer), no stretching of the
period by local health (``lha=False``: each failed probe would add a period), each
update piggybacked once (``retransmit_mult=1``), and no gossip rounds or anti-entropy
(more messages repeating what piggybacking carries). The member that crashes is the
last one, probed last by every other (the slowest to detect, see ``_last_crashes``):
every live member declares it dead within N + 1 ticks, the budget.

Not symmetric: the explored cores draw from ``FixedRandom`` (the least value), and
SWIM's draws then follow the names (the probe order is the membership's, helpers and
gossip targets are the lowest ids), so a renamed state does not behave as its original.
"""

from __future__ import annotations

from protocols.explore import Always, Bounds, Eventually, ExploreAdapter, Sometimes, System
from protocols.swim import SPEC
from protocols.swim.core import SwimCore
from protocols.swim.messages import State
from protocols.swim.sim import ADAPTER

__all__ = ["CRASH_WITHIN", "MODELS", "crash"]

CRASH_WITHIN = 1  # the crash comes before any member's CRASH_WITHIN-th tick

OPTIONS = {
    "join": "all", "probe_interval_ms": 10, "probe_timeout_ms": 5, "indirect_checks": 0,
    "suspicion_mult": 1, "suspicion_max_mult": 1, "lha": False, "nack": False,
    "retransmit_mult": 1, "gossip_interval_ms": 0, "push_pull_interval_ms": 0,
    "reconnect_interval_ms": 0,
}

# Left out of a state's fingerprint (``ExploreAdapter.ignore``): counters status() and
# the experiments read and no rule does (``SwimCore.stats``), the settings, the same in
# every state (``options``), and second references to the core's own tables, already
# encoded once (``AntiEntropy.members``, ``.replicated``). Nothing that only grows is
# left out: sequence numbers name the probe an ack answers (they are state).
IGNORE = frozenset({"SwimCore.stats", "SwimCore.options", "AntiEntropy.options",
                    "AntiEntropy.members", "AntiEntropy.replicated"})


def _cores(system: System) -> dict[str, SwimCore]:
    """The SWIM core of every live member."""
    return {n: node.core for n, node in system.nodes.items()
            if node.up and isinstance(node.core, SwimCore)}


def _early(system: System) -> bool:
    """The model's boundary: the crash comes before any member's ``CRASH_WITHIN``-th
    tick (a state past that without a crash is checked but not expanded)."""
    return system.crashes > 0 or \
        max(node.ticks for node in system.nodes.values()) < CRASH_WITHIN


def _dead_everywhere(system: System) -> bool:
    """The crashed member is dead in every live member's view."""
    down = [n for n in system.ids if not system.nodes[n].up]
    return bool(down) and all(c.members[d].state == State.DEAD
                              for c in _cores(system).values() for d in down)


def _no_live_member_dead(system: System) -> str | None:
    """No live member holds another live one dead, unless a message was lost or late."""
    if system.drops or system.late:
        return None  # a loss or a pause: SWIM may be wrong (and refutes when it can)
    cores = _cores(system)
    wrong = [f"{n} holds {m} dead" for n, c in cores.items() for m in cores
             if m != n and c.members[m].state == State.DEAD]
    return "; ".join(wrong) + " (no message lost or late)" if wrong else None


def _own_incarnations(system: System) -> str | None:
    """§4.2: only a member raises its own incarnation, so nobody holds a live member at
    an incarnation above the one it has (the simulator's ``SwimInvariants``, per state)."""
    cores = _cores(system)
    wrong = [f"{n} holds {m} at incarnation {c.members[m].incarnation}, but {m} is at "
             f"{cores[m].incarnation}" for n, c in cores.items() for m in cores
             if c.members[m].incarnation > cores[m].incarnation]
    return "; ".join(wrong) or None


def _suspected(system: System) -> bool:
    """Some live member holds some member suspect (§4.2)."""
    return any(m.state == State.SUSPECT for c in _cores(system).values()
               for m in c.members.values())


def _timely(system: System) -> bool:
    """The crash comes early, and no message is late (every timer fires with nothing of
    its member's in flight: synchronous rounds, see the module)."""
    return _early(system) and not system.late


def _last_crashes(system: System) -> bool:
    """And the member that crashes is the last one: the one every other probes last
    under the fixed draws (``FixedRandom``), the slowest to detect. SWIM's rules treat
    every member alike; a crash of any member is four times the states."""
    return _timely(system) and all(system.nodes[n].up for n in system.ids[:-1])


def crash(size: str = "small") -> ExploreAdapter:
    """``size`` "small": 3 members (seconds); "full": 4 members, the issue's target
    (minutes). In both the last member crashes."""
    small = size == "small"
    nodes, ticks = (3, 4) if small else (4, 5)  # detection takes 4 (5) ticks at worst
    return ExploreAdapter(
        "crash", SPEC, nodes=nodes, options=OPTIONS,
        bounds=Bounds(depth=200, ticks=ticks, crashes=1, restarts=False, drops=0,
                      duplicates=0, timeouts=False, persist_moves=False, in_flight=12),
        properties=(
            Eventually("the crashed member is declared dead by every live member",
                       _dead_everywhere),
            Always("no live member is declared dead without a loss or a pause",
                   _no_live_member_dead),
            Always("only a member raises its own incarnation", _own_incarnations),
            Sometimes("a member is suspected", _suspected)),
        symmetric=False, ignore=IGNORE, sim=ADAPTER, sim_invariants=False,
        within=_last_crashes,
        summary=f"SWIM: {nodes} members, one crash")


MODELS = {"crash": crash}
