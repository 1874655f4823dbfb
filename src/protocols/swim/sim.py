"""SWIM in the simulator: the incarnation invariant after every event
(``protocols.check.swim``), a gossip workload whose verdict is convergence, and helpers
the scenario tests and ``scripts/bench swim`` share (views, dissemination probes)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from protocols.check.swim import (
    IncarnationAuthority,
    counter_disagreements,
    membership_disagreements,
)
from protocols.common.ids import NodeId
from protocols.contract import Answer
from protocols.sim.api import SimAdapter, Verdict, WorkloadFactory, WorkloadParams
from protocols.swim import SPEC, SwimSpec
from protocols.swim.commands import Incr, SetMeta
from protocols.swim.core import SwimCore
from protocols.swim.messages import State

if TYPE_CHECKING:
    from protocols.check.history import History
    from protocols.sim.world import World

__all__ = ["ADAPTER", "GossipWorkload", "SwimInvariants", "cores", "views"]


def cores(world: World) -> dict[str, SwimCore]:
    """The SWIM core of every up node."""
    return {n: node.core for n, node in world.nodes.items()
            if node.up and isinstance(node.core, SwimCore)}


def views(world: World) -> dict[str, dict[str, str]]:
    """Every up node's opinion of every member it knows, as state names."""
    return {n: {m: str(v.state) for m, v in c.members.items()}
            for n, c in cores(world).items()}


