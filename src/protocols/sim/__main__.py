"""``scripts/sim``: replay one seeded simulated run, or sweep many seeds.

    scripts/sim --protocol raft --seed 7                 one run: trace hash, verdict
    scripts/sim --protocol raft --seed 7 --trace t.txt   ... and its full trace
    scripts/sim --protocol raft --sweep 1..200           every failing seed + replay command
"""

from __future__ import annotations

import argparse
import sys

from protocols.common.errors import ConfigError
from protocols.sim.runner import run_once


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scripts/sim", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--protocol", required=True, help="a registered name or module:ATTRIBUTE")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--sweep", help="a seed range A..B (inclusive)")
    p.add_argument("--nodes", type=int, default=5)
    p.add_argument("--duration-ms", type=int, default=5000)
    p.add_argument("--no-nemesis", action="store_true")
    p.add_argument("--clients", type=int, default=3)
    p.add_argument("--disk-latency-ms", type=int, default=0,
                   help="> 0: asynchronous disk writes taking this long (the host's pump)")
    p.add_argument("--trace", help="write the run's trace to this file")
    args = p.parse_args(argv)
    kw = {"nodes": args.nodes, "duration_ms": args.duration_ms,
          "nemesis": not args.no_nemesis, "clients": args.clients,
          "disk_latency_ms": args.disk_latency_ms}
    try:
        if args.sweep:
            return sweep(args.protocol, args.sweep, kw)
        result = run_once(args.protocol, args.seed, keep_trace=bool(args.trace), **kw)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.trace:
        with open(args.trace, "w", encoding="utf-8") as f:
            f.write("\n".join(result.trace) + "\n")
    print(f"seed {result.seed}: {result.events} events, {result.time_ms} ms simulated, "
          f"trace {result.trace_hash}, linearizability: {result.verdict}")
    if result.failure:
        print(f"FAILED: {result.failure}")
    else:
        print(f"replay: {result.replay}")
    return 0 if result.ok else 1


def sweep(protocol: str, seeds: str, kw: dict[str, object]) -> int:
    lo, _, hi = seeds.partition("..")
    failed = []
    for seed in range(int(lo), int(hi or lo) + 1):
        result = run_once(protocol, seed, **kw)  # type: ignore[arg-type]
        mark = "ok" if result.ok else "FAILED"
        print(f"seed {seed}: {mark} ({result.events} events, trace {result.trace_hash})",
              flush=True)
        if not result.ok:
            failed.append(result)
    for r in failed:
        print(f"\nFAILED seed {r.seed}: {r.failure}")
    print(f"\n{len(failed)} of {int(hi or lo) - int(lo) + 1} seeds failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
