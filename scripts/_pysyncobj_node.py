"""One PySyncObj node for scripts/bench_raft.py (the baseline Python Raft library).

Run three of these on loopback. The one that becomes leader offers ``--in-flight``
concurrent replicated calls for ``--seconds`` (each callback issues the next call, like a
closed-loop client at the leader), then writes {"ops", "seconds", "p50_ms", "p99_ms"} as
JSON to ``--out``. PySyncObj never fsyncs; that is part of what we compare against.
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time

from pysyncobj import SyncObj, SyncObjConf, replicated


class Store(SyncObj):  # type: ignore[misc]
    def __init__(self, self_addr: str, partners: list[str], conf: SyncObjConf) -> None:
        super().__init__(self_addr, partners, conf)
        self.data: dict[str, str] = {}

    @replicated  # type: ignore[untyped-decorator]
    def put(self, key: str, value: str) -> None:
        self.data[key] = value


def run_load(store: Store, in_flight: int, seconds: float) -> dict[str, float]:
    latencies: list[float] = []
    lock = threading.Lock()
    end = time.monotonic() + seconds
    done = threading.Event()
    outstanding = [0]

    def issue(i: int) -> None:
        started = time.monotonic()

        def callback(result: object, error: object) -> None:
            now = time.monotonic()
            with lock:
                if error == 0:  # FAIL_REASON.SUCCESS
                    latencies.append(now - started)
                outstanding[0] -= 1
                again = now < end
                if again:
                    outstanding[0] += 1
                elif outstanding[0] == 0:
                    done.set()
            if again:
                issue(i + in_flight)

        store.put(f"k{i % 1000}", f"v{i}", callback=callback)

    t0 = time.monotonic()
    with lock:
        outstanding[0] = in_flight
    for i in range(in_flight):
        issue(i)
    done.wait(seconds + 30)
    elapsed = time.monotonic() - t0
    latencies.sort()
    n = len(latencies)
    return {
        "ops": n,
        "seconds": elapsed,
        "ops_per_s": n / elapsed,
        "p50_ms": latencies[n // 2] * 1000 if n else float("nan"),
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000 if n else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--self", dest="self_addr", required=True)
    parser.add_argument("--partners", required=True)
    parser.add_argument("--in-flight", type=int, default=1)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--batch", choices=["on", "off"], default="on")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    conf = SyncObjConf(appendEntriesUseBatch=args.batch == "on", dynamicMembershipChange=False)
    store = Store(args.self_addr, args.partners.split(","), conf)
    deadline = time.monotonic() + 30
    while store._getLeader() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if store._isLeader():
        result = run_load(store, args.in_flight, args.seconds)
        tmp = args.out + ".tmp"
        with open(tmp, "w") as f:
            json.dump(result, f)
        os.replace(tmp, args.out)
    else:
        wait_until = time.monotonic() + args.seconds + 40
        while not os.path.exists(args.out) and time.monotonic() < wait_until:
            time.sleep(0.1)
    store.destroy()


if __name__ == "__main__":
    main()
