"""Siblings against last-write-wins (DeCandia et al., SOSP 2007, §4.4; Kingsbury,
"Jepsen: Cassandra", 2013), on the ``set-rmw`` workload: every add reads the key's set
and writes it back whole, each key written by one client only.

* last-write-wins with the nodes' clocks in step loses nothing here: one writer per
  key, and each write's timestamp is later than the one it read;
* last-write-wins with one node's clock 2 s behind loses acknowledged adds: a write that
  node coordinates is stamped earlier than the write it read, and the older one wins
  (the set-full checker names each lost element);
* siblings under the same skew lose nothing: a write covers what its context read,
  whatever any clock says.
"""

from __future__ import annotations

from typing import Any

from protocols.dynamo.sim import ADAPTER, SetFullWorkload
from protocols.sim.world import World

# n4 owns k0, k1 and k2 (their top 3 on the ring of n1..n5, 64 vnodes each) without being
# the first owner of any: it coordinates the writes that clients send it, between the
# writes the others coordinate
SKEWED = {"n4": {"clock_offset_ms": -2000}}


def _run(seed: int, node_options: dict[str, Any] | None, **options: Any) -> Any:
    w = World(ADAPTER, 5, seed, options=options, node_options=node_options)
    first = w.core("n1")
    assert all("n4" in first.owners(f"k{i}")[1:] for i in range(3))  # type: ignore[attr-defined]
    load = SetFullWorkload(w, clients=3, keys=3, stop_at_ms=4000, rmw=True)
    load.start()
    w.run_for(4000)
    w.run_until(lambda: load.idle, 60_000)
    return load.verdict()


def test_lww_with_clocks_in_step_loses_nothing_with_one_writer_per_key() -> None:
    v = _run(1, None, resolve="lww")
    assert v.status == "ok", v.summary
    assert " 0 lost" in v.summary


def test_lww_with_a_clock_behind_loses_acknowledged_writes_and_the_checker_names_them(
) -> None:
    v = _run(1, SKEWED, resolve="lww")
    assert v.status == "violation", v.summary
    assert " 0 lost" not in v.summary and "lost" in v.summary


def test_siblings_under_the_same_skew_lose_nothing() -> None:
    v = _run(1, SKEWED)
    assert v.status == "ok", v.summary
    assert " 0 lost" in v.summary