class SwimInvariants:
    """Only a member raises its own incarnation, and it never goes back, not even across
    a restart. Every core reports its membership changes into one shared list, drained
    after every event, so the check costs what changed, not the size of the group."""

    def __init__(self) -> None:
        self.world: World | None = None
        self.authority = IncarnationAuthority(self._current)
        self.seen: dict[str, int] = {}  # node -> process life being recorded
        self.changes: list[tuple[str, str, Any, int]] = []
        # every (member, incarnation) anyone declared dead or suspected: what the
        # false-positive experiments count
        self.deaths: set[tuple[str, int]] = set()
        self.suspicions: set[tuple[str, int]] = set()

    def _current(self, member: str) -> int | None:
        core = self._life(member)
        return core.incarnation if core is not None else None

    def __call__(self, world: World) -> None:
        self.world = world
        # a restarted process is a new core: attach it (scanning for new lives costs
        # O(N), so larger groups scan every N/8 events, and a life is also attached the
        # first time the checker needs its incarnation); a core is checked from its
        # whole state when attached, and from every change after that
        if len(world.ids) <= 16 or world.events % (len(world.ids) // 8) == 0:
            for n, sim_node in world.nodes.items():
                if sim_node.up and self.seen.get(n) != sim_node.incarnation:
                    self._life(n)
        while self.changes:
            changes, self.changes[:] = list(self.changes), []
            for node, member, state, incarnation in changes:
                self.authority.opinion(node, member, str(state), incarnation)
                if state == State.DEAD:
                    self.deaths.add((member, incarnation))
                elif state == State.SUSPECT:
                    self.suspicions.add((member, incarnation))

    def _life(self, n: str) -> SwimCore | None:
        """n's running core, attached first if it is a life the checker has not seen:
        its start is checked against every life before it, its state queued as changes."""
        node = self.world.nodes.get(NodeId(n)) if self.world is not None else None
        core = node.core if node is not None and node.up else None
        if node is None or not isinstance(core, SwimCore):
            return None
        if self.seen.get(n) != node.incarnation:
            self.seen[n] = node.incarnation
            core.events = self.changes
            self.authority.own_incarnation(n, core.incarnation, new_life=True)
            # (an alive at incarnation 0 can break nothing: what join="all" starts with)
            self.changes.extend((n, m, v.state, v.incarnation) for m, v in core.members.items()
                                if v.incarnation or v.state != State.ALIVE)
        return core


@dataclass
class GossipWorkload:
    """Clients add to the PN-counter and set metadata at random members while the
    nemesis works. Idle once they stopped and every live member agrees; the verdict:
    membership converged (everyone alive in everyone's view) and every member counts
    the same total, which is the acknowledged increments plus some of the unanswered."""

    world: World
    clients: int = 3
    stop_at_ms: int = 5000
    give_up_ms: int = 1000
    settle_ms: int = 30_000  # after the faults heal: a few anti-entropy rounds
    acked: int = 0
    unknown_pos: int = 0  # unanswered increments may or may not have happened
    unknown_neg: int = 0
    pending: dict[Any, int] = field(default_factory=dict)
    ops: int = 0
    history: History | None = None

    def start(self) -> None:
        self.world.answer_hooks.append(self._on_answer)
        for c in range(self.clients):
            self.world.at(1 + c * 37, lambda c=c: self._next(c))  # type: ignore[misc]

    def _next(self, client: int) -> None:
        w = self.world
        if w.now >= self.stop_at_ms:
            return
        rng = w.rng(f"gossip/{client}/{self.ops}")
        self.ops += 1
        node = rng.choice(w.ids)
        rid = ("gossip", client, self.ops)
        if rng.random() < 0.8:
            delta = rng.choice([1, 1, 2, 5, -1, -3])
            self.pending[rid] = delta
            w.submit(node, Incr(delta), request_id=rid)
            w.at(self.give_up_ms, lambda: self._give_up(rid))
        else:
            w.submit(node, SetMeta(f"k{client}", f"v{self.ops}"), request_id=rid)
        w.at(rng.randrange(20, 120), lambda: self._next(client))

    def _on_answer(self, answer: Answer) -> None:
        delta = self.pending.pop(answer.request_id, None)
        if delta is not None and answer.error is None:
            self.acked += delta

    def _give_up(self, rid: Any) -> None:
        delta = self.pending.pop(rid, None)
        if delta is not None:  # no answer: it may still have happened
            if delta > 0:
                self.unknown_pos += delta
            else:
                self.unknown_neg += delta

    def disagreements(self) -> list[str]:
        w = self.world
        live = [n for n in w.ids if w.nodes[n].up]
        out = membership_disagreements(views(w), live)
        totals = {n: c.counter() for n, c in cores(w).items()}
        return out + counter_disagreements(totals, self.acked + self.unknown_neg,
                                           self.acked + self.unknown_pos)

    @property
    def idle(self) -> bool:
        """Done once the clients stopped and the members agree, or ``settle_ms`` after
        that at the latest (then the verdict says what still disagrees)."""
        w = self.world
        return w.now >= self.stop_at_ms and not self.pending and (
            w.now >= self.stop_at_ms + self.settle_ms or not self.disagreements())

    def verdict(self) -> Verdict:
        problems = self.disagreements()
        if problems:
            return Verdict("convergence", "violation", "; ".join(problems[:5]))
        total = next(iter(cores(self.world).values())).counter()
        return Verdict("convergence", "ok",
                       f"{len(cores(self.world))} members agree; counter {total} "
                       f"(acknowledged {self.acked})")


def gossip_workload(world: World, params: WorkloadParams) -> GossipWorkload:
    return GossipWorkload(world, clients=params.clients, stop_at_ms=params.stop_at_ms)


class SwimAdapter(SimAdapter):
    name = "swim"
    spec: SwimSpec = SPEC
    # the deadline of what has none of its own (a DigestSyn): the runner's default on
    # processes; a Ping's and a PingReq's is the protocol period (the core sets it)
    rpc_timeout_ms = 500

    def invariants(self) -> list[Callable[[World], None]]:
        return [SwimInvariants()]

    def workloads(self) -> Mapping[str, WorkloadFactory]:
        return {"gossip": gossip_workload}


ADAPTER = SwimAdapter()


# ====================================================================== experiments
# Shared by tests/swim/sim and scripts/bench swim: each builds its own world, drives
# one scenario and measures it in simulated time. Polls every ``poll_ms`` (a check over
# every node after every event would cost O(N) per event).
def settle(world: World, predicate: Callable[[], bool], max_ms: int, poll_ms: int = 50
           ) -> int:
    """Run until ``predicate()`` holds (checked every ``poll_ms``); return the simulated
    ms it took. AssertionError naming the seed if it does not hold within ``max_ms``."""
    start = world.now
    while not predicate():
        if world.now - start > max_ms:
            raise AssertionError(f"not settled within {max_ms} ms ({world.replay_hint})")
        world.run_for(poll_ms)
    return world.now - start


def swim_world(nodes: int, seed: int, options: Mapping[str, Any] | None = None,
               tick_ms: int = 50, **kw: Any) -> World:
    """A group that starts knowing every member (``join="all"``), as after a join."""
    from protocols.sim.world import World
    return World(ADAPTER, nodes, seed, options={"join": "all", **(options or {})},
                 tick_ms=tick_ms, replay_hint=f"swim_world({nodes}, seed={seed}, "
                 f"options={dict(options or {})})", **kw)


def all_see(world: World, member: str, state: State, incarnation: int | None = None
            ) -> bool:
    """Every up node other than ``member`` holds it in ``state`` (at ``incarnation``)."""
    for n, c in cores(world).items():
        if n == member:
            continue
        m = c.members.get(member)
        if m is None or m.state != state or (incarnation is not None
                                              and m.incarnation != incarnation):
            return False
    return True


@dataclass
class Detection:
    first_suspicion_ms: int  # someone suspects the killed member
    all_dead_ms: int  # every live member holds it dead


def detect_failure(world: World, victim: str, max_ms: int = 120_000) -> Detection:
    """Crash ``victim`` now; measure SWIM's detection and its dissemination."""
    world.crash(victim)
    first = settle(world, lambda: any(c.members[victim].state != State.ALIVE
                                      for c in cores(world).values()), max_ms, poll_ms=10)
    everyone = first + settle(world, lambda: all_see(world, victim, State.DEAD), max_ms)
    return Detection(first, everyone)


def disseminate_join(world: World, member: str, max_ms: int = 60_000) -> int:
    """Crash ``member``, wait until it is known dead, restart it: ms until every member
    holds its new life alive."""
    world.crash(member)
    settle(world, lambda: all_see(world, member, State.DEAD), max_ms)
    world.restart(member)
    incarnation = cores(world)[member].incarnation
    return settle(world, lambda: all_see(world, member, State.ALIVE, incarnation), max_ms)


def disseminate_update(world: World, member: str, max_ms: int = 60_000) -> int:
    """``member`` sets metadata: ms until every member has its new entry."""
    world.submit(member, SetMeta("probe", str(world.now)))
    world.run_for(1)
    version = cores(world)[member].entry.version
    return settle(world, lambda: all(
        c.entries.get(member) is not None and c.entries[member].version >= version
        for c in cores(world).values()), max_ms)


@dataclass
class FalsePositives:
    deaths: int  # distinct (member, incarnation) declared dead; nobody failed
    suspicions: int  # distinct (member, incarnation) suspected


def false_positives(seed: int, options: Mapping[str, Any] | None = None, nodes: int = 32,
                    seconds: int = 120, slow_members: int = 6,
                    delay_ms: tuple[int, int] = (1000, 3000)) -> FalsePositives:
    """Lifeguard's experiment: nobody fails, but every few seconds a different few
    members turn slow (every message they receive or send takes 1-3 s longer: CPU
    starvation). Every death is a false positive."""
    world = swim_world(nodes, seed, options)
    rng = world.rng("slowness")

    def episode() -> None:
        world.heal()
        for n in rng.sample(world.ids, slow_members):
            world.slow(n, rng.randint(*delay_ms))
        world.at(rng.randint(2000, 6000), episode)

    world.at(2000, episode)
    world.run_for(seconds * 1000)
    checker = next(i for i in world.invariants if isinstance(i, SwimInvariants))
    return FalsePositives(len(checker.deaths), len(checker.suspicions))


LIFEGUARD_OFF = {"lha": False, "lha_suspicion": False, "buddy": False, "nack": False}
