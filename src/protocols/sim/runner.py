"""One seeded simulated run, a seed sweep, and the one-line replay for regression tests.

A run drives one of the protocol's workloads (its adapter's ``workloads()``; the first by
default) under the random nemesis, checks the protocol's invariants after every event,
then heals everything, lets the clients finish and asks the workload for its verdict.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from protocols.check.history import History
from protocols.common.errors import ConfigError
from protocols.sim.api import SimAdapter, Verdict, Workload, WorkloadParams
from protocols.sim.nemesis import RandomNemesis
from protocols.sim.world import SimulationFailure, World

__all__ = ["RunResult", "replay", "replay_command", "run_once", "sweep"]


@dataclass(slots=True)
class RunResult:
    protocol: str
    seed: int
    workload: str = ""
    trace_hash: str = ""
    events: int = 0
    time_ms: int = 0
    history: History = field(default_factory=History)
    verdicts: list[Verdict] = field(default_factory=list)
    failure: str | None = None
    trace: list[str] = field(default_factory=list)
    replay: str = ""
    # with event_log: the run's event log; and the nemesis's fault intervals (what each
    # fault was and how it ended), in simulated seconds
    event_log: list[dict[str, Any]] = field(default_factory=list)
    faults: list[tuple[float, float, str]] = field(default_factory=list)
    invariants: int = 0  # how many the world checked after every event

    @property
    def verdict(self) -> str:
        """The workload's verdict ("ok", "violation", "unknown") or "not checked"."""
        return self.verdicts[0].status if self.verdicts else "not checked"

    @property
    def ok(self) -> bool:
        return self.failure is None and all(v.status == "ok" for v in self.verdicts)

    def describe(self) -> str:
        checks = ", ".join(f"{v.check}: {v.status}" for v in self.verdicts) or "no checks"
        return (f"seed {self.seed}: {self.events} events, {self.time_ms} ms simulated, "
                f"trace {self.trace_hash}, {checks}")


def replay_command(protocol: str, seed: int, options: Mapping[str, Any] | None = None,
                   **kw: Any) -> str:
    extra = "".join(f" --{k.replace('_', '-')}" + (f" {v}" if v != "" else "")
                    for k, v in sorted(kw.items()))
    opts = "".join(f" -o {k}={json.dumps(v, separators=(',', ':'))!r}"
                   for k, v in sorted((options or {}).items()))
    return f"scripts/sim --protocol {protocol} --seed {seed}{extra}{opts}"


def _workload(adapter: SimAdapter, name: str | None, world: World,
              params: WorkloadParams) -> tuple[str, Workload | None]:
    factories = dict(adapter.workloads())
    if name is None:
        if not factories:
            return "", None
        name = next(iter(factories))
    if name == "none":
        return name, None
    factory = factories.get(name)
    if factory is None:
        raise ConfigError(f"protocol {adapter.name!r} has no workload {name!r}; it has: "
                          f"{', '.join(factories) or 'none'}")
    return name, factory(world, params)


def run_once(adapter: SimAdapter, seed: int, *, nodes: int = 5,
             duration_ms: int = 5000, nemesis: bool = True, clients: int = 3, keys: int = 3,
             keep_trace: bool = False, options: Mapping[str, Any] | None = None,
             check_timeout_s: float = 30.0, disk_latency_ms: int = 0,
             nemesis_kinds: tuple[str, ...] | None = None,
             workload: str | None = None, event_log: bool = False) -> RunResult:
    """Run the protocol of ``adapter`` for ``duration_ms`` of simulated time with its
    ``workload`` (default: its first; "none" for none). By name: ``protocols.simulate``."""
    name = adapter.name
    kw: dict[str, Any] = {"nodes": nodes, "duration_ms": duration_ms, "clients": clients,
                          "keys": keys}
    if not nemesis:
        kw["no_nemesis"] = ""
    if disk_latency_ms:
        kw["disk_latency_ms"] = disk_latency_ms
    if workload is not None:
        kw["workload"] = workload
    if nemesis_kinds is not None:
        kw["nemesis"] = ",".join(nemesis_kinds)
    result = RunResult(name, seed, replay=replay_command(name, seed, options, **kw))
    world = World(adapter, nodes, seed, options=options, replay_hint=result.replay,
                  disk_latency_ms=disk_latency_ms, event_log=event_log)
    if keep_trace:
        world.trace_lines = result.trace
    params = WorkloadParams(clients=clients, keys=keys, stop_at_ms=duration_ms,
                            check_timeout_s=check_timeout_s)
    result.workload, load = _workload(adapter, workload, world, params)
    if load is not None:
        load.start()
    nemesis_run: RandomNemesis | None = None
    if nemesis:
        nemesis_run = RandomNemesis(world, stop_at_ms=duration_ms)
        if nemesis_kinds is not None:
            nemesis_run = RandomNemesis(world, stop_at_ms=duration_ms, kinds=nemesis_kinds)
        nemesis_run.start()
    try:
        world.run_for(duration_ms)
        world.heal()
        for n in world.ids:
            world.restart(n)
        if load is not None:  # let every client finish its last operation
            world.run_until(lambda: load.idle, max_ms=60_000)
    except SimulationFailure as e:
        result.failure = str(e)
    result.trace_hash, result.events, result.time_ms = world.trace_hash(), world.events, world.now
    result.invariants = len(world.invariants)
    if world.event_log is not None:
        result.event_log = world.event_log
    result.faults = [(s / 1000, e / 1000, label) for s, e, label in
                     (nemesis_run.intervals if nemesis_run is not None else [])]
    if load is not None:
        if load.history is not None:
            result.history = load.history
        if result.failure is None:
            verdict = load.verdict()
            result.verdicts.append(verdict)
            if verdict.status == "violation":
                result.failure = f"{verdict.summary}\n  replay: {result.replay}"
    return result


def sweep(adapter: SimAdapter, seeds: Iterable[int],
          on_run: Callable[[RunResult], None] | None = None, **kw: Any) -> list[RunResult]:
    """``run_once`` for each seed in turn, with the same ``kw``; ``on_run`` hears every
    result as it comes (``scripts/sim --sweep`` prints it and moves its progress bar).
    Returns the failed runs only: a long sweep does not keep every run's history."""
    failed = []
    for seed in seeds:
        result = run_once(adapter, seed, **kw)
        if on_run is not None:
            on_run(result)
        if not result.ok:
            failed.append(result)
    return failed


def replay(adapter: SimAdapter, seed: int, **kw: Any) -> RunResult:
    """Re-run one seed; raise AssertionError with the replay command if it fails.
    A seed found by a sweep becomes a regression test in one line."""
    result = run_once(adapter, seed, **kw)
    if not result.ok:
        raise AssertionError(f"seed {seed} failed: {result.failure or result.describe()}")
    return result
