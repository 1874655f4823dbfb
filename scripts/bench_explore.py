"""The explorer against a plain Python BFS of the same model (run via ``scripts/bench
explore``).

Both walk the same ``System`` (the Synod's model: the protocol's own cores, the same
moves, the same properties checked in every state) breadth-first to the end. The plain
BFS is the textbook one: ``copy.deepcopy`` of the whole state per successor and a set of
full encodings (``repr``). The explorer copies only the node a move touches, re-encodes
only that node, and keeps 16-byte fingerprints. Both must count the same unique states;
the figure is the ratio of their states/s and of their peak memory, measured in the same
run.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import time
import tracemalloc
from collections import deque
from typing import Any

from rich.console import Console
from rich.table import Table

from protocols.explore.model import Always, Bounds, ExploreAdapter
from protocols.explore.search import Explorer, check_always
from protocols.explore.system import System
from protocols.paxos.explore import synod

console = Console()


def plain_bfs(adapter: ExploreAdapter) -> dict[str, Any]:
    properties = [p for p in Explorer(adapter).properties if isinstance(p, Always)]
    started = time.monotonic()
    init = System(adapter)
    seen = {repr(init.encode())}
    queue = deque([init])
    states = 1
    while queue:
        system = queue.popleft()
        if len(system.network) > adapter.bounds.in_flight:
            continue
        for move in system.moves():
            child = copy.deepcopy(system)
            child.apply(move)
            states += 1
            key = repr(child.encode())
            if key in seen:
                continue
            seen.add(key)
            for p in properties:
                if check_always(p, child) is not None:
                    raise AssertionError(f"{p.name} broke: the benchmark's model must hold")
            queue.append(child)
    return {"states": states, "unique": len(seen), "seconds": time.monotonic() - started}


def explorer(adapter: ExploreAdapter) -> dict[str, Any]:
    r = Explorer(adapter, symmetry=False).run("bfs")
    assert r.ok, r.verdicts()
    return {"states": r.states, "unique": r.unique, "seconds": r.seconds}


def measure(run: Any, adapter: ExploreAdapter, memory: bool) -> dict[str, Any]:
    """One search's figures; with ``memory``, a second run under tracemalloc (which
    slows it several times) gives its peak memory."""
    out: dict[str, Any] = run(adapter)
    out["rate"] = out["states"] / out["seconds"]
    if memory:
        tracemalloc.start()
        run(adapter)
        out["peak_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    p.add_argument("--memory", action="store_true", help="also measure peak memory")
    args = p.parse_args()
    adapter = dataclasses.replace(synod("small"), commands=("x",), targets=(("n1",),),
                                  bounds=Bounds(ticks=0, timeouts=False, persist_moves=False))
    base = measure(plain_bfs, adapter, args.memory)
    ours = measure(explorer, adapter, args.memory)
    if base["unique"] != ours["unique"]:
        raise SystemExit(f"the two searches disagree: {base['unique']} vs {ours['unique']} "
                         "unique states")
    figures = {"model": "synod, 1 proposer, every order", "plain": base, "explorer": ours,
               "rate_ratio": ours["rate"] / base["rate"]}
    if args.memory:
        figures["memory_ratio"] = ours["peak_mib"] / base["peak_mib"]
    if args.json:
        print(json.dumps(figures, indent=1))
        return
    t = Table(title=f"explorer vs plain BFS ({figures['model']})")
    for col in ("search", "states", "unique", "seconds", "states/s", "peak MiB"):
        t.add_column(col, justify="right")
    for name, f in (("plain BFS (deepcopy, repr set)", base), ("explorer", ours)):
        t.add_row(name, f"{f['states']:,}", f"{f['unique']:,}", f"{f['seconds']:.2f}",
                  f"{f['rate']:,.0f}", f"{f['peak_mib']:.1f}" if args.memory else "-")
    console.print(t)
    console.print(f"explorer / plain: {figures['rate_ratio']:.2f}x the states/s"
                  + (f", {figures['memory_ratio']:.2f}x the peak memory" if args.memory
                     else ""))


if __name__ == "__main__":
    main()
