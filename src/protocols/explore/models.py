"""``scripts/check-models``: every registered model, checked at its full bounds.

Each protocol's registry entry names its models (``ProtocolEntry.explore``); this runs
each one breadth-first and prints one row per model the way Stateright reports a run
(states generated, unique states, maximum depth, seconds, states per second) and the
verdict of every property. Exit status 0 when every property of every model holds and
every sometimes-property was reached.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from protocols.common.errors import ConfigError
from protocols.explore.report import quiet_torn_tails
from protocols.explore.search import Explorer
from protocols.registry import PROTOCOLS, load_models

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scripts/check-models", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("protocols", nargs="*", help="only these protocols (default: all)")
    p.add_argument("--size", choices=("small", "full"), default="full")
    p.add_argument("--strategy", choices=("bfs", "dfs"), default="bfs")
    p.add_argument("--json", help="also write the figures to this file")
    p.add_argument("--quiet", action="store_true", help="no progress lines")
    p.add_argument("--max-states", type=int, help="stop each model after this many states "
                   "(its row then says 'bounded')")
    args = p.parse_args(argv)
    quiet_torn_tails()
    names = args.protocols or [n for n, e in PROTOCOLS.items() if e.explore]
    rows: list[dict[str, Any]] = []
    ok = True
    try:
        for protocol in names:
            for name, factory in load_models(protocol).items():
                adapter = factory(args.size)
                print(f"== {protocol}/{name} ({args.size}): {adapter.summary}", flush=True)
                result = Explorer(adapter, progress=None if args.quiet else sys.stderr,
                                  progress_every_s=30,
                                  max_states=args.max_states).run(args.strategy)
                print(result.summary())
                print("\n".join(result.verdicts()), flush=True)
                ok = ok and result.ok
                rows.append({"protocol": protocol, "model": name, "size": args.size,
                             "states": result.states, "unique": result.unique,
                             "max_depth": result.max_depth,
                             "seconds": round(result.seconds, 2),
                             "states_per_s": round(result.rate), "ok": result.ok,
                             "complete": result.complete})
    except ConfigError as e:
        print(f"scripts/check-models: {e}", file=sys.stderr)
        return 2
    print("\n| model | states | unique | max depth | seconds | states/s | verdict |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['protocol']}/{r['model']} | {r['states']:,} | {r['unique']:,} | "
              f"{r['max_depth']} | {r['seconds']} | {r['states_per_s']:,} | "
              f"{'ok' if r['ok'] else 'FAILED'}{'' if r['complete'] else ' (bounded)'} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
