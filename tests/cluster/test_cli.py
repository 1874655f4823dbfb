"""``python -m cluster`` from other shells: a cluster started by ``up`` in one process is
driven by later invocations that only have its ``state.json`` (no child handles)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cluster.procs import wait_gone
from cluster.runner import LocalCluster, cluster_processes
from protocols._pb import admin_pb2
from protocols.common.errors import InvalidRequest
from protocols.kv.client import KvClient


def run_cli(directory: Path, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cluster", "--dir", str(directory), *args],
                          capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "COLUMNS": "80"})


def state_of(directory: Path) -> dict[str, Any]:
    state: dict[str, Any] = json.loads((directory / "state.json").read_text())
    return state


def nemesis_log(directory: Path) -> list[tuple[str, str]]:
    """(action, fault) of every fault event the CLI logged."""
    path = directory / "nemesis.jsonl"
    events = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [(e["action"], e["fault"]) for e in events if "fault" in e]


async def node_pid(directory: Path, node: str) -> int:
    """The pid the node itself reports (Admin.Status), straight to its admin address."""
    import grpc.aio

    from protocols._pb import admin_pb2_grpc

    address = state_of(directory)["nodes"][node]["address"]
    async with grpc.aio.insecure_channel(address) as ch:
        st = await admin_pb2_grpc.AdminStub(ch).Status(admin_pb2.StatusRequest(), timeout=10)
    return int(st.pid)


async def test_cli_restart_replaces_a_live_node_and_a_paused_one_keeping_their_state(
        tmp_path: Path) -> None:
    """Issue #31: ``cluster restart`` of a running node used to leave it running (the
    attached runner thought it dead) and spawn a second process that died on the data
    dir's lock, while the command said "done". A one-node Raft cluster keeps its data
    only on its own disk, so a value read after the restart proves the state was kept."""
    d = tmp_path / "cli"
    try:
        up = run_cli(d, "up", "raft", "-n", "1")
        assert up.returncode == 0, up.stdout + up.stderr
        state = state_of(d)
        client = {"n1": state["nodes"]["n1"]["client_address"]}
        async with KvClient(client, deadline_s=20) as kv:
            await kv.put("x", "kept")
        for how in ("live", "paused"):
            old = state_of(d)["nodes"]["n1"]["pid"]
            if how == "paused":
                assert run_cli(d, "pause", "n1").returncode == 0
            restart = run_cli(d, "restart", "n1")
            assert restart.returncode == 0, restart.stdout + restart.stderr
            new = state_of(d)["nodes"]["n1"]["pid"]
            assert new != old, f"{how}: the restart kept pid {old}"
            assert old not in cluster_processes(d), f"{how}: the old process {old} still runs"
            assert await node_pid(d, "n1") == new, f"{how}: another process answers"
            nodes = [p for p in cluster_processes(d) if p != state["proxy_pid"]]
            assert nodes == [new], f"{how}: node processes {nodes}, expected only {new}"
            async with KvClient(client, deadline_s=20) as kv:
                assert await kv.get("x") == "kept", f"{how}: the state was lost"
        status = run_cli(d, "status")
        assert status.returncode == 0 and "commit_index=" in status.stdout, status.stdout
        assert run_cli(d, "kill", "n1").returncode == 0
        refused = run_cli(d, "pause", "n1")
        assert refused.returncode == 2 and "n1 is not running" in refused.stdout, refused
        assert "no answer" in run_cli(d, "status").stdout
        log = nemesis_log(d)
        assert log == [("start", "kill-n1"), ("end", "kill-n1"),
                       ("start", "pause-n1"), ("end", "pause-n1"),
                       ("start", "kill-n1"), ("end", "kill-n1"),
                       ("start", "kill-n1")], log
    finally:
        down = run_cli(d, "down")
    assert down.returncode == 0, down.stdout
    assert cluster_processes(d) == []


async def test_a_recorded_pid_another_process_now_has_is_never_signalled(
        tmp_path: Path) -> None:
    """A cluster attached from its state file knows its nodes by pid; once a node died,
    the OS may give that pid to anyone. ``running`` then says no, and kill, restart and
    pause never signal that process (a group leader here, as a node is: a stray killpg
    would reach it)."""
    other = subprocess.Popen(["sleep", "300"], start_new_session=True)
    try:
        d = tmp_path / "c"
        d.mkdir()
        (d / "state.json").write_text(json.dumps({
            "protocol": "bare", "dir": str(d), "toxiproxy_url": "", "external": False,
            "direct": True, "proxy_pid": 0, "links": {}, "ports": [],
            "nodes": {"n1": {"address": "127.0.0.1:1", "client_address": "127.0.0.1:1",
                             "data_dir": str(d / "n1"), "log": str(d / "n1.log"),
                             "pid": other.pid, "paused": False}}}))
        c = LocalCluster.attach(d)
        assert not c.running("n1")
        with pytest.raises(InvalidRequest, match="node n1 is not running"):
            c.pause("n1")
        await c.kill("n1")  # nothing to kill: returns at once
        assert other.poll() is None, "the unrelated process was signalled"
        assert wait_gone([other.pid], 0) == [other.pid]
    finally:
        other.kill()
        other.wait()


def test_cli_roles_and_nodes_that_come_and_go(tmp_path: Path) -> None:
    """``up --role/--node-option``, ``add-node``, ``remove-node`` from other shells: the
    roles shown by ``status``, the new node in the state file and served, the removed
    one gone from both with its data, and ``down`` stopping everything, the newcomer
    too."""
    d = tmp_path / "cli"
    toy = "tests.toy.protocol:ENTRY"
    bad = run_cli(d, "up", toy, "-n", "3", "--role", "n1=witness")
    assert bad.returncode == 2 and "node n1: protocol 'toy' has no role 'witness'" in \
        bad.stdout.replace("\n", " "), bad.stdout
    assert not d.exists() or cluster_processes(d) == []
    try:
        up = run_cli(d, "up", toy, "-n", "3", "--role", "n2=primary",
                     "--node-option", "n3:resend_ticks=5")
        assert up.returncode == 0, up.stdout + up.stderr
        config = json.loads((d / "cluster.json").read_text())
        assert config["nodes"]["n3"]["options"] == {"resend_ticks": 5}
        status = run_cli(d, "status").stdout
        assert "leader [primary]" in status and status.count("backup") == 2, status
        added = run_cli(d, "add-node", "--role", "backup")
        assert added.returncode == 0 and "add-node n4: serving" in added.stdout, added.stdout
        assert list(state_of(d)["nodes"]) == ["n1", "n2", "n3", "n4"]
        refused = run_cli(d, "add-node", "--role", "primary")
        assert refused.returncode == 2 and "n2, n5 are all given" in \
            refused.stdout.replace("\n", " "), refused.stdout
        removed = run_cli(d, "remove-node", "n1")
        assert removed.returncode == 0, removed.stdout
        assert list(state_of(d)["nodes"]) == ["n2", "n3", "n4"] and not (d / "n1").exists()
        status = run_cli(d, "status", "--details").stdout
        assert LocalCluster.attach(d).ids == ["n2", "n3", "n4"]
        assert "n4" in status and "backup [backup]" in status, status
        assert [e["action"] for e in map(json.loads, (d / "nemesis.jsonl").read_text()
                                         .splitlines()) if e["action"] in ("join", "leave")
                ] == ["join", "leave"]
    finally:
        down = run_cli(d, "down")
    assert down.returncode == 0, down.stdout
    assert cluster_processes(d) == []


def test_cli_groups_and_targeted_faults(tmp_path: Path) -> None:
    """``up --group``, ``create-group``/``remove-group`` and ``crash-at`` from other
    shells: the groups shown by ``status``, a bad group refused before anything starts,
    a node exiting at its crash point."""
    d = tmp_path / "cli"
    toy = "tests.toy.protocol:ENTRY"
    bad = run_cli(d, "up", toy, "-n", "3", "--group", "g2=nope")
    assert bad.returncode == 2 and "unknown protocol 'nope'" in bad.stdout.replace("\n", " ")
    try:
        up = run_cli(d, "up", toy, "-n", "3", "--group", f"g2={toy}@n1,n2")
        assert up.returncode == 0, up.stdout + up.stderr
        assert run_cli(d, "create-group", "g3", toy).returncode == 0
        status = run_cli(d, "status").stdout
        assert "groups" in status and "n1 g2" in status and "n3 g3" in status, status
        assert "n3 g2" not in status
        assert run_cli(d, "remove-group", "g3").returncode == 0
        assert "g3" not in run_cli(d, "status").stdout
        assert run_cli(d, "crash-at", "n2", "before_send:Nope").returncode == 0
        wrong = run_cli(d, "crash-at", "n2", "sometime")
        assert wrong.returncode == 2 and "MOMENT:TypeName" in wrong.stdout.replace("\n", " ")
    finally:
        down = run_cli(d, "down")
    assert down.returncode == 0, down.stdout
    assert cluster_processes(d) == []
