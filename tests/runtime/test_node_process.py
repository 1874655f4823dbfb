"""A real node process: healthy through the gRPC health service, answering Admin, stopped
by SIGTERM with exit code 0 and nothing left behind; bad starts fail clearly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from protocols._pb import admin_pb2, admin_pb2_grpc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(tmp_path: Path, n: int = 2, protocol: str = "bare") -> Path:
    nodes = {f"n{i}": {"address": f"127.0.0.1:{free_port()}", "data_dir": str(tmp_path / f"n{i}")}
             for i in range(1, n + 1)}
    path = tmp_path / "cluster.json"
    path.write_text(json.dumps({"protocol": protocol, "nodes": nodes, "tick_ms": 10}))
    return path


def start(config: Path, node_id: str, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "protocols", "--config", str(config), "--node-id", node_id],
        stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
    )


def address_of(config: Path, node_id: str) -> str:
    return str(json.loads(config.read_text())["nodes"][node_id]["address"])


def wait_serving(address: str, proc: subprocess.Popen[bytes], log: Path,
                 deadline_s: float = 20.0) -> None:
    end = time.monotonic() + deadline_s
    last = "no answer yet"
    with grpc.insecure_channel(address) as ch:
        stub = health_pb2_grpc.HealthStub(ch)
        while time.monotonic() < end:
            if proc.poll() is not None:
                raise AssertionError(f"node exited with {proc.returncode}: {log.read_text()}")
            try:
                status = stub.Check(health_pb2.HealthCheckRequest(), timeout=0.5).status
                if status == health_pb2.HealthCheckResponse.SERVING:
                    return
                last = health_pb2.HealthCheckResponse.ServingStatus.Name(status)
            except grpc.RpcError as e:
                last = e.code().name
            time.sleep(0.05)
    raise AssertionError(f"{address} not SERVING after {deadline_s}s (last: {last}): "
                         f"{log.read_text()[-2000:]}")


def processes_in_group(pgid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(entry))
    return found


@pytest.fixture
def two_nodes(tmp_path: Path) -> Iterator[tuple[Path, dict[str, subprocess.Popen[bytes]]]]:
    config = write_config(tmp_path)
    procs = {n: start(config, n, tmp_path / f"{n}.log") for n in ("n1", "n2")}
    try:
        for n, p in procs.items():
            wait_serving(address_of(config, n), p, tmp_path / f"{n}.log")
        yield config, procs
    finally:
        for p in procs.values():
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait()


def test_node_is_healthy_answers_admin_and_reaches_its_peer(
    two_nodes: tuple[Path, dict[str, subprocess.Popen[bytes]]],
) -> None:
    config, procs = two_nodes
    with grpc.insecure_channel(address_of(config, "n1")) as ch:
        admin = admin_pb2_grpc.AdminStub(ch)
        status = admin.Status(admin_pb2.StatusRequest(), timeout=5)
        assert (status.node_id, status.protocol, status.pid) == ("n1", "bare", procs["n1"].pid)
        probe = admin.ProbePeers(admin_pb2.ProbeRequest(count=3), timeout=10)
        assert [(p.peer, p.ok, p.failed) for p in probe.peers] == [("n2", 3, 0)]
        with pytest.raises(grpc.RpcError) as err:
            admin.ProbePeers(admin_pb2.ProbeRequest(peers=["n9"]), timeout=5)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "peers[0]: unknown node id 'n9'" in (err.value.details() or "")
        # server reflection lists the services, so grpcurl works against any node
        refl = reflection_pb2_grpc.ServerReflectionStub(ch)
        reply = next(refl.ServerReflectionInfo(iter([
            reflection_pb2.ServerReflectionRequest(list_services="")]), timeout=5))
        names = {s.name for s in reply.list_services_response.service}
        assert {"protocols.admin.v1.Admin", "grpc.health.v1.Health"} <= names
    with grpc.insecure_channel(address_of(config, "n2")) as ch:
        admin = admin_pb2_grpc.AdminStub(ch)
        status = admin.Status(admin_pb2.StatusRequest(), timeout=5)
        assert status.pings_received["n1"] == 3
        load = admin.Load(admin_pb2.LoadRequest(in_flight=4, seconds=0.2), timeout=10)
        assert load.ok > 0 and load.failed == 0 and load.elapsed_s >= 0.2


def test_sigterm_stops_gracefully_with_exit_0_and_nothing_left(
    two_nodes: tuple[Path, dict[str, subprocess.Popen[bytes]]],
) -> None:
    _, procs = two_nodes
    for p in procs.values():
        os.kill(p.pid, signal.SIGTERM)
    for name, p in procs.items():
        assert p.wait(timeout=15) == 0, f"{name} exit code {p.returncode}"
        assert processes_in_group(p.pid) == [], f"{name} left processes behind"


def test_admin_shutdown_exits_0(two_nodes: tuple[Path, dict[str, subprocess.Popen[bytes]]]) -> None:
    config, procs = two_nodes
    with grpc.insecure_channel(address_of(config, "n2")) as ch:
        admin_pb2_grpc.AdminStub(ch).Shutdown(admin_pb2.ShutdownRequest(), timeout=5)
    assert procs["n2"].wait(timeout=15) == 0


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    config = write_config(tmp_path, n=1)
    host, port = address_of(config, "n1").split(":")
    with socket.socket() as holder:
        holder.bind((host, int(port)))
        holder.listen()
        out = subprocess.run([sys.executable, "-m", "protocols", "--config", str(config),
                              "--node-id", "n1"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2, out.stderr
    assert "cannot listen on" in out.stderr and "port in use" in out.stderr


def test_unknown_node_id_is_a_clear_error(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    out = subprocess.run([sys.executable, "-m", "protocols", "--config", str(config),
                          "--node-id", "n7"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "unknown node id 'n7'; members are n1, n2" in out.stderr


def test_second_process_on_one_data_dir_is_refused(
    two_nodes: tuple[Path, dict[str, subprocess.Popen[bytes]]], tmp_path: Path,
) -> None:
    config, _ = two_nodes
    raw = json.loads(config.read_text())
    raw["nodes"]["n1"]["address"] = f"127.0.0.1:{free_port()}"  # same data dir, new port
    other = tmp_path / "other.json"
    other.write_text(json.dumps(raw))
    out = subprocess.run([sys.executable, "-m", "protocols", "--config", str(other),
                          "--node-id", "n1"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert "is in use by another process" in out.stderr
