"""Helpers for the Toxiproxy conformance suite (fixtures are in conftest.py)."""

from __future__ import annotations

import os
import socket
import threading

import pytest
import requests

from cluster.toxi import ToxiproxyClient


class Server:
    def __init__(self, url: str, pid: int | None) -> None:
        self.url = url
        self.pid = pid
        self.client = ToxiproxyClient(url, timeout_s=10)
        self.http = requests.Session()
        self.http.headers["User-Agent"] = "conformance-tests"

    @property
    def ours(self) -> bool:
        return self.pid is not None

    def clean(self) -> None:
        for name in self.client.list_proxies():
            self.client.delete_proxy(name)


def ours_only(server: Server) -> None:
    if not server.ours:
        pytest.skip("checks our validation of inputs that crash the Go server")


class Echo:
    """A threaded TCP echo server (the upstream)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.port = self.sock.getsockname()[1]
        self.address = f"127.0.0.1:{self.port}"
        self.received: list[bytes] = []
        self.eof = threading.Event()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            while True:
                try:
                    data = conn.recv(65536)
                except OSError:
                    break
                if not data:
                    break
                self.received.append(data)
                try:
                    conn.sendall(data)
                except OSError:
                    break
        self.eof.set()

    def close(self) -> None:
        self._closed = True
        self.sock.close()


def connect(listen: str, timeout: float = 5.0) -> socket.socket:
    host, _, port = listen.rpartition(":")
    s = socket.create_connection((host, int(port)), timeout=timeout)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def recv_exactly(s: socket.socket, n: int) -> bytes:
    buf = bytearray()
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            break
        buf += chunk
    return bytes(buf)


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))
