"""The runner and nemesis on a cluster of bare nodes (before any protocol exists).

Reachability is measured by the nodes themselves: ``Admin.ProbePeers`` makes a node ping
its peers through the same transport and proxies that protocol RPCs use.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cluster.nemesis import random_schedule
from cluster.pytest_plugin import WaitTimeout, wait_until
from cluster.runner import ClusterStartError, LocalCluster, cluster_processes
from protocols._pb import admin_pb2
from protocols.common.errors import ConfigError

Factory = Callable[..., Awaitable[LocalCluster]]
PROBE_DEADLINE_MS = 300


async def reach(c: LocalCluster) -> dict[str, dict[str, bool]]:
    """node -> peer -> could it ping the peer right now."""
    out: dict[str, dict[str, bool]] = {}
    for n in c.ids:
        reply = await c.admin_call(n, "ProbePeers", admin_pb2.ProbeRequest(
            count=1, deadline_ms=PROBE_DEADLINE_MS))
        out[n] = {p.peer: p.ok == 1 for p in reply.peers}
    return out


def expected(c: LocalCluster, blocked: set[tuple[str, str]]) -> dict[str, dict[str, bool]]:
    return {s: {d: (s, d) not in blocked for d in c.ids if d != s} for s in c.ids}


async def wait_reach(c: LocalCluster, want: dict[str, dict[str, bool]],
                     deadline_s: float = 10.0) -> float:
    started = time.monotonic()
    await wait_until(lambda: _matches(c, want), deadline_s, describe=lambda: reach(c),
                     what="reachability")
    return time.monotonic() - started


async def _matches(c: LocalCluster, want: dict[str, dict[str, bool]]) -> bool:
    return await reach(c) == want


async def test_all_nodes_healthy_and_connected(cluster: Factory) -> None:
    c = await cluster("bare", nodes=3)
    for n in c.ids:
        status = await c.status(n)
        assert status is not None and status.node_id == n and status.pid == c.node(n).pid
    await wait_reach(c, expected(c, set()))
    assert len(c.links) == 3 * 2 + 3  # one proxy per directed link, one per client link


@pytest.mark.parametrize("mode", ["blackhole", "refuse"])
async def test_partition_stops_exactly_the_named_traffic_and_heal_restores_it(
        cluster: Factory, mode: str) -> None:
    c = await cluster("bare", nodes=3, rpc_deadline_ms=300)
    await c.nemesis.partition([["n1"], ["n2", "n3"]], mode)
    blocked = {("n1", "n2"), ("n1", "n3"), ("n2", "n1"), ("n3", "n1")}
    await wait_reach(c, expected(c, blocked), deadline_s=5)
    await c.nemesis.heal()
    healed_in = await wait_reach(c, expected(c, set()), deadline_s=5)
    assert healed_in < 5  # gRPC reconnects quickly (low reconnect backoff)


async def test_one_way_partition_is_one_way(cluster: Factory) -> None:
    c = await cluster("bare", nodes=3, rpc_deadline_ms=300)
    await c.nemesis.partition_one_way("n1", "n2")
    await wait_reach(c, expected(c, {("n1", "n2")}), deadline_s=5)
    await c.nemesis.heal()
    await wait_reach(c, expected(c, set()), deadline_s=5)


async def test_ring_and_halves(cluster: Factory) -> None:
    c = await cluster("bare", nodes=5, rpc_deadline_ms=300)
    minority, majority = await c.nemesis.partition_halves(seed=3)
    assert len(minority) == 2 and len(majority) == 3
    group = {n: 0 for n in minority} | {n: 1 for n in majority}
    blocked = {(s, d) for s in c.ids for d in c.ids if s != d and group[s] != group[d]}
    await wait_reach(c, expected(c, blocked), deadline_s=5)
    await c.nemesis.heal()
    await c.nemesis.partition_ring()
    ids = list(c.ids)
    ring = {(ids[i], ids[(i + k) % 5]) for i in range(5) for k in (1, 4)}
    blocked = {(s, d) for s in ids for d in ids if s != d and (s, d) not in ring}
    await wait_reach(c, expected(c, blocked), deadline_s=5)


async def test_latency_is_applied_per_link(cluster: Factory) -> None:
    c = await cluster("bare", nodes=2)
    await c.nemesis.latency(150, links=[("n1", "n2")])
    reply = await c.admin_call("n1", "ProbePeers", admin_pb2.ProbeRequest(count=3))
    assert reply.peers[0].ok == 3 and reply.peers[0].mean_rtt_ms >= 150
    reply = await c.admin_call("n2", "ProbePeers", admin_pb2.ProbeRequest(count=3))
    assert reply.peers[0].mean_rtt_ms < 150
    await c.nemesis.clear_toxics()
    reply = await c.admin_call("n1", "ProbePeers", admin_pb2.ProbeRequest(count=3))
    assert reply.peers[0].mean_rtt_ms < 150


async def test_kill_leaves_the_rest_running_and_restart_keeps_the_data_dir(
        cluster: Factory) -> None:
    c = await cluster("bare", nodes=3, rpc_deadline_ms=300)
    marker = Path(c.node("n3").data_dir) / "marker"
    marker.write_text("kept")
    old_pid = c.node("n3").pid
    await c.kill("n3")
    assert not os.path.exists(f"/proc/{old_pid}/cmdline") or \
        Path(f"/proc/{old_pid}/stat").read_text().split(")")[1].split()[0] == "Z"
    r1 = await c.admin_call("n1", "ProbePeers", admin_pb2.ProbeRequest(count=1, deadline_ms=300))
    assert {p.peer: p.ok for p in r1.peers} == {"n2": 1, "n3": 0}
    await c.restart("n3")
    assert c.node("n3").pid != old_pid
    assert marker.read_text() == "kept"
    await wait_reach(c, expected(c, set()), deadline_s=5)


async def test_pause_stops_answers_and_resume_revives(cluster: Factory) -> None:
    """...and both are in the nemesis log and the state file even when called on the
    cluster directly (as the SWIM demo does), so timelines and diagrams show them."""
    c = await cluster("bare", nodes=2)
    c.pause("n2")
    assert json.loads((c.dir / "state.json").read_text())["nodes"]["n2"]["paused"] is True
    async with grpc.aio.insecure_channel(c.node("n2").address) as ch:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(),
                                                       timeout=0.5)
        assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        c.resume("n2")
        reply = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(),
                                                           timeout=5)
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    assert json.loads((c.dir / "state.json").read_text())["nodes"]["n2"]["paused"] is False
    assert [label for _, _, label in c.nemesis.intervals()] == ["pause-n2"]
    logged = [json.loads(line) for line in (c.dir / "nemesis.jsonl").read_text().splitlines()]
    assert [(e["action"], e.get("fault")) for e in logged if "fault" in e] == [
        ("start", "pause-n2"), ("end", "pause-n2")]


async def test_message_faults_drop_and_duplicate_at_the_configured_rate(
        cluster: Factory) -> None:
    c = await cluster("bare", nodes=2, rpc_deadline_ms=200)
    seed = 11
    print(f"seed={seed}")
    await c.nemesis.drop(0.3, nodes=["n1"], seed=seed)
    # 100 pings: each dropped one waits out the 200 ms deadline (12 s at 200 pings)
    reply = await c.admin_call("n1", "ProbePeers", admin_pb2.ProbeRequest(count=100),
                               timeout_s=120)
    failed = reply.peers[0].failed
    assert 12 <= failed <= 50, failed  # 30% of 100, binomial bounds at about 4 sigma
    before = (await c.status("n2")).pings_received["n1"]  # type: ignore[union-attr]
    assert before == 100 - failed  # a dropped ping never reached n2
    await c.nemesis.clear_message_faults()
    await c.nemesis.duplicate(0.5, nodes=["n1"], seed=seed)
    await c.admin_call("n1", "ProbePeers", admin_pb2.ProbeRequest(count=100), timeout_s=60)

    async def received() -> int:
        return (await c.status("n2")).pings_received["n1"] - before  # type: ignore[union-attr]

    await wait_until(lambda: _at_least(received, 130), 10, describe=received,
                     what="duplicated pings arriving")
    assert await received() <= 170  # 100 + ~50% duplicates


async def _at_least(fn: Callable[[], Awaitable[int]], n: int) -> bool:
    return await fn() >= n


async def test_nothing_left_after_the_context_exits(tmp_path: Path) -> None:
    async with LocalCluster("bare", nodes=3, data_dir=tmp_path / "c") as c:
        assert len(cluster_processes(c.dir)) == 4  # 3 nodes + the proxy server
    assert cluster_processes(tmp_path / "c") == []


async def test_nothing_left_after_the_owner_is_killed(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import asyncio
        from cluster.runner import LocalCluster
        async def main():
            c = LocalCluster("bare", nodes=3, data_dir={str(tmp_path / 'c')!r})
            await c.start()
            print("up", flush=True)
            await asyncio.sleep(600)
        asyncio.run(main())
    """)
    owner = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
    assert owner.stdout is not None and owner.stdout.readline().strip() == b"up"
    assert len(cluster_processes(tmp_path / "c")) == 4
    owner.send_signal(signal.SIGKILL)
    owner.wait()
    await wait_until(lambda: cluster_processes(tmp_path / "c") == [], 10,
                     describe=lambda: cluster_processes(tmp_path / "c"),
                     what="every child gone after the owner's SIGKILL")


