"""``scripts/experiment``: run one of the course's experiments.

    scripts/experiment --list              every experiment, its chapters and its point
    scripts/experiment split-brain         run one (small size); prints what to look at
    scripts/experiment split-brain --full  the documented size (a few seeds more)
    scripts/experiment all                 every one, one after the other

Each writes its diagrams and ``experiment.json`` (its figures and conclusion) into
``--out`` (default: a new temporary directory, printed). Exit status: 0 if every
conclusion held, 1 if one did not, 2 on bad input.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from cluster.experiments import EXPERIMENTS, Experiment, Outcome, Report

__all__ = ["main", "run_one"]


def run_one(e: Experiment, out: Path, full: bool, say: Report) -> Outcome:
    """Run ``e`` into ``out``; write its ``experiment.json``; print its conclusion."""
    say(f"== {e.name}: {e.title} (course chapters {', '.join(map(str, e.chapters))}; "
        f"{'full' if full else 'small'} size, on the {e.on})")
    started = time.monotonic()
    outcome = e.run(out, full, say)
    seconds = time.monotonic() - started
    say(f"conclusion ({'it held' if outcome.holds else 'it did NOT hold'}, "
        f"{seconds:.1f} s): {outcome.conclusion}")
    out.mkdir(parents=True, exist_ok=True)
    (out / "experiment.json").write_text(json.dumps({
        "name": e.name, "title": e.title, "chapters": list(e.chapters), "full": full,
        "holds": outcome.holds, "conclusion": outcome.conclusion,
        "figures": outcome.figures, "files": [str(f) for f in outcome.files],
        "seconds": round(seconds, 2)}, indent=2) + "\n", encoding="utf-8")
    say(f"written to {out}")
    return outcome


def print_list() -> None:
    width = max(map(len, EXPERIMENTS))
    for e in EXPERIMENTS.values():
        chapters = ", ".join(map(str, e.chapters))
        print(f"{e.name:{width}}  ch. {chapters:12} {e.point}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scripts/experiment", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("name", nargs="?", help="an experiment's name (see --list), or 'all'")
    p.add_argument("--list", action="store_true", help="list the experiments")
    p.add_argument("--full", action="store_true", help="the documented size")
    p.add_argument("--out", type=Path, help="where to write (default: a temporary dir)")
    args = p.parse_args(argv)
    if args.list:
        print_list()
        return 0
    if args.name is None:
        print("error: name an experiment (scripts/experiment --list)", file=sys.stderr)
        return 2
    chosen = list(EXPERIMENTS.values()) if args.name == "all" else [EXPERIMENTS.get(args.name)]
    if chosen[0] is None:
        print(f"error: no experiment {args.name!r}; there are: {', '.join(EXPERIMENTS)}",
              file=sys.stderr)
        return 2
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        print(f"error: --out {args.out} is a file, not a directory", file=sys.stderr)
        return 2
    out = args.out or Path(tempfile.mkdtemp(prefix="experiment-"))
    held = True
    for e in chosen:
        assert e is not None
        where = out / e.name if len(chosen) > 1 else out
        held &= run_one(e, where, args.full, Report()).holds
    return 0 if held else 1


if __name__ == "__main__":
    sys.exit(main())
