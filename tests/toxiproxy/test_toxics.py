"""Toxic behaviour on real connections (reference §9), with bounds a loaded 2-core
machine meets every time: latency ± (jitter + 25 ms) and the like."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
import time

import grpc
import grpc.aio
import pytest

from protocols._pb import admin_pb2, admin_pb2_grpc
from tests.toxiproxy.toxiproxy_support import Echo, Server, connect, fd_count, recv_exactly

SLACK_S = 0.025


def round_trip(s: socket.socket, payload: bytes) -> float:
    started = time.monotonic()
    s.sendall(payload)
    assert recv_exactly(s, len(payload)) == payload
    return time.monotonic() - started


@pytest.mark.parametrize("size", [5, 64 * 1024, 4 << 20])
def test_relay_is_byte_exact(tp: Server, echo: Echo, size: int) -> None:
    p = tp.client.create_proxy("exact", echo.address)
    payload = os.urandom(size)
    with connect(p.listen) as s:
        sender = threading.Thread(target=s.sendall, args=(payload,))
        sender.start()
        assert recv_exactly(s, size) == payload
        sender.join()


def test_two_part_message(tp: Server, echo: Echo) -> None:
    p = tp.client.create_proxy("two", echo.address)
    with connect(p.listen) as s:
        s.sendall(b"hello ")
        time.sleep(0.01)
        s.sendall(b"world")
        assert recv_exactly(s, 11) == b"hello world"


def test_down_upstream_gives_eof(tp: Server) -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        dead = f"127.0.0.1:{unused.getsockname()[1]}"  # bound, never listening
    p = tp.client.create_proxy("down", dead)
    with connect(p.listen) as s:
        s.settimeout(2)
        assert s.recv(10) == b""


@pytest.mark.parametrize(("stream", "latency", "jitter"),
                         [("downstream", 100, 0), ("upstream", 100, 0), ("downstream", 100, 20)])
def test_latency(tp: Server, echo: Echo, stream: str, latency: int, jitter: int) -> None:
    p = tp.client.create_proxy("lat", echo.address)
    tp.client.add_toxic("lat", "latency", stream=stream,
                        attributes={"latency": latency, "jitter": jitter})
    with connect(p.listen) as s:
        for _ in range(3):
            rtt = round_trip(s, b"x" * 32 * 1024)
            assert latency / 1000 - jitter / 1000 - 0.002 <= rtt, rtt
            assert rtt <= (latency + jitter) / 1000 + SLACK_S * 4, rtt


def test_chained_latencies_add_up(tp: Server, echo: Echo) -> None:
    p = tp.client.create_proxy("chain", echo.address)
    tp.client.add_toxic("chain", "latency", name="a", attributes={"latency": 150})
    tp.client.add_toxic("chain", "latency", name="b", attributes={"latency": 100})
    with connect(p.listen) as s:
        rtt = round_trip(s, b"ping")
    assert 0.25 <= rtt <= 0.25 + 4 * SLACK_S


def test_latency_added_and_removed_on_a_live_connection(tp: Server, echo: Echo) -> None:
    p = tp.client.create_proxy("live", echo.address)
    with connect(p.listen) as s:
        assert round_trip(s, b"a") < 0.1
        tp.client.add_toxic("live", "latency", attributes={"latency": 200})
        assert round_trip(s, b"b") >= 0.2
        tp.client.remove_toxic("live", "latency_downstream")
        assert round_trip(s, b"c") < 0.1


def test_latency_does_not_reduce_bandwidth(tp: Server, echo: Echo) -> None:
    p = tp.client.create_proxy("bw", echo.address)
    tp.client.add_toxic("bw", "latency", stream="upstream", attributes={"latency": 100})
    size = 16 << 20
    with connect(p.listen) as s:
        started = time.monotonic()
        sender = threading.Thread(target=s.sendall, args=(b"z" * size,))
        sender.start()
        assert len(recv_exactly(s, size)) == size
        sender.join()
    elapsed = time.monotonic() - started
    # 16 MiB at a serial 100 ms per 32 KiB chunk would take 51 s: pipelined it is ~0.2 s
    assert elapsed < 5.0, elapsed


def test_toxicity_zero_never_applies(tp: Server, echo: Echo) -> None:
    p = tp.client.create_proxy("tox", echo.address)
    tp.client.add_toxic("tox", "latency", toxicity=0.0, attributes={"latency": 500})
    for _ in range(5):
        with connect(p.listen) as s:
            assert round_trip(s, b"fast") < 0.3


def test_bandwidth(tp: Server, echo: Echo) -> None:
    p = tp.client.create_proxy("rate", echo.address)
    tp.client.add_toxic("rate", "bandwidth", attributes={"rate": 10})  # 10 KB/s = 10 000 B/s
    with connect(p.listen) as s:
        elapsed = round_trip(s, b"b" * 5000)
    assert 0.45 <= elapsed <= 0.5 + 4 * SLACK_S, elapsed


def test_slow_close(tp: Server, echo: Echo) -> None:
    p = tp.client.create_proxy("sc", echo.address)
    tp.client.add_toxic("sc", "slow_close", attributes={"delay": 300})
    with connect(p.listen) as s:
        assert round_trip(s, b"data") < 0.2  # data is not delayed
        s.shutdown(socket.SHUT_WR)
        started = time.monotonic()
        s.settimeout(5)
        assert s.recv(10) == b""
        assert 0.3 - 0.01 <= time.monotonic() - started <= 0.3 + 4 * SLACK_S


def test_timeout_zero_blackholes_and_removal_closes(tp: Server, echo: Echo) -> None:
    p = tp.client.create_proxy("bh", echo.address)
    tp.client.add_toxic("bh", "timeout", attributes={"timeout": 0})
    with connect(p.listen) as s:
        s.sendall(b"into the void")
        s.settimeout(0.5)
        with pytest.raises(TimeoutError):
            s.recv(10)  # nothing comes back, and the connection stays open
        tp.client.remove_toxic("bh", "timeout_downstream")
        s.settimeout(5)
        assert s.recv(10) == b""  # removing a timeout toxic closes its connections


def test_timeout_closes_after_silence(tp: Server, echo: Echo) -> None:
    p = tp.client.create_proxy("to", echo.address)
    tp.client.add_toxic("to", "timeout", stream="upstream", attributes={"timeout": 300})
    with connect(p.listen) as s:
        started = time.monotonic()
        s.settimeout(5)
        assert s.recv(10) == b""
        assert 0.3 - 0.01 <= time.monotonic() - started <= 0.3 + 6 * SLACK_S


def test_reset_peer_resets(tp: Server, echo: Echo) -> None:
    p = tp.client.create_proxy("rst", echo.address)
    tp.client.add_toxic("rst", "reset_peer", stream="upstream", attributes={"timeout": 0})
    with connect(p.listen) as s:
        s.sendall(b"boom")
        s.settimeout(5)
        with pytest.raises(ConnectionResetError):
            s.recv(10)


def test_reset_peer_added_to_an_open_connection_closes_with_fin(tp: Server,
                                                                echo: Echo) -> None:
    p = tp.client.create_proxy("fin", echo.address)
    with connect(p.listen) as s:
        assert round_trip(s, b"warm") < 0.5
        tp.client.add_toxic("fin", "reset_peer", stream="upstream", attributes={"timeout": 0})
        s.sendall(b"boom")
        s.settimeout(5)
        assert s.recv(10) == b""


def test_slicer_slices_with_delays(tp: Server, echo: Echo) -> None:
    p = tp.client.create_proxy("sl", echo.address)
    tp.client.add_toxic("sl", "slicer", stream="upstream",
                        attributes={"average_size": 1, "size_variation": 0, "delay": 20_000})
    with connect(p.listen) as s:
        elapsed = round_trip(s, b"abcdefghijklmnopqrstuvwx")  # 24 pieces, 20 ms apart
    assert 23 * 0.02 - 0.01 <= elapsed <= 23 * 0.02 + 10 * SLACK_S, elapsed
    assert len(echo.received) >= 10  # the upstream really saw separate small writes


def test_limit_data_closes_after_the_limit_and_keeps_state(tp: Server, echo: Echo) -> None:
    p = tp.client.create_proxy("lim", echo.address)
    tp.client.add_toxic("lim", "limit_data", stream="upstream", attributes={"bytes": 10})
    with connect(p.listen) as s:
        s.sendall(b"0123456789abcdef")
        s.settimeout(5)
        got = b""
        while chunk := s.recv(100):
            got += chunk
    deadline = time.monotonic() + 5  # the echo thread records what it read on its own time
    while b"".join(echo.received) != b"0123456789" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert b"".join(echo.received) == b"0123456789"
    assert b"0123456789".startswith(got)  # the echo may or may not beat the close
    tp.client.update_toxic("lim", "limit_data_upstream", attributes={"bytes": 8})
    with connect(p.listen) as s:  # a new link starts counting from zero
        s.sendall(b"abcd")
        assert recv_exactly(s, 4) == b"abcd"
        tp.client.update_toxic("lim", "limit_data_upstream", attributes={"bytes": 6})
        s.sendall(b"efgh")  # 4 already sent on this link: only 2 more pass
        s.settimeout(5)
        assert b"ef".startswith(recv_exactly(s, 10))  # then EOF
    deadline = time.monotonic() + 5
    while b"".join(echo.received) != b"0123456789abcdef" and time.monotonic() < deadline:
        time.sleep(0.01)
    assert b"".join(echo.received) == b"0123456789abcdef"


def test_limit_data_zero_closes_on_first_chunk(tp: Server, echo: Echo) -> None:
    p = tp.client.create_proxy("lim0", echo.address)
    tp.client.add_toxic("lim0", "limit_data", stream="upstream", attributes={"bytes": 0})
    with connect(p.listen) as s:
        s.settimeout(0.3)
        with pytest.raises(TimeoutError):
            s.recv(1)  # still open: nothing has arrived yet
        s.sendall(b"x")
        s.settimeout(5)
        assert s.recv(10) == b""
    assert echo.received == []


def test_grpc_unary_call_through_a_proxy(tp: Server) -> None:
    async def run() -> str:
        server = grpc.aio.server()

        class Probe(admin_pb2_grpc.ProbeServicer):
            async def Ping(self, request: admin_pb2.PingRequest, context: object) -> object:
                return admin_pb2.PingReply(node_id="upstream", seq=request.seq)

        admin_pb2_grpc.add_ProbeServicer_to_server(Probe(), server)
        port = server.add_insecure_port("127.0.0.1:0")
        await server.start()
        proxy = await asyncio.to_thread(tp.client.create_proxy, "grpc", f"127.0.0.1:{port}")
        try:
            async with grpc.aio.insecure_channel(proxy.listen) as ch:
                reply = await admin_pb2_grpc.ProbeStub(ch).Ping(
                    admin_pb2.PingRequest(from_id="t", seq=42, payload=os.urandom(100_000)),
                    timeout=10)
                return f"{reply.node_id}:{reply.seq}"
        finally:
            await server.stop(None)

    assert asyncio.run(run()) == "upstream:42"


def test_churn_leaves_no_leaks_and_no_corruption(tp: Server, echo: Echo) -> None:
    """Hundreds of connections open and close while toxics come and go."""
    p = tp.client.create_proxy("churn", echo.address)
    before = fd_count(tp.pid) if tp.ours else 0
    stop = threading.Event()
    errors: list[str] = []

    def flip_toxics() -> None:
        n = 0
        while not stop.is_set():
            name = f"noop{n % 3}"
            try:
                tp.client.add_toxic("churn", "latency" if n % 2 else "noop", name=name,
                                    attributes={"latency": 1} if n % 2 else {})
                tp.client.remove_toxic("churn", name)
            except Exception as e:
                errors.append(f"toxic flip: {e}")
            n += 1

    flipper = threading.Thread(target=flip_toxics)
    flipper.start()

    def client(i: int) -> None:
        payload = os.urandom(1000 + i)
        try:
            with connect(p.listen) as s:
                s.sendall(payload)
                if recv_exactly(s, len(payload)) != payload:
                    errors.append(f"connection {i}: corrupted bytes")
        except OSError as e:
            errors.append(f"connection {i}: {e}")

    try:
        for batch in range(10):
            threads = [threading.Thread(target=client, args=(batch * 30 + j,))
                       for j in range(30)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
    finally:
        stop.set()
        flipper.join()
    assert errors == []
    if tp.ours:  # the OS view of the server: every socket it opened is closed again
        deadline = time.monotonic() + 10
        while fd_count(tp.pid) > before and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fd_count(tp.pid) <= before, "the proxy server leaked sockets"


