"""Fixtures for the Toxiproxy conformance suite.

By default the suite starts our server (``python -m cluster.toxiproxy``) as a child
process. With ``TOXIPROXY_URL=http://HOST:PORT`` it runs against that server instead —
e.g. a real ``toxiproxy-server`` v2.12 — so anyone can check the two agree. Tests of
our own input validation (inputs that crash the Go server) are skipped there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from tests.toxiproxy.toxiproxy_support import Echo, Server

REAL_URL = os.environ.get("TOXIPROXY_URL")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    if REAL_URL:
        yield Server(REAL_URL, None)
        return
    ready = tmp_path_factory.mktemp("toxiproxy") / "ready.json"
    proc = subprocess.Popen([sys.executable, "-m", "cluster.toxiproxy", "--port", "0",
                             "--proxy-metrics", "--ready-file", str(ready)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    end = time.monotonic() + 30
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > end:
            proc.kill()
            err = proc.stderr.read() if proc.stderr else b""
            raise RuntimeError(f"toxiproxy did not start: {err!r}")
        time.sleep(0.02)
    port = json.loads(ready.read_text())["port"]
    srv = Server(f"http://127.0.0.1:{port}", proc.pid)
    try:
        yield srv
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0, "the proxy server must exit 0 on SIGTERM"


@pytest.fixture
def tp(server: Server) -> Iterator[Server]:
    server.clean()
    yield server
    server.clean()


@pytest.fixture
def echo() -> Iterator[Echo]:
    e = Echo()
    yield e
    e.close()


