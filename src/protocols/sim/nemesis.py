"""Seeded random faults for simulated runs, one at a time, each healed after a while:
partitions, isolation, one-way cuts, crashes, an unreliable network, stalls (a process
that takes no input for a while: a GC pause, CPU starvation; messages for it wait), pauses
(SIGSTOP long enough for its peers' RPCs to time out: stalled and cut off, while its
clients' requests wait for it), slow nodes (every message they take or send is late),
crashes timed to land inside a write (``crash-mid-write``: with ``disk_latency_ms`` > 0,
a node is crashed while a write is under way whose Ready already sent messages ahead of
it — the window "Raft thesis §10.2.1" sending opens, where a core must not have relied
on that write),
nodes that come and go (``join``: a brand-new node is added, ``leave``: a node other
than the leader is removed for good; opt-in, for protocols whose membership may change
while they run: SWIM, the toy), targeted faults armed at random (opt-in: ``crash-point``,
a crash point on an up node — ``before_send`` of one of the protocol's messages or
``after_persist`` of one of its ``ProtocolSpec.records`` — disarmed at the fault's end if
it never fired; ``hook``: one message type dropped, its reply lost, duplicated or delayed
on one directed link; ``disk-pause``: a node's disk stops), and whatever faults the
protocol's adapter adds (``SimAdapter.nemesis_actions``: Raft adds leadership
transfers). Draws come from the world's ``nemesis`` stream only."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

from protocols.common.ids import NodeId
from protocols.common.quorum import minority
from protocols.contract import Rpc
from protocols.sim.network import RELIABLE, UNRELIABLE

if TYPE_CHECKING:
    from protocols.contract import ProtocolSpec
    from protocols.sim.world import World

__all__ = ["EXTRA_KINDS", "HOOK_ACTIONS", "KINDS", "NemesisAction", "RandomNemesis",
           "crash_points", "hook_targets"]

KINDS = ("partition", "isolate", "one-way", "crash", "unreliable", "stall", "pause", "slow")
# kinds a run asks for by name (they need a setting to bite: crash-mid-write a slow disk;
# or they change what every seeded run draws: the targeted faults)
EXTRA_KINDS = ("crash-mid-write", "join", "leave", "crash-point", "hook", "disk-pause")
HOOK_ACTIONS = ("drop", "drop_reply", "duplicate", "delay")
DEFAULT_KINDS = ("partition", "isolate", "one-way", "crash", "unreliable")

# A protocol's own fault: acts on the world, returns its label (None: nothing to do now).
NemesisAction = Callable[["World", random.Random], "str | None"]


def crash_points(spec: ProtocolSpec) -> list[str]:
    """Every crash point a protocol can reach (``protocols.common.crashpoints``): before
    each of its messages leaves (requests, replies, one-way messages), and after each of
    its persist records (``ProtocolSpec.records``) is durable."""
    sent: list[type] = []
    for kind in spec.messages.kinds:
        sent += [kind.request, kind.reply] if isinstance(kind, Rpc) else [kind.message]
    return ([f"before_send:{t.__name__}" for t in sent]
            + [f"after_persist:{t.__name__}" for t in spec.records])


def hook_targets(spec: ProtocolSpec) -> list[tuple[str, tuple[str, ...]]]:
    """The messages a hook can act on (a request or a one-way message, by name), each
    with the hook actions that bite on it (a one-way message has no reply to lose)."""
    one_way = tuple(a for a in HOOK_ACTIONS if a != "drop_reply")
    return [(k.request.__name__, HOOK_ACTIONS) if isinstance(k, Rpc)
            else (k.message.__name__, one_way) for k in spec.messages.kinds]


class RandomNemesis:
    def __init__(self, world: World, mean_gap_ms: int = 500, mean_fault_ms: int = 700,
                 stop_at_ms: int = 10**12, kinds: Sequence[str] = DEFAULT_KINDS) -> None:
        self.extra: Mapping[str, NemesisAction] = dict(world.adapter.nemesis_actions())
        known = (*KINDS, *EXTRA_KINDS, *self.extra)
        unknown = sorted(set(kinds) - set(known))
        if unknown or not kinds:
            raise ValueError(f"nemesis kinds must be some of {', '.join(known)}, "
                             f"not {unknown or list(kinds)}")
        self.kinds = tuple(kinds)
        self.world = world
        self.rng = world.rng("nemesis")
        self.mean_gap_ms = mean_gap_ms
        self.mean_fault_ms = mean_fault_ms
        self.stop_at_ms = stop_at_ms
        self.intervals: list[tuple[float, float, str]] = []
        self.initial_nodes = len(world.ids)  # join grows to twice this, leave shrinks to 2
        # what ends the fault under way, beyond a heal: its label's last words
        self._undo: Callable[[], str] | None = None

    def start(self) -> None:
        self.world.at(self._gap(), self._fault)

    def _gap(self) -> int:
        return 1 + int(self.rng.expovariate(1 / self.mean_gap_ms))

    def _fault(self) -> None:
        w = self.world
        if w.now >= self.stop_at_ms:
            return
        kind = self.rng.choice(self.kinds)
        duration = 1 + int(self.rng.expovariate(1 / self.mean_fault_ms))
        label = self._inject(kind, duration)
        start = w.now
        w.at(duration, lambda: self._heal(start, label))

    def _inject(self, kind: str, duration: int) -> str:
        w = self.world
        ids: list[str] = list(w.ids)
        if kind == "partition":
            self.rng.shuffle(ids)
            half = minority(len(ids))
            w.partition([ids[:half], ids[half:]])
            return f"partition {sorted(ids[:half])}|{sorted(ids[half:])}"
        if kind == "isolate":
            n = self.rng.choice(ids)
            w.disconnect(n)
            return f"isolate {n}"
        if kind == "one-way":
            a, b = self.rng.sample(ids, 2)
            w.cut(a, b)
            return f"cut {a}->{b}"
        if kind == "crash":
            n = self.rng.choice(ids)
            w.crash(n)
            return f"crash {n}"
        if kind in ("stall", "pause"):  # the leader most often: there it hurts
            leader = w.leader()
            n = leader if leader is not None and self.rng.random() < 0.7 else \
                self.rng.choice(ids)
            w.stall(n, duration)
            if kind == "pause":
                w.disconnect(n)
            return f"{kind} {n}"
        if kind == "crash-mid-write":
            self._crash_mid_write(until=w.now + duration)
            return "crash mid-write"
        if kind == "slow":  # its input arrives 100-1000 ms late while it keeps ticking
            n = self.rng.choice(ids)
            w.slow(n, self.rng.randint(100, 1000))
            return f"slow {n}"
        if kind in ("join", "leave"):
            return self._membership(kind)
        if kind in ("crash-point", "hook", "disk-pause"):
            return self._targeted(kind, duration)
        if kind == "unreliable":
            w.network.config = UNRELIABLE
            return "unreliable"
        return self.extra[kind](w, self.rng) or f"{kind} (nothing to do)"

    def _membership(self, kind: str) -> str:
        """Add a brand-new node, or remove one that does not lead, for good."""
        w = self.world
        if kind == "join":
            if len(w.ids) >= 2 * self.initial_nodes:
                return "join (the cluster is at twice its size)"
            return f"join {w.add_node()}"
        leader = w.leader()
        candidates = [n for n in w.ids if n != leader]
        if len(w.ids) <= 2 or not candidates:
            return "leave (two nodes left)"
        n = self.rng.choice(candidates)
        w.remove_node(n)
        return f"leave {n}"

    def _targeted(self, kind: str, duration: int) -> str:
        """Arm a targeted fault at random; what undoes it runs at the heal (``_undo``)."""
        w = self.world
        up = w.up_nodes()
        if kind == "disk-pause":  # writes under way or started meanwhile wait it out
            n = self.rng.choice(up or w.ids)
            w.pause_disk(n, duration)
            return f"disk-pause {n}"
        if kind == "crash-point":
            if not up:
                return "crash-point (every node is down)"
            n, point = self._leader_or_any(up), self.rng.choice(self._reachable_points())
            w.crash_at(n, point)
            self._undo = lambda: (" (never fired: disarmed)" if w.disarm(n, point)
                                  else " (fired)")
            return f"crash-point {n} {point}"
        src = self._leader_or_any(up or w.ids)
        dst = self.rng.choice([n for n in w.ids if n != src])
        targets = hook_targets(w.spec)  # a message the run sends (not one it never does)
        message, actions = self.rng.choice([t for t in targets if w.rpc_count[t[0]]]
                                           or targets)
        action = self.rng.choice(actions)
        delay_ms = self.rng.randint(50, 500) if action == "delay" else 0
        rule = w.hook(message, action, src, dst, delay_ms)
        hits = w.hook_hits[rule]  # an equal rule armed before counted its own hits

        def unhook() -> str:
            w.unhook(rule)
            return f" ({w.hook_hits[rule] - hits} messages hit)"
        self._undo = unhook
        return f"hook {message} {src}->{dst} {action}" + (f" {delay_ms} ms" if delay_ms
                                                          else "")

    def _reachable_points(self) -> list[str]:
        """The protocol's crash points but those at messages the run never sent (a
        leadership transfer's, a snapshot's, when nobody asked for one): a point that
        cannot fire tests nothing. Records are not counted: every one is a candidate."""
        w = self.world
        sent = {name for name, count in w.rpc_count.items() if count}
        sent |= {k.reply.__name__ for k in w.spec.messages.kinds
                 if isinstance(k, Rpc) and k.request.__name__ in sent}
        points = crash_points(w.spec)
        return [p for p in points if p.startswith("after_persist:")
                or p.partition(":")[2] in sent] or points

    def _leader_or_any(self, nodes: Sequence[NodeId]) -> NodeId:
        """The leader half the time (most messages leave it: a point or a hook on what
        only a leader sends bites there), else any of ``nodes``."""
        leader = self.world.leader()
        if leader is not None and self.rng.random() < 0.5:
            return leader
        return self.rng.choice(list(nodes))

    def _crash_mid_write(self, until: int) -> None:
        """Crash a node whose write is under way after messages of the same Ready left
        ahead of it; look again every millisecond until the fault's time is up."""
        w = self.world
        candidates = []
        for n in w.up_nodes():
            pump = w.nodes[n].pump
            if pump is not None and pump.writing is not None and any(
                    e.ahead_of_persist for e in pump.writing.ready.messages):
                candidates.append(n)
        if candidates:
            n = self.rng.choice(candidates)
            w.trace(f"nemesis: crash {n} with its write under way")
            w.crash(n)
        elif w.now < until:
            w.at(1, lambda: self._crash_mid_write(until))

    def _heal(self, start: int, label: str) -> None:
        w = self.world
        if self._undo is not None:
            label += self._undo()
            self._undo = None
        w.heal()
        w.network.config = RELIABLE
        for n in w.ids:
            w.restart(n)
        self.intervals.append((float(start), float(w.now), label))
        w.at(self._gap(), self._fault)
