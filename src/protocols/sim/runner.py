"""One seeded simulated run, a seed sweep, and the one-line replay for regression tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from protocols.check.history import History
from protocols.registry import load_adapter
from protocols.sim.nemesis import RandomNemesis
from protocols.sim.workload import KvWorkload
from protocols.sim.world import SimulationFailure, World

__all__ = ["RunResult", "replay", "replay_command", "run_once"]


@dataclass(slots=True)
class RunResult:
    protocol: str
    seed: int
    trace_hash: str = ""
    events: int = 0
    time_ms: int = 0
    history: History = field(default_factory=History)
    verdict: str = "not checked"  # linearizability of the KV history, if any
    failure: str | None = None
    trace: list[str] = field(default_factory=list)
    replay: str = ""

    @property
    def ok(self) -> bool:
        return self.failure is None and self.verdict in ("ok", "not checked")


def replay_command(protocol: str, seed: int, **kw: Any) -> str:
    extra = "".join(f" --{k.replace('_', '-')}" + (f" {v}" if v != "" else "")
                    for k, v in sorted(kw.items()))
    return f"scripts/sim --protocol {protocol} --seed {seed}{extra}"


def run_once(protocol: str | Any, seed: int, *, nodes: int = 5, duration_ms: int = 5000,
             nemesis: bool = True, clients: int = 3, keys: int = 3,
             keep_trace: bool = False, options: dict[str, Any] | None = None,
             check_timeout_s: float = 30.0, disk_latency_ms: int = 0,
             nemesis_kinds: tuple[str, ...] | None = None) -> RunResult:
    """Run ``protocol`` (a name or an adapter) for ``duration_ms`` of simulated time."""
    adapter = load_adapter(protocol) if isinstance(protocol, str) else protocol
    name = protocol if isinstance(protocol, str) else adapter.name
    kw = {"nodes": nodes, "duration_ms": duration_ms} | ({} if nemesis else {"no_nemesis": ""})
    if disk_latency_ms:
        kw["disk_latency_ms"] = disk_latency_ms
    result = RunResult(name, seed, replay=replay_command(name, seed, **kw))
    world = World(adapter, nodes, seed, options=options, replay_hint=result.replay,
                  disk_latency_ms=disk_latency_ms)
    if keep_trace:
        world.trace_lines = result.trace
    workload = None
    if hasattr(adapter, "kv_command"):
        workload = KvWorkload(world, adapter, clients=clients, keys=keys, stop_at_ms=duration_ms)
        workload.start()
    if nemesis:
        if nemesis_kinds is None:
            RandomNemesis(world, stop_at_ms=duration_ms).start()
        else:
            RandomNemesis(world, stop_at_ms=duration_ms, kinds=nemesis_kinds).start()
    try:
        world.run_for(duration_ms)
        world.heal()
        for n in world.ids:
            world.restart(n)
        if workload is not None:  # let every client finish its last operation
            world.run_until(lambda: workload.idle, max_ms=workload.op_timeout_ms * 3)
    except SimulationFailure as e:
        result.failure = str(e)
    result.trace_hash, result.events, result.time_ms = world.trace_hash(), world.events, world.now
    if workload is not None:
        result.history = workload.history
        if result.failure is None:
            from protocols.check.linearizability import check_history

            check = check_history(workload.history, timeout_s=check_timeout_s)
            result.verdict = check.verdict
            if check.verdict == "violation":
                result.failure = check.summary() + f"\n  replay: {result.replay}"
    return result


def replay(protocol: str | Any, seed: int, **kw: Any) -> RunResult:
    """Re-run one seed; raise AssertionError with the replay command if it fails.
    A seed found by a sweep becomes a regression test in one line."""
    result = run_once(protocol, seed, **kw)
    if not result.ok:
        raise AssertionError(f"seed {seed} failed: {result.failure}")
    return result
