"""Benchmark the linearizability checker (run via ``scripts/bench checker``).

A 10 000-operation history over 50 keys from 10 concurrent clients (each client has one
operation in flight; every operation takes effect at a random point inside its
interval, so the history is linearizable by construction; 2% of writes end with an
unknown outcome). Reported: check time, and as a baseline in the same run the time to
merely pair the events into operations (the floor of any checker), plus the time to
find a violation injected into the same history.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from typing import Any

from rich.console import Console
from rich.table import Table

from protocols.check import History, check_history

console = Console()


def make_history(ops: int, keys: int, clients: int, seed: int) -> History:
    rng = random.Random(seed)
    state: dict[str, str | None] = {}
    clock = [0.0] * clients
    plans = []
    for i in range(ops):
        c = i % clients
        call = clock[c] + rng.uniform(0, 0.5)
        lin = call + rng.uniform(0, 2)
        ret = lin + rng.uniform(0, 2)
        clock[c] = ret
        key = f"k{rng.randrange(keys)}"
        roll = rng.random()
        f = "get" if roll < 0.5 else "put" if roll < 0.85 else "cas"
        plans.append((lin, i, c, call, ret, f, key))
    results: dict[int, Any] = {}
    args: dict[int, Any] = {}
    for _lin, i, _c, _call, _ret, f, key in sorted(plans):
        cur = state.get(key)
        if f == "get":
            results[i] = cur
        elif f == "put":
            args[i] = f"v{i}"
            state[key] = args[i]
            results[i] = None
        else:
            expected = cur if rng.random() < 0.5 else f"v{rng.randrange(max(1, i))}"
            args[i] = [expected, f"c{i}"]
            ok = cur == expected
            if ok:
                state[key] = f"c{i}"
            results[i] = ok
    events = []
    for _lin, i, c, call, ret, f, key in plans:
        events.append((call, 0, i, c, f, key))
        events.append((ret, 1, i, c, f, key))
    events.sort()
    h = History()
    open_inv = {}
    for t, kind, i, c, f, key in events:
        if kind == 0:
            open_inv[i] = h.invoke(c, f, key, args.get(i), t)
        else:
            unknown = f != "get" and rng.random() < 0.02
            h.complete(open_inv.pop(i), "info" if unknown else "ok",
                       None if unknown else results[i], t)
    return h


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=10_000)
    parser.add_argument("--keys", type=int, default=50)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    history = make_history(args.ops, args.keys, args.clients, args.seed)
    t = time.perf_counter()
    history.operations()
    pair_s = time.perf_counter() - t
    result = check_history(history, timeout_s=120)
    # inject one impossible read into the same history
    events = list(history.events)
    idx = next(i for i, e in enumerate(events) if e.type == "ok" and e.f == "get")
    e = events[idx]
    events[idx] = type(e)(e.type, e.process, e.f, e.key, "never-written", e.time)
    broken = check_history(History(events), timeout_s=120)
    rows = {
        "operations": args.ops, "keys": args.keys, "clients": args.clients,
        "pair_events_s": pair_s, "check_s": result.elapsed_s, "verdict": result.verdict,
        "check_per_op_us": result.elapsed_s / args.ops * 1e6,
        "violation_check_s": broken.elapsed_s, "violation_verdict": broken.verdict,
        "ratio_check_to_pairing": result.elapsed_s / pair_s,
    }
    table = Table(title="linearizability checker (P-compositional Wing-Gong + memoisation)")
    table.add_column("measure")
    table.add_column("value")
    for k, v in rows.items():
        table.add_row(k, f"{v:.3f}" if isinstance(v, float) else str(v))
    console.print(table)
    if args.json:
        print(json.dumps(rows, indent=2))
    return 0 if result.verdict == "ok" and broken.verdict == "violation" else 1


if __name__ == "__main__":
    sys.exit(main())
