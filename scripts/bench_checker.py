"""Benchmark the linearizability checker (run via ``scripts/bench checker``).

A 10 000-operation history over 50 keys from 10 concurrent clients (each client has one
operation in flight; every operation takes effect at a random point inside its
interval, so the history is linearizable by construction; 2% of writes end with an
unknown outcome). Reported: check time, and as a baseline in the same run the time to
merely pair the events into operations (the floor of any checker), plus the time to
find a violation injected into the same history.

Then the transaction checker (``protocols.check.elle.check_transactions``, Elle's
method) on a ``--txns`` (100 000) transaction history from the same clients, each txn
1-4 micro-ops (reads, appends to list keys, writes to register keys; a key retires
after 64 writes, as Jepsen's workloads rotate keys), run in a serial order at a point
inside each interval (1% end ``info``), so it is strictly serializable; checked at
strict-serializable, beside the time to pair its events, and again with one stale read
planted. ``--skip-linearizability`` runs only this part.
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

from protocols.check import History, check_history, check_transactions
from protocols.check.elle import _txns

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


def make_txn_history(txns: int, clients: int, seed: int) -> History:
    """A strictly serializable history of ``txns`` txns over rotating list and register
    keys: each txn runs atomically at a random point inside its interval."""
    rng = random.Random(seed)
    clock = [0.0] * clients
    active = {"append": [f"l{i}" for i in range(8)], "w": [f"r{i}" for i in range(8)]}
    writes: dict[str, int] = {}
    fresh = [8]
    plans = []
    for i in range(txns):
        c = i % clients
        call = clock[c] + rng.uniform(0, 0.5)
        lin = call + rng.uniform(0, 2)
        ret = lin + rng.uniform(0, 2)
        clock[c] = ret
        ops: list[list[Any]] = []
        for _ in range(rng.randint(1, 4)):
            model = rng.choice(("append", "w"))
            f = "r" if rng.random() < 0.5 else model
            slot = rng.randrange(8)
            key = active[model][slot]
            if f != "r":
                writes[key] = writes.get(key, 0) + 1
                if writes[key] >= 64:  # retire the key
                    active[model][slot] = f"{key[0]}{fresh[0]}"
                    fresh[0] += 1
            ops.append([f, key, None if f == "r" else i * 10 + len(ops)])
        plans.append((lin, i, c, call, ret, ops))
    state: dict[str, Any] = {}
    done: dict[int, list[list[Any]]] = {}
    unknown = {i for i in range(txns) if rng.random() < 0.01}
    for _lin, i, _c, _call, _ret, ops in sorted(plans):
        after = dict(state)
        out: list[list[Any]] = []
        for op, k, v in ops:
            if op == "r":
                cur = after.get(k)
                out.append(["r", k, list(cur) if isinstance(cur, tuple) else cur])
            else:
                after[k] = (*after.get(k, ()), v) if op == "append" else v
                out.append([op, k, v])
        if i not in unknown or rng.random() < 0.5:
            state = after
        done[i] = out
    moments: list[tuple[float, int, int, int, list[list[Any]]]] = []
    for _lin, i, c, call, ret, ops in plans:
        moments.append((call, 0, i, c, ops))
        moments.append((ret, 1, i, c, ops))
    moments.sort(key=lambda e: (e[0], e[1]))
    h = History()
    open_inv = {}
    for t, done_now, i, c, ops in moments:
        if done_now == 0:
            open_inv[i] = h.invoke(c, "txn", None, ops, t)
        elif i in unknown:
            h.complete(open_inv.pop(i), "info", None, t)
        else:
            h.complete(open_inv.pop(i), "ok", done[i], t)
    return h


def plant_stale_read(history: History) -> History:
    """The last ok read of a register that saw a value reads nil instead."""
    events = list(history.events)
    for idx in range(len(events) - 1, -1, -1):
        e = events[idx]
        if e.type == "ok" and any(f == "r" and k.startswith("r") and v is not None
                                  for f, k, v in e.value):
            ops = [[f, k, None] if f == "r" and k.startswith("r") else [f, k, v]
                   for f, k, v in e.value]
            events[idx] = type(e)(e.type, e.process, e.f, e.key, ops, e.time)
            return History(events)
    raise RuntimeError("no register read to plant a stale read in")


def bench_txn(txns: int, clients: int, seed: int) -> tuple[dict[str, Any], bool]:
    history = make_txn_history(txns, clients, seed)
    micro = sum(len(e.value) for e in history.events if e.type == "invoke")
    t = time.perf_counter()
    _txns(history, "mixed")
    pair_s = time.perf_counter() - t
    t = time.perf_counter()
    result = check_transactions(history, level="strict-serializable")
    check_s = time.perf_counter() - t
    t = time.perf_counter()
    broken = check_transactions(plant_stale_read(history), level="strict-serializable")
    broken_s = time.perf_counter() - t
    rows = {"transactions": txns, "micro_ops": micro, "clients": clients,
            "pair_events_s": pair_s, "check_s": check_s,
            "verdict": "valid" if result.valid else "NOT valid",
            "dependency_edges": result.edges, "check_per_txn_us": check_s / txns * 1e6,
            "planted_check_s": broken_s, "planted_found": ", ".join(broken.names()),
            "ratio_check_to_pairing": check_s / pair_s}
    return rows, result.valid and not broken.valid


def print_rows(title: str, rows: dict[str, Any]) -> None:
    table = Table(title=title)
    table.add_column("measure")
    table.add_column("value")
    for k, v in rows.items():
        table.add_row(k, f"{v:.3f}" if isinstance(v, float) else str(v))
    console.print(table)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ops", type=int, default=10_000)
    parser.add_argument("--keys", type=int, default=50)
    parser.add_argument("--clients", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--txns", type=int, default=100_000,
                        help="transactions in the transaction checker's history")
    parser.add_argument("--skip-linearizability", action="store_true")
    args = parser.parse_args()
    txn_rows, txn_ok = bench_txn(args.txns, args.clients, args.seed)
    print_rows("transaction checker (Elle: list-append + rw-register, strict-serializable)",
               txn_rows)
    if args.skip_linearizability:
        if args.json:
            print(json.dumps(txn_rows, indent=2))
        return 0 if txn_ok else 1
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
    print_rows("linearizability checker (P-compositional Wing-Gong + memoisation)", rows)
    if args.json:
        print(json.dumps({"linearizability": rows, "transactions": txn_rows}, indent=2))
    ok = result.verdict == "ok" and broken.verdict == "violation"
    return 0 if ok and txn_ok else 1


if __name__ == "__main__":
    sys.exit(main())
