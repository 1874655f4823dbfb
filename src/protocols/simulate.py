"""``scripts/sim``: replay one seeded simulated run, or sweep many seeds.

    scripts/sim --protocol raft --seed 7                 one run: trace hash, verdicts
    scripts/sim --protocol raft --seed 7 --trace t.txt   ... and its full trace
    scripts/sim --protocol raft --sweep 1..200           every failing seed + replay command
    scripts/sim --protocol raft --seed 7 -o read_mode='"lease"' -o pre_vote=false
    scripts/sim --protocol raft --seed 7 --nemesis partition,crash --workload kv
    scripts/sim --protocol raft --seed 7 --spacetime out/   the run as a space-time diagram,
                                                         a timeline, its verdicts: then
    scripts/report out/                                  one page of it all

A sweep draws a progress bar on stderr when stderr is a terminal (``protocols.progress``);
what it prints is the same either way.

A protocol is a registered name (``protocols.registry``) or the ``module:ATTRIBUTE`` of a
``ProtocolEntry``. Exit status: 0 if every run passed, 1 if one failed, 2 on bad input.

This module is the simulator *by name*: it resolves a protocol through the registry and
hands its adapter to ``protocols.sim``, which knows no protocol and no list of them. In
tests, a seed a sweep found becomes a regression test in one line::

    def test_seed_4242_regression():
        protocols.simulate.replay("raft", 4242)
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from protocols.check.record import Judgement, RunRecord, make_record
from protocols.common.errors import ConfigError
from protocols.common.options import option_pairs
from protocols.progress import progress_bar
from protocols.registry import load_sim
from protocols.sim import runner
from protocols.sim.api import SimAdapter
from protocols.sim.nemesis import EXTRA_KINDS, KINDS
from protocols.sim.runner import RunResult

__all__ = ["main", "replay", "run_once", "run_record", "write_spacetime"]


def adapter_of(protocol: str | SimAdapter) -> SimAdapter:
    """A registered name (or ``module:ATTRIBUTE``) resolved to its simulator adapter."""
    return load_sim(protocol) if isinstance(protocol, str) else protocol


def run_once(protocol: str | SimAdapter, seed: int, **kw: Any) -> RunResult:
    """``protocols.sim.run_once`` for a protocol named as ``scripts/sim`` names it."""
    return runner.run_once(adapter_of(protocol), seed, **kw)


def replay(protocol: str | SimAdapter, seed: int, **kw: Any) -> RunResult:
    """``protocols.sim.replay`` by name: a failing seed as a one-line regression test."""
    return runner.replay(adapter_of(protocol), seed, **kw)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scripts/sim", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--protocol", required=True, help="a registered name or module:ATTRIBUTE")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sweep", help="a seed range A..B (inclusive)")
    p.add_argument("--nodes", type=int, default=5)
    p.add_argument("--duration-ms", type=int, default=5000)
    p.add_argument("--no-nemesis", action="store_true")
    p.add_argument("--nemesis", help=f"fault kinds, comma-separated: {','.join(KINDS)}, "
                                     f"{','.join(EXTRA_KINDS)} (with --disk-latency-ms) and "
                                     "the protocol's own (raft: transfer)")
    p.add_argument("--workload", help="one of the protocol's workloads (default: its first); "
                                      "'none' for none")
    p.add_argument("--clients", type=int, default=3)
    p.add_argument("--keys", type=int, default=3)
    p.add_argument("--disk-latency-ms", type=int, default=0,
                   help="> 0: asynchronous disk writes taking this long (the host's pump)")
    p.add_argument("-o", "--option", action="append", default=[], metavar="KEY=JSON",
                   help="a protocol option, e.g. -o snapshot_threshold=100 (repeatable)")
    p.add_argument("--trace", help="write the run's trace to this file")
    p.add_argument("--spacetime", metavar="DIR",
                   help="write the run as DIR/spacetime.html, a ShiViz log, a history "
                        "timeline and verdict.json (one run; scripts/report DIR pages them)")
    args = p.parse_args(argv)
    try:
        kw: dict[str, Any] = {
            "nodes": args.nodes, "duration_ms": args.duration_ms,
            "nemesis": not args.no_nemesis, "clients": args.clients, "keys": args.keys,
            "disk_latency_ms": args.disk_latency_ms, "workload": args.workload,
            "options": option_pairs(args.option),
            "nemesis_kinds": tuple(args.nemesis.split(",")) if args.nemesis else None}
        if args.sweep:
            return sweep(args.protocol, args.sweep, kw)
        result = run_once(args.protocol, args.seed, keep_trace=bool(args.trace),
                          event_log=bool(args.spacetime), **kw)
    except (ConfigError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.trace:
        with open(args.trace, "w", encoding="utf-8") as f:
            f.write("\n".join(result.trace) + "\n")
    if args.spacetime:
        write_spacetime(result, args.spacetime)
    report(result)
    return 0 if result.ok else 1


def write_spacetime(result: RunResult, directory: str) -> None:
    """The run's event log as a space-time diagram and a ShiViz log (simulated seconds);
    the workload's operations, recorded in simulated ms, beside them and as a history
    timeline; the verdicts and faults as ``verdict.json``: what ``scripts/report DIR``
    makes one page of."""
    import dataclasses
    from pathlib import Path

    from protocols.check.linearizability import check_operations
    from protocols.check.record import write_record
    from protocols.check.spacetime import render_spacetime, write_shiviz
    from protocols.check.timeline import render_timeline

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    ops = [dataclasses.replace(op, call=op.call / 1000, ret=op.ret / 1000)
           for op in result.history.operations()]
    checked = None
    if any(v.check == "linearizability" and v.status == "violation" for v in result.verdicts):
        checked = check_operations(ops)  # again, on these ops: the pages mark its culprit
    html = render_spacetime(result.event_log, out / "spacetime.html", faults=result.faults,
                            operations=ops, result=checked, title=result.replay)
    shiviz = write_shiviz(result.event_log, out / "spacetime.shiviz.log")
    if ops:
        render_timeline(ops, checked, out / "timeline.html", result.faults)
    record = write_record(out, run_record(result))
    print(f"space-time diagram: {html}; ShiViz log: {shiviz}; verdicts: {record}\n"
          f"the run's page: scripts/report {out}")


def run_record(result: RunResult) -> RunRecord:
    """The run's verdicts (the workload's checker, and the invariants checked after every
    event or the failure that stopped the run) and its faults, for ``verdict.json``."""
    verdicts = [Judgement(v.check, v.status, v.summary) for v in result.verdicts]
    if result.failure is not None and not any(v.status == "violation" for v in verdicts):
        verdicts.append(Judgement("simulation", "violation", result.failure))
    elif result.failure is None and result.invariants:
        n = result.invariants
        verdicts.append(Judgement("invariants", "ok", f"{n} invariant{'s' * (n != 1)} held "
                                  f"after each of {result.events} events"))
    title = (f"{result.protocol}: simulated run, seed {result.seed}"
             + (f", {result.workload} workload" if result.workload else ""))
    return make_record(title, result.protocol, "sim", verdicts, faults=result.faults,
                       clock="simulated", replay=result.replay,
                       extra={"events": result.events,
                              "simulated time": f"{result.time_ms} ms",
                              "trace hash": result.trace_hash})


def report(result: RunResult) -> None:
    print(result.describe())
    for start, end, label in result.faults:  # the nemesis's log: what it did, when
        print(f"  fault {start:7.3f}-{end:7.3f} s  {label}")
    if result.failure:
        print(f"FAILED: {result.failure}")
    else:
        print(f"replay: {result.replay}")


def sweep(protocol: str, seeds: str, kw: dict[str, Any]) -> int:
    """Every seed of ``A..B``: a line each (and a progress bar on a terminal's stderr),
    then every failure with its replay command."""
    first, last = seed_range(seeds)
    adapter = adapter_of(protocol)
    failures = 0
    with progress_bar(f"{adapter.name} seeds", total=last - first + 1) as bar:
        def on_run(result: RunResult) -> None:
            nonlocal failures
            failures += 0 if result.ok else 1
            mark = "ok" if result.ok else "FAILED"
            print(f"seed {result.seed}: {mark} ({result.events} events, trace "
                  f"{result.trace_hash})", flush=True)
            bar.advance(note=f"seed {result.seed}: {mark}; {failures} failed so far")

        failed = runner.sweep(adapter, range(first, last + 1), on_run, **kw)
    for r in failed:
        print(f"\nFAILED seed {r.seed}: {r.failure or r.describe()}")
    print(f"\n{len(failed)} of {last - first + 1} seeds failed")
    return 1 if failed else 0


def seed_range(seeds: str) -> tuple[int, int]:
    """``A..B`` (inclusive; ``A`` alone is one seed)."""
    lo, _, hi = seeds.partition("..")
    try:
        first, last = int(lo), int(hi or lo)
    except ValueError:
        raise ConfigError(f"--sweep wants a seed range A..B, not {seeds!r}") from None
    if last < first:
        raise ConfigError(f"--sweep {seeds}: the range is empty (B is below A)")
    return first, last


if __name__ == "__main__":
    sys.exit(main())
