"""``scripts/explore`` and ``scripts/check-models``: the explorer by protocol name.

The one place that resolves a protocol for the explorer (as ``protocols.simulate`` is
for the simulator): ``protocols.explore`` knows no protocol and no registry.

``scripts/explore``: model-check a protocol's cores, and replay what it finds.

    scripts/explore --list                         the models of every protocol
    scripts/explore synod                          check the Synod's model (small bounds)
    scripts/explore raft --model prevote --size full --strategy dfs
    scripts/explore paxos --model multipaxos --out /tmp/cx   write the counterexample,
                                                   its space-time diagram and the browser
    scripts/explore replay /tmp/cx/counterexample.json       replay it step by step
    scripts/explore synod --plant synod-promise-majority     (scripts/explore only) the
                                                   code with one rule removed

The report reads like Stateright's: states generated, unique states, maximum depth,
seconds, states per second; then each property: holds, VIOLATED (with the shortest path
when searching breadth-first), reached or NEVER REACHED. Exit status: 0 when every
property holds and every sometimes-property was reached, 1 otherwise, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from protocols.common.errors import ConfigError
from protocols.explore.model import ExploreAdapter
from protocols.explore.report import load, quiet_torn_tails, replay_path, save, write_spacetime
from protocols.explore.search import Explorer, Result
from protocols.explore.system import Move
from protocols.progress import Bar, progress_bar, shown
from protocols.registry import PROTOCOLS, entry, load_models

__all__ = ["check_models", "main", "model"]


def model(protocol: str, name: str | None, size: str) -> tuple[str, ExploreAdapter]:
    """The named model of ``protocol`` (its first when ``name`` is None) at ``size``."""
    models = load_models(protocol)
    if name is None:
        name = next(iter(models))
    if name not in models:
        raise ConfigError(f"protocol {protocol!r} has no model {name!r}; it has "
                          f"{', '.join(models)}")
    if size not in ("small", "full"):
        raise ConfigError(f"size must be small or full, got {size!r}")
    adapter: ExploreAdapter = models[name](size)
    return name, adapter


def _list() -> int:
    for protocol, e in PROTOCOLS.items():
        if e.explore is None:
            continue
        for name, factory in load_models(protocol).items():
            adapter = factory("small")
            print(f"{protocol:8} {name:16} {adapter.summary}")
    return 0


def _check(args: argparse.Namespace) -> int:
    name, adapter = model(args.protocol, args.model, args.size)
    print(f"exploring {args.protocol}/{name} ({args.size}): {adapter.summary}")
    print(f"  bounds: {adapter.bounds.describe()}; symmetry "
          f"{'on' if (adapter.symmetric and not args.no_symmetry) else 'off'}")
    with progress_bar(f"{args.protocol}/{name} states", total=args.max_states) as bar:
        explorer = Explorer(adapter, symmetry=False if args.no_symmetry else None,
                            max_states=args.max_states, stop_at_first=not args.keep_going,
                            **_progress(bar, sys.stderr, 5.0))
        result = explorer.run(args.strategy)
    print(result.summary())
    print("\n".join(result.verdicts()))
    if result.counterexamples:
        _counterexample(args, name, adapter, result)
    elif not result.ok:
        print("a model that never reaches a sometimes-property checks nothing there: "
              "widen its bounds")
    return 0 if result.ok else 1


def _progress(bar: Bar, stream: TextIO | None, every_s: float) -> dict[str, Any]:
    """The Explorer's progress arguments: on a terminal, ``bar`` moved five times a
    second; elsewhere, a line of figures on ``stream`` every ``every_s`` (as before)."""
    if not shown():
        return {"progress": stream, "progress_every_s": every_s}

    def moved(result: Result, elapsed: float, queue: int) -> None:
        bar.update(completed=result.states, note=(
            f"{result.unique:,} unique, depth {result.max_depth}, queue {queue:,}, "
            f"{result.states / max(elapsed, 1e-9):,.0f} states/s"))

    return {"on_progress": moved, "progress_every_s": 0.2}


def _counterexample(args: argparse.Namespace, name: str, adapter: ExploreAdapter,
                    result: Result) -> None:
    cx = result.counterexamples[0]
    shortest = "the shortest " if args.strategy == "bfs" else ""
    print(f"\n{shortest}counterexample: {len(cx.path)} moves breaking {cx.kind} {cx.prop}")
    print(replay_path(adapter, cx.path).text())
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="explore-"))
    out.mkdir(parents=True, exist_ok=True)
    saved = save(out / "counterexample.json", protocol=args.protocol, model=name,
                 size=args.size, counterexample=cx)
    spacetime = write_spacetime(replay_path(adapter, cx.path, verbose=False),
                                out / "spacetime.html", title=f"{args.protocol}/{name}: {cx.prop}")
    print(f"\nsaved: {saved}\n  space-time diagram: {spacetime}")
    browser = _browser(adapter, cx.path, out / "explorer.html", args.browser_limit)
    if browser is not None:
        print(f"  state-space browser: {browser}")
    plant = f" --plant {args.plant}" if args.plant else ""
    print(f"  replay: scripts/explore replay {saved}{plant}")
    if entry(args.protocol).shell is not None:  # a protocol with node processes
        print(f"  on processes: scripts/explore replay {saved} --processes{plant}")


def _browser(adapter: ExploreAdapter, path: list[Move], out: Path, limit: int) -> Path:
    from protocols.explore.browse import write_browser

    return write_browser(adapter, out, path=path, limit=limit)


def _replay(args: argparse.Namespace) -> int:
    header, moves = load(args.file)
    _, adapter = model(header["protocol"], header["model"], header["size"])
    if args.processes:
        if args.on_processes is None:
            raise ConfigError("--processes: run it through scripts/explore (the cluster "
                              "runner starts the processes)")
        return int(args.on_processes(header, adapter, moves))
    try:
        replay = replay_path(adapter, moves)
    except ValueError as e:
        print(f"{args.file}: {e} (has the code changed since it was found?)", file=sys.stderr)
        return 2
    print(f"replaying {header['protocol']}/{header['model']} ({header['size']}): "
          f"{len(moves)} moves, expected to break {header.get('property')}")
    print(replay.text())
    if args.spacetime:
        print(f"space-time diagram: {write_spacetime(replay, args.spacetime)}")
    if replay.broken is None:
        print("no always-property broke on this path")
        return 0
    print(f"\nbroken at step {replay.broken_at}: {replay.broken}")
    return 1


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="scripts/explore", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("protocol", nargs="?", help="a protocol with models (see --list), "
                   "or 'replay'")
    p.add_argument("file", nargs="?", help="replay: the counterexample.json to replay")
    p.add_argument("--list", action="store_true", help="list the models and exit")
    p.add_argument("--model", help="which of the protocol's models (default: its first)")
    p.add_argument("--size", default="small", help="small (seconds) or full (the "
                   "issue's targets; scripts/check-models)")
    p.add_argument("--strategy", choices=("bfs", "dfs"), default="bfs",
                   help="bfs finds the shortest counterexample; dfs uses less memory")
    p.add_argument("--no-symmetry", action="store_true",
                   help="visit a state and its renamings of node ids separately")
    p.add_argument("--max-states", type=int, help="stop after this many states")
    p.add_argument("--keep-going", action="store_true",
                   help="after a violation, go on to find the other properties' ones")
    p.add_argument("--out", help="where the counterexample, its diagram and the browser "
                   "page go (default: a new temporary directory)")
    p.add_argument("--spacetime", help="replay: also write the space-time diagram here")
    p.add_argument("--processes", action="store_true",
                   help="replay: on gRPC node processes in step mode, checking after "
                   "every step that they are in the model's state (cluster.replay)")
    p.add_argument("--browser-limit", type=int, default=500,
                   help="states the counterexample's browser page explores beyond its "
                   "path (default 500)")
    return p


def main(argv: list[str] | None = None, plant: str | None = None,
         on_processes: Callable[[dict[str, Any], ExploreAdapter, list[Move]], int] | None
         = None) -> int:
    """``plant``: the mutation scripts/explore planted (named in the replay command);
    ``on_processes``: replays a path on processes (``replay --processes``; the cluster
    runner's, which this package may not import)."""
    args = parser().parse_args(argv)
    args.plant, args.on_processes = plant, on_processes
    quiet_torn_tails()
    try:
        if args.list:
            return _list()
        if args.protocol == "replay":
            if not args.file:
                raise ConfigError("replay needs the counterexample's file")
            return _replay(args)
        if args.protocol is None:
            parser().print_usage(sys.stderr)
            return 2
        if args.max_states is not None and args.max_states < 1:
            raise ConfigError("--max-states must be at least 1")
        return _check(args)
    except ConfigError as e:
        print(f"scripts/explore: {e}", file=sys.stderr)
        return 2


CHECK_MODELS = """``scripts/check-models``: every registered model, checked at its full bounds.

Each protocol's registry entry names its models (``ProtocolEntry.explore``); this runs
each one breadth-first and prints one row per model the way Stateright reports a run
(states generated, unique states, maximum depth, seconds, states per second) and the
verdict of every property. Exit status 0 when every property of every model holds and
every sometimes-property was reached.
"""


def check_models(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scripts/check-models", description=CHECK_MODELS,
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
        models = [(protocol, name, factory) for protocol in names
                  for name, factory in load_models(protocol).items()]
        with progress_bar("models", total=len(models), enabled=not args.quiet) as bar:
            for protocol, name, factory in models:
                passed, row = _check_one(args, protocol, name, factory, bar)
                ok = ok and passed
                rows.append(row)
                bar.advance(note=f"{protocol}/{name}: {_verdict(row)}")
    except ConfigError as e:
        print(f"scripts/check-models: {e}", file=sys.stderr)
        return 2
    print("\n| model | states | unique | max depth | seconds | states/s | verdict |")
    print("|---|---:|---:|---:|---:|---:|---|")
    for r in rows:
        print(f"| {r['protocol']}/{r['model']} | {r['states']:,} | {r['unique']:,} | "
              f"{r['max_depth']} | {r['seconds']} | {r['states_per_s']:,} | "
              f"{_verdict(r)}{'' if r['complete'] else ' (bounded)'} |")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    return 0 if ok else 1


def _check_one(args: argparse.Namespace, protocol: str, name: str,
               factory: Callable[[str], ExploreAdapter], bar: Bar
               ) -> tuple[bool, dict[str, Any]]:
    """One model of check-models: its lines, whether it went as expected, its row."""
    adapter = factory(args.size)
    print(f"== {protocol}/{name} ({args.size}): {adapter.summary}", flush=True)
    states = bar.bar(f"{protocol}/{name}", total=args.max_states or adapter.max_states)
    result = Explorer(adapter, max_states=args.max_states or adapter.max_states,
                      **({} if args.quiet else _progress(states, sys.stderr, 30))
                      ).run(args.strategy)
    states.close()
    print(result.summary())
    print("\n".join(result.verdicts()), flush=True)
    passed = result.as_expected(adapter.expect_violation)
    if adapter.expect_violation is not None:
        print(f"  (this model exists to break {adapter.expect_violation!r}: "
              f"{'it does' if passed else 'NOT AS EXPECTED'})", flush=True)
    return passed, {"protocol": protocol, "model": name, "size": args.size,
                    "states": result.states, "unique": result.unique,
                    "max_depth": result.max_depth, "seconds": round(result.seconds, 2),
                    "states_per_s": round(result.rate), "ok": passed,
                    "expected": adapter.expect_violation, "complete": result.complete}


def _verdict(row: dict[str, Any]) -> str:
    if not row["ok"]:
        return "FAILED"
    return f"broken as expected ({row['expected']})" if row["expected"] else "ok"


if __name__ == "__main__":
    if sys.argv[1:2] == ["check-models"]:
        sys.exit(check_models(sys.argv[2:]))
    sys.exit(main())
