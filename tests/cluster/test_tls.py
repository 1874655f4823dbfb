"""Mutual TLS on real processes (issue #32, point 7): a cluster started with ``tls=True``
(``cluster up --tls``) serves the Raft KV chaos test through its proxies; a client with
no certificate, or one from another CA, is refused at once in one clear line and changes
nothing; a rogue node process with another CA's certificate gets no message through
while the cluster keeps serving; the CLI drives a TLS cluster from its state file."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from cluster.procs import kill_group, spawn
from cluster.pytest_plugin import wait_until
from cluster.runner import LocalCluster
from protocols._pb import admin_pb2, admin_pb2_grpc, raft_pb2
from protocols.common.errors import Unavailable
from protocols.kv.client import KvClient
from protocols.runtime.tls import CertificateAuthority, TlsFiles, TlsMaterial, open_channel
from tests.support.chaos import ALL_FAULTS, chaos_run, commit_indexes

Factory = Callable[..., Awaitable[LocalCluster]]


async def test_a_tls_cluster_serves_the_kv_chaos_test(cluster: Factory, tmp_path: Path) -> None:
    """Seed 5's faults: a pause, a kill -9 and restart (the new process shakes hands
    anew with everyone), an isolation; 8 s, through the proxies."""
    c = await cluster("raft", nodes=3, tls=True, event_log=True, seed=5)
    assert c.client_tls is not None
    await chaos_run(c, 5, 8.0, tmp_path, ALL_FAULTS)


async def test_rogue_clients_are_refused_in_one_line_and_change_nothing(
        cluster: Factory, tmp_path: Path) -> None:
    c = await cluster("raft", nodes=3, tls=True)
    assert c.client_tls is not None
    async with KvClient(c.client_addresses, tls=c.client_tls) as kv:
        await kv.put("k", "v1")
    async def settled() -> dict[str, int] | None:
        seen = await commit_indexes(c)
        return seen if len(set(seen.values())) == 1 else None

    before = await wait_until(settled, 10, what="every node at one commit index")
    other = CertificateAuthority.create(tmp_path / "other")
    foreign = other.issue("client", tmp_path / "other", server=False)
    rogues: dict[str, tuple[TlsMaterial | None, str]] = {
        "no certificate": (None, "requires mutual TLS (its cluster runs with --tls) and "
                                 "this client has no certificate"),
        # it knows the cluster's CA (a public certificate), but cannot get it to sign
        "another CA's certificate": (
            TlsFiles(c.client_tls.files.ca, foreign.cert, foreign.key).load("rogue"),
            f"refused this client's certificate ({foreign.cert}, CN=client): it was not "
            "signed by the cluster's CA"),
        "trusting another CA": (foreign.load("rogue"),
                                "showed a certificate this client does not trust"),
    }
    for what, (tls, says) in rogues.items():
        started = time.monotonic()
        with pytest.raises(Unavailable) as refused:
            async with KvClient(c.client_addresses, tls=tls, deadline_s=10) as kv:
                await kv.put("k", "rogue")
        message = str(refused.value)
        print(f"{what}: {message}")
        assert says in message and "(every node refused)" in message, message
        assert "\n" not in message and refused.value.refused, message
        assert time.monotonic() - started < 5.0, f"{what}: not refused at once"
    assert await commit_indexes(c) == before  # nothing reached any log
    async with KvClient(c.client_addresses, tls=c.client_tls) as kv:
        assert await kv.get("k") == "v1"


async def test_a_rogue_node_gets_no_message_through(cluster: Factory, tmp_path: Path) -> None:
    """A node process claiming to be n2, with a certificate for "n2" from another CA. It
    trusts the cluster's CA (a public file), so only the real nodes' checks can stop it:
    its pings to n1 and n3 all fail and none is counted there, while the real n2's get
    through; the cluster keeps serving."""
    c = await cluster("raft", nodes=3, tls=True)
    assert c.client_tls is not None
    other = CertificateAuthority.create(tmp_path / "rogue-ca")
    fake = other.issue("n2", tmp_path / "rogue-ca", server=True)
    rogue_address = f"127.0.0.1:{c.node('n2').address.rpartition(':')[2]}"
    await c.kill("n2")  # the rogue takes the real n2's place, port and all
    config = tmp_path / "rogue.json"
    config.write_text(json.dumps({
        "protocol": "raft",
        "nodes": {n: {"address": rogue_address if n == "n2" else c.node(n).address,
                      "data_dir": str(tmp_path / f"rogue-{n}")} for n in c.ids},
        "tls": {"ca": c.client_tls.files.ca,
                "nodes": {n: {"cert": fake.cert, "key": fake.key} for n in c.ids}}}))
    rogue = spawn([sys.executable, "-m", "protocols", "--config", str(config),
                   "--node-id", "n2"], tmp_path / "rogue.log", owned=True)
    # to reach the rogue's own admin: trust its CA, show the cluster's client certificate
    to_rogue = TlsFiles(fake.ca, c.client_tls.files.cert, c.client_tls.files.key).load("t")
    probe = admin_pb2.ProbeRequest(peers=["n1", "n3"], count=3, deadline_ms=1000)
    try:
        async with open_channel(rogue_address, to_rogue, "n2") as ch:
            await wait_until(lambda: _serving(ch), 30, what="the rogue node serving")
            tried = await admin_pb2_grpc.AdminStub(ch).ProbePeers(probe, timeout=30)
    finally:
        kill_group(rogue.pid, signal.SIGKILL)
        rogue.wait()
    assert [(p.peer, p.ok, p.failed) for p in tried.peers] == [("n1", 0, 3), ("n3", 0, 3)]
    for n in ("n1", "n3"):
        seen = await c.status(n)
        assert seen is not None and "n2" not in seen.pings_received, seen
    await c.restart("n2")  # the real n2: the same pings get through, and are counted
    real = await c.admin_call("n2", "ProbePeers", probe)
    assert [(p.peer, p.ok) for p in real.peers] == [("n1", 3), ("n3", 3)]
    for n in ("n1", "n3"):
        seen = await c.status(n)
        assert seen is not None and seen.pings_received["n2"] == 3
    async with KvClient(c.client_addresses, tls=c.client_tls) as kv:
        await kv.put("after", "rogue")
        assert await kv.get("after") == "rogue"


async def test_a_node_added_to_a_tls_cluster_gets_a_certificate_from_its_ca(
        cluster: Factory) -> None:
    """``add_node`` on a TLS cluster: the CA signs the newcomer's certificate, so it and
    the members take each other's pings, through the proxies, both ways."""
    c = await cluster("bare", nodes=2, tls=True)
    n = await c.add_node()
    probe = admin_pb2.ProbeRequest(peers=["n1", "n2"], count=2, deadline_ms=2000)
    out = await c.admin_call(n, "ProbePeers", probe)
    assert [(p.peer, p.ok) for p in out.peers] == [("n1", 2), ("n2", 2)], out
    back = await c.admin_call("n1", "ProbePeers",
                              admin_pb2.ProbeRequest(peers=[n], count=2, deadline_ms=2000))
    assert [(p.peer, p.ok) for p in back.peers] == [(n, 2)], back
    await c.remove_node(n)
    config = json.loads((c.dir / "cluster.json").read_text())
    assert sorted(config["tls"]["nodes"]) == ["n1", "n2"]