async def test_start_failure_names_the_node_and_cleans_up(tmp_path: Path) -> None:
    (tmp_path / "c" / "n2").mkdir(parents=True)
    (tmp_path / "c" / "n2" / "raft.wal").write_bytes(b"not a write-ahead log at all")
    failure = r"(?s)node n2 exited with code 2.*cannot recover"
    with pytest.raises(ClusterStartError, match=failure):
        async with LocalCluster("raft", nodes=2, data_dir=tmp_path / "c"):
            pass
    assert cluster_processes(tmp_path / "c") == []


@pytest.mark.parametrize(("protocol", "options", "error"), [
    ("no-such-protocol", {}, r"unknown protocol 'no-such-protocol'; known: bare, .*raft"),
    ("raft", {"no_such_option": 1}, r"unknown Raft option\(s\) no_such_option"),
    ("bare", {"anything": 1}, r"protocol 'bare' takes no options"),
    ("tests.toy.protocol:NOPE", {}, r"protocol 'tests.toy.protocol:NOPE' is not available"),
])
def test_a_bad_protocol_or_option_fails_before_anything_starts(
        tmp_path: Path, protocol: str, options: dict[str, int], error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        LocalCluster(protocol, nodes=2, data_dir=tmp_path / "c", options=options)
    assert not (tmp_path / "c").exists() and cluster_processes(tmp_path / "c") == []


async def test_wait_until_says_what_it_last_saw() -> None:
    with pytest.raises(WaitTimeout, match=r"counter not met within 0.2s; last seen: 3"):
        await wait_until(lambda: False, 0.2, describe=lambda: 3, what="counter")


def test_random_schedule_is_seeded() -> None:
    nodes = ["n1", "n2", "n3"]
    a = random_schedule(5, nodes, 30)
    assert a == random_schedule(5, nodes, 30) and a != random_schedule(6, nodes, 30)
    assert a and all(f.at_s + f.duration_s <= 30 for f in a)


def run_cli(directory: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cluster", "--dir", str(directory), *args],
                          capture_output=True, text=True, timeout=timeout)


def test_cli_cycle(tmp_path: Path) -> None:
    d = tmp_path / "cli"
    try:
        up = run_cli(d, "up", "bare", "-n", "3")
        assert up.returncode == 0, up.stdout + up.stderr
        assert "n1" in up.stdout and "link" not in up.stderr
        state = json.loads((d / "state.json").read_text())
        assert len(cluster_processes(d)) == 4
        status = run_cli(d, "status")
        assert status.returncode == 0 and status.stdout.count("bare") >= 3
        assert run_cli(d, "partition", "n1", "n2,n3").returncode == 0
        assert run_cli(d, "heal").returncode == 0
        assert run_cli(d, "kill", "n2").returncode == 0
        assert state["nodes"]["n2"]["pid"] not in cluster_processes(d)
        assert run_cli(d, "restart", "n2").returncode == 0
        assert len(cluster_processes(d)) == 4
        assert run_cli(d, "pause", "n3").returncode == 0
        assert run_cli(d, "resume", "n3").returncode == 0
        logs = run_cli(d, "logs", "n1")
        assert "serving on" in logs.stdout
        bad = run_cli(d, "kill", "n9")
        assert bad.returncode == 2 and "unknown node id 'n9'" in bad.stdout
    finally:
        down = run_cli(d, "down")
    assert down.returncode == 0, down.stdout
    assert cluster_processes(d) == []


def test_cli_direct_cycle(tmp_path: Path) -> None:
    """``cluster up --direct`` from the command line: no proxy process, the table says
    clients connect directly, other commands attach from state.json, connection faults
    are refused with the reason and process faults still work."""
    d = tmp_path / "direct"
    try:
        up = run_cli(d, "up", "bare", "-n", "2", "--direct")
        assert up.returncode == 0, up.stdout + up.stderr
        assert "client (direct)" in up.stdout and "proxies on" not in up.stdout
        assert len(cluster_processes(d)) == 2  # the nodes, and no proxy server
        assert run_cli(d, "status").returncode == 0
        refused = run_cli(d, "partition", "n1", "n2")
        assert refused.returncode != 0 and "without proxies" in refused.stdout + refused.stderr
        assert run_cli(d, "kill", "n2").returncode == 0
        assert run_cli(d, "restart", "n2").returncode == 0
    finally:
        down = run_cli(d, "down")
    assert down.returncode == 0, down.stdout
    assert cluster_processes(d) == []


def test_down_after_a_crashed_up_still_cleans_up(tmp_path: Path) -> None:
    d = tmp_path / "crashed"
    up = subprocess.Popen([sys.executable, "-m", "cluster", "--dir", str(d), "up", "bare",
                           "-n", "3"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while len(cluster_processes(d)) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)  # the proxy server and at least one node have started
    up.send_signal(signal.SIGKILL)
    up.wait()
    down = run_cli(d, "down")
    assert down.returncode == 0, down.stdout
    assert cluster_processes(d) == []



async def test_direct_mode_has_no_proxies(tmp_path: Path) -> None:
    """``cluster up --direct``: peers and clients reach nodes at their own addresses (for
    benchmarks); connection faults say why they cannot work, process faults still do."""
    async with LocalCluster("bare", nodes=2, data_dir=tmp_path / "c", direct=True) as c:
        assert c.toxi is None and c.proxy_pid == 0
        assert c.client_addresses == c.admin_addresses
        assert c.links[("n1", "n2")] == c.node("n2").address
        with pytest.raises(ConfigError, match="without proxies"):
            await c.nemesis.partition([["n1"], ["n2"]])
        await c.nemesis.kill("n2")
        await c.nemesis.restart("n2")
        await c.wait_healthy("n2")
    assert cluster_processes(tmp_path / "c") == []
