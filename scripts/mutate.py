"""``scripts/mutate``: remove one rule at a time and prove a test fails.

Each mutation (``scripts/mutations/<group>.py``) deletes or breaks one rule of a
protocol, of the host or of a checker. For each, this script copies the working tree to a
temporary directory, applies the mutation there (never to your tree), runs the named
tests, and reports which test caught it — or that none did, which is a hole in the suite.

    scripts/mutate                       every mutation of every group
    scripts/mutate --group paxos         one group (raft, paxos, swim, causal, clocks,
                                         vkv, host, checkers); repeatable
    scripts/mutate --list                the mutations and the tests that should catch them
    scripts/mutate vote-once lease-clock only these
    scripts/mutate --group paxos --update-docs   rewrite docs/paxos-rules.md's table
    scripts/mutate -j 2                  two mutations at a time

Exit status: 0 if every mutation was caught, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from mutations import GROUPS, Mutation

from protocols.progress import progress_bar

ROOT = Path(__file__).resolve().parent.parent
# one mutation's tests: minutes at most; a mutation that makes a loop spin forever is
# reported as such instead of stalling the run (pytest-timeout's alarm is caught by
# Hypothesis, which then shrinks the hanging example again and again)
MUTATION_TIMEOUT_S = 600
BEGIN, END = "<!-- mutations:begin -->", "<!-- mutations:end -->"


def copy_tree(dest: Path) -> None:
    """The working tree as it is (tracked and new files), without .venv or caches."""
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        src = ROOT / f
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)


def applies(m: Mutation, root: Path = ROOT) -> str | None:
    """None if ``m`` applies to the tree under ``root`` exactly once, else why not."""
    target = root / m.path
    if not target.is_file():
        return f"{m.path} does not exist"
    count = target.read_text().count(m.old)
    if count != 1:
        return f"the text to mutate occurs {count} times in {m.path} (must be once)"
    if m.old == m.new:
        return "the mutation changes nothing"
    return None


def run(m: Mutation) -> tuple[bool, list[str], str, float]:
    """(caught, the failed tests, what to print, seconds)."""
    with tempfile.TemporaryDirectory(prefix=f"mutate-{m.name}-") as tmp:
        tree = Path(tmp)
        copy_tree(tree)
        why = applies(m, tree)
        if why is not None:
            return False, [], f"the mutation no longer applies: {why} (update it)", 0.0
        target = tree / m.path
        target.write_text(target.read_text().replace(m.old, m.new))
        env = {**os.environ, "PYTHONPATH": f"{tree / 'src'}{os.pathsep}{tree}"}
        started = time.monotonic()
        try:
            out = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p",
                                  "no:cacheprovider", "-m", "not slow", *m.tests],
                                 cwd=tree, env=env, capture_output=True, text=True,
                                 timeout=MUTATION_TIMEOUT_S)
        except subprocess.TimeoutExpired:  # a livelock Hypothesis keeps shrinking
            return False, [], f"the tests did not finish in {MUTATION_TIMEOUT_S} s (the " \
                              "mutation loops forever: make it fail fast)", \
                time.monotonic() - started
        elapsed = time.monotonic() - started
        failed = [words[1] for words in map(str.split, out.stdout.splitlines())
                  if words[:1] in (["FAILED"], ["ERROR"]) and len(words) > 1
                  and words[1].startswith("tests/")]  # not a captured "ERROR ..." log line
        if out.returncode == 0:
            return False, [], "NOT CAUGHT: every test passed", elapsed
        if out.returncode not in (1,) or not failed:  # collection errors, crashes
            tail = (out.stdout.strip() + out.stderr.strip())[-300:]
            return False, [], f"the tests did not run cleanly (exit {out.returncode}): " \
                              f"{tail}", elapsed
        return True, failed, "caught by " + ", ".join(failed), elapsed


def update_docs(group: str, results: dict[str, tuple[bool, list[str]]]) -> None:
    """Rewrite the table in docs/<group>-rules.md from this run."""
    path = ROOT / "docs" / f"{group}-rules.md"
    text = path.read_text()
    if BEGIN not in text or END not in text:
        raise SystemExit(f"error: {path} has no {BEGIN} ... {END} markers")
    rows = ["| rule | mutation | caught by |", "|---|---|---|"]
    for m in GROUPS[group]:
        caught, failed = results.get(m.name, (False, []))
        where = f"`{failed[0]}`" if caught and failed else "**not caught**"
        rows.append(f"| {m.rule} | `{m.name}` | {where} |")
    caught_n = sum(1 for m in GROUPS[group] if results.get(m.name, (False,))[0])
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    head = re.sub(r"Last run: \d+ of \d+ mutations caught\.",
                  f"Last run: {caught_n} of {len(GROUPS[group])} mutations caught.", head)
    path.write_text(f"{head}{BEGIN}\n" + "\n".join(rows) + f"\n{END}{tail}")
    print(f"wrote {path.relative_to(ROOT)}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="scripts/mutate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", help="mutations to run (default: all)")
    p.add_argument("--group", action="append", choices=sorted(GROUPS),
                   help="only this group's mutations (repeatable)")
    p.add_argument("--list", action="store_true")
    p.add_argument("--update-docs", action="store_true",
                   help="rewrite docs/<group>-rules.md's table from this run")
    p.add_argument("-j", "--jobs", type=int, default=1, help="mutations run at a time")
    args = p.parse_args(argv)
    groups = args.group or list(GROUPS)
    chosen = [(g, m) for g in groups for m in GROUPS[g] if not args.names or m.name in args.names]
    unknown = set(args.names) - {m.name for ms in GROUPS.values() for m in ms}
    if unknown:
        print(f"error: unknown mutation(s) {sorted(unknown)}", file=sys.stderr)
        return 2
    if args.list:
        for g, m in chosen:
            print(f"{g:8} {m.name:30} {m.rule}\n{'':39} tests: {' '.join(m.tests)}")
        return 0
    if args.update_docs and args.names:
        print("error: --update-docs runs whole groups; drop the names", file=sys.stderr)
        return 2
    results: dict[str, tuple[bool, list[str]]] = {}
    total = len(chosen)
    print(f"running {total} mutations, {args.jobs} at a time", flush=True)
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool, \
            progress_bar("mutations", total=total) as bar:
        futures = [(g, m, pool.submit(run, m)) for g, m in chosen]
        for i, (g, m, future) in enumerate(futures, 1):
            caught, failed, what, elapsed = future.result()
            results[m.name] = (caught, failed)
            print(f"[{i}/{total}] {'ok  ' if caught else 'MISS'} {g:8} {m.name:30} "
                  f"{elapsed:5.1f}s  {what}", flush=True)
            missed = sum(1 for caught, _ in results.values() if not caught)
            bar.advance(note=f"{m.name}: {'caught' if caught else 'MISSED'}; "
                             f"{missed} missed so far")
    missed = sum(1 for caught, _ in results.values() if not caught)
    print(f"\n{total - missed} of {total} mutations caught")
    if args.update_docs:
        for g in groups:
            update_docs(g, results)
    return 0 if missed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
