"""With the cluster's event_log on, the shared shell stamps every peer message with a
vector clock and a message id and logs it: each receive pairs with its send, and the
receiver's clock is past the sender's (Fidge/Mattern). The simulator writes the same log."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from cluster.diagrams import wall_operations, write_diagrams
from cluster.runner import LocalCluster
from cluster.workload import KvWorkload
from protocols.kv.client import KvClient
from protocols.registry import load_sim
from protocols.sim.world import World
from tests.check.test_spacetime_chromium import chromium, load

__all__ = ["chromium"]  # the fixture, imported for this module's tests

Factory = Callable[..., Awaitable[LocalCluster]]


def check_log(events: list[dict[str, Any]]) -> tuple[int, int]:
    sends = {e["mid"]: e for e in events if e["kind"] == "send"}
    recvs = [e for e in events if e["kind"] == "recv"]
    for r in recvs:
        s = sends[r["mid"]]  # every receive has its send
        assert s["peer"] == r["node"] and r["peer"] == s["node"]
        assert all(r["vc"].get(k, 0) >= v for k, v in s["vc"].items()), (s, r)
        assert r["vc"][r["node"]] > s["vc"].get(r["node"], 0)
    last: dict[str, int] = {}
    for e in events:
        if "vc" in e:
            own = e["vc"][e["node"]]
            assert own > last.get(e["node"], 0), "a node's own entry only grows"
            last[e["node"]] = own
    return len(sends), len(recvs)


async def test_nodes_log_stamped_messages(cluster: Factory, tmp_path: Path) -> None:
    c = await cluster("raft", nodes=3, event_log=True)
    await c.wait_for_leader()
    async with KvClient(c.client_addresses, deadline_s=10) as kv:
        for i in range(20):
            await kv.put("k", str(i))
    await c.stop()
    events = []
    for n in c.ids:
        lines = (c.dir / f"events.{n}.jsonl").read_text().splitlines()
        node_events = [json.loads(line) for line in lines if line]
        assert node_events[0]["kind"] == "start" and node_events[-1]["kind"] == "stop"
        events += node_events
    assert any(e["kind"] == "state" and e["role"] == "leader" for e in events)
    sends, recvs = check_log(events)
    assert recvs > 40 and sends >= recvs * 0.9


def test_the_simulator_writes_the_same_log() -> None:
    w = World(load_sim("raft"), 3, seed=4, event_log=True)
    w.run_for(3000)
    w.crash("n2")
    w.run_for(500)
    assert w.event_log is not None
    _, recvs = check_log(w.event_log)
    assert recvs > 50
    assert {"t": 3.0, "node": "n2", "kind": "stop"} in w.event_log


async def test_a_real_run_becomes_a_space_time_diagram_a_browser_loads(
        cluster: Factory, chromium: str, tmp_path: Path) -> None:
    """Three Raft nodes, clients, a partition of the leader: the diagram of that run, in
    headless Chromium, has a lane per node, the messages, the fault and the operations."""
    c = await cluster("raft", nodes=3, event_log=True)
    leader = await c.wait_for_leader()
    workload = KvWorkload(c.client_addresses, clients=2, keys=2, seed=1,
                          op_deadline_s=3.0, attempt_timeout_s=0.5)

    async def fault() -> None:
        await asyncio.sleep(0.5)  # the fault's start within the run
        await c.nemesis.isolate(leader)
        await asyncio.sleep(1.5)
        await c.nemesis.heal()

    await asyncio.gather(workload.run(3.0), fault())
    faults = c.nemesis.intervals()
    await c.stop()
    drawn = write_diagrams(c.dir, faults=faults, title="raft under a partition",
                           operations=wall_operations(workload.history, workload.t0))
    assert drawn is not None
    dom, text, console = load(chromium, drawn[0], tmp_path)
    assert console == "", console
    assert 'data-ready="1"' in text
    lanes = {a.get("data-node") for t, a in dom.tags if "lane" in a.get("class", "").split()}
    assert {"n1", "n2", "n3"} <= lanes
    arrows = [a for t, a in dom.tags if "msg" in a.get("class", "").split()]
    assert len(arrows) > 50
    others = ",".join(sorted(n for n in c.ids if n != leader))
    assert f"partition {leader} | {others} (blackhole)" in text, "the fault says which"
    assert any("op" in a.get("class", "").split() for t, a in dom.tags)
    assert (c.dir / "spacetime.shiviz.log").read_text().count("\n") > 100


def test_a_simulated_run_draws_the_same_way_and_logging_changes_nothing(tmp_path: Path
                                                                       ) -> None:
    from protocols.simulate import run_once, write_spacetime

    plain = run_once("raft", 7, nodes=3, duration_ms=3000)
    logged = run_once("raft", 7, nodes=3, duration_ms=3000, event_log=True)
    assert logged.trace_hash == plain.trace_hash, "the event log must not change the run"
    write_spacetime(logged, str(tmp_path))
    page = (tmp_path / "spacetime.html").read_text()
    assert page.count('class="lane"') == 3 and 'class="op' in page
    assert (tmp_path / "spacetime.shiviz.log").stat().st_size > 1000
