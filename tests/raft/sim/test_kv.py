"""MIT 6.5840 lab 4B/4C (the replicated KV service on Raft), under their names, on the
simulator: KV clients with sessions, the random nemesis restricted to the faults each
lab test uses, every Raft invariant after every event, and the recorded history checked
linearizable (their checker is Porcupine; ours is protocols.check). The snapshot
variants run the same with a small snapshot threshold (lab 4C's maxraftstate)."""

from __future__ import annotations

import pytest

from protocols.simulate import run_once

SNAPSHOTS = {"snapshot_threshold": 20, "snapshot_chunk_bytes": 256}

# name -> (servers, clients, nemesis kinds (None: no faults))
SCENARIOS: dict[str, tuple[int, int, tuple[str, ...] | None]] = {
    "basic": (5, 1, None),
    "concurrent": (5, 5, None),
    "unreliable": (5, 5, ("unreliable",)),
    "unreliable_one_key": (5, 5, ("unreliable",)),
    "one_partition": (5, 5, ("partition",)),
    "many_partitions_one_client": (5, 1, ("partition", "isolate")),
    "many_partitions_many_clients": (5, 5, ("partition", "isolate")),
    "persist_one_client": (5, 1, ("crash",)),
    "persist_concurrent": (5, 5, ("crash",)),
    "persist_concurrent_unreliable": (5, 5, ("crash", "unreliable")),
    "persist_partition": (5, 5, ("crash", "partition")),
    "persist_partition_unreliable": (5, 5, ("crash", "partition", "unreliable")),
    "persist_partition_unreliable_linearizable": (7, 15, ("crash", "partition", "isolate",
                                                          "one-way", "unreliable")),
}


def _run(name: str, seed: int, options: dict[str, int] | None = None) -> None:
    servers, clients, kinds = SCENARIOS[name]
    keys = 1 if name.endswith("one_key") else 3
    result = run_once("raft", seed, nodes=servers, clients=clients, keys=keys,
                      duration_ms=5000, nemesis=kinds is not None, nemesis_kinds=kinds,
                      options=options)
    assert result.ok, result.failure
    assert result.verdict == "ok", result.verdict
    done = sum(1 for e in result.history if e.type == "ok")
    assert done >= 20 * clients // 2, f"only {done} operations completed"


@pytest.mark.parametrize("name", sorted(SCENARIOS))
def test_kv(name: str) -> None:
    _run(name, seed=sum(map(ord, name)))


@pytest.mark.parametrize("name", ["concurrent", "persist_concurrent", "persist_partition",
                                  "persist_partition_unreliable_linearizable"])
def test_kv_snapshots(name: str) -> None:
    _run(name, seed=7 + sum(map(ord, name)), options=SNAPSHOTS)