async def _serving(ch: grpc.aio.Channel) -> bool:
    try:
        reply = await health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(),
                                                           timeout=1.0)
    except grpc.aio.AioRpcError:
        return False
    return bool(reply.status == health_pb2.HealthCheckResponse.SERVING)


def _cli(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cluster", "--dir", str(directory), *args],
                          capture_output=True, text=True, timeout=90,
                          env={**os.environ, "COLUMNS": "200"})


def test_the_cli_drives_a_tls_cluster_with_its_certificate(tmp_path: Path) -> None:
    """``up --tls``, then commands in other processes that only have the state file:
    ``status`` gets every node's answer and ``restart`` waits for the new process's
    health, both over TLS with the client certificate the state file names; the Raft
    operator's CLI, which reads the cluster file, finds the certificate beside the CA."""
    d = tmp_path / "cli"
    try:
        up = _cli(d, "up", "raft", "-n", "3", "--tls")
        assert up.returncode == 0, up.stdout + up.stderr
        assert "mutual TLS" in up.stdout
        state = json.loads((d / "state.json").read_text())
        assert state["tls"] == {"ca": str(d / "tls" / "ca.pem"),
                                "cert": str(d / "tls" / "client.pem"),
                                "key": str(d / "tls" / "client.key")}
        leader = asyncio.run(LocalCluster.attach(d).wait_for_leader())
        target = "n2" if leader != "n2" else "n3"  # whoever won the election, another
        raft = subprocess.run([sys.executable, "-m", "protocols.raft", "transfer", target,
                               "--config", str(d / "cluster.json")],
                              capture_output=True, text=True, timeout=90)
        assert raft.stdout.strip() == f"leadership transferred to {target}", \
            raft.stdout + raft.stderr
        restart = _cli(d, "restart", "n3")
        assert restart.returncode == 0, restart.stdout + restart.stderr
        status = _cli(d, "status")
        assert status.returncode == 0, status.stdout + status.stderr
        assert "no answer" not in status.stdout, status.stdout
        assert status.stdout.count("raft") >= 1 and "leader" in status.stdout, status.stdout
    finally:
        down = _cli(d, "down")
    assert down.returncode == 0, down.stdout + down.stderr


async def test_a_client_certificate_cannot_speak_for_a_node(cluster: Factory) -> None:
    """Signed by the cluster's CA is not enough to send peer messages: the certificate
    must name the node the caller claims to be. The runner's client certificate, calling
    as "n2", is refused, and n1's term does not move."""
    c = await cluster("raft", nodes=3, tls=True)
    assert c.client_tls is not None
    await c.wait_for_leader()
    before = await c.status("n1")
    assert before is not None
    vote = raft_pb2.RequestVote(term=before.epoch + 100, candidate_id="n2", last_log_index=0,
                                last_log_term=0)
    async with open_channel(c.node("n1").address, c.client_tls, "n1") as ch:
        call = ch.unary_unary("/protocols.raft.v1.Raft/RequestVote",
                              request_serializer=lambda m: m.SerializeToString(),
                              response_deserializer=raft_pb2.RequestVoteReply.FromString)
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await call(vote, metadata=(("x-node-id", "n2"),), timeout=5)
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
    details = str(e.value.details())
    assert "'client'" in details and "not the sender it claims ('n2')" in details, details
    after = await c.status("n1")
    assert after is not None and after.epoch < before.epoch + 100
