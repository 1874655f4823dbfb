"""Seeded random faults for simulated runs: partitions, one-way cuts, crashes, restarts,
and switching to an unreliable network — one at a time, each healed after a while.
Draws come from the world's ``nemesis`` stream only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from protocols.sim.network import RELIABLE, UNRELIABLE

if TYPE_CHECKING:
    from protocols.sim.world import World

__all__ = ["KINDS", "RandomNemesis"]


KINDS = ("partition", "isolate", "one-way", "crash", "unreliable")


class RandomNemesis:
    def __init__(self, world: World, mean_gap_ms: int = 500, mean_fault_ms: int = 700,
                 stop_at_ms: int = 10**12, kinds: tuple[str, ...] = KINDS) -> None:
        unknown = sorted(set(kinds) - set(KINDS))
        if unknown or not kinds:
            raise ValueError(f"nemesis kinds must be some of {KINDS}, not {unknown or kinds}")
        self.kinds = tuple(kinds)
        self.world = world
        self.rng = world.rng("nemesis")
        self.mean_gap_ms = mean_gap_ms
        self.mean_fault_ms = mean_fault_ms
        self.stop_at_ms = stop_at_ms
        self.intervals: list[tuple[float, float, str]] = []

    def start(self) -> None:
        self.world.at(self._gap(), self._fault)

    def _gap(self) -> int:
        return 1 + int(self.rng.expovariate(1 / self.mean_gap_ms))

    def _fault(self) -> None:
        w = self.world
        if w.now >= self.stop_at_ms:
            return
        ids: list[str] = list(w.ids)
        kind = self.rng.choice(self.kinds)
        label = kind
        if kind == "partition":
            self.rng.shuffle(ids)
            half = (len(ids) - 1) // 2
            w.partition([ids[:half], ids[half:]])
            label = f"partition {sorted(ids[:half])}|{sorted(ids[half:])}"
        elif kind == "isolate":
            n = self.rng.choice(ids)
            w.disconnect(n)
            label = f"isolate {n}"
        elif kind == "one-way":
            a, b = self.rng.sample(ids, 2)
            w.cut(a, b)
            label = f"cut {a}->{b}"
        elif kind == "crash":
            n = self.rng.choice(ids)
            w.crash(n)
            label = f"crash {n}"
        else:
            w.network.config = UNRELIABLE
        duration = 1 + int(self.rng.expovariate(1 / self.mean_fault_ms))
        start = w.now
        w.at(duration, lambda: self._heal(start, label))

    def _heal(self, start: int, label: str) -> None:
        w = self.world
        w.heal()
        w.network.config = RELIABLE
        for n in w.ids:
            w.restart(n)
        self.intervals.append((float(start), float(w.now), label))
        w.at(self._gap(), self._fault)
