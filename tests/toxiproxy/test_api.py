"""Toxiproxy HTTP API conformance (reference §1-§8), through raw HTTP and toxiproxy-python."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import toxiproxy
from toxiproxy.api import APIConsumer

from cluster.toxi import BadRequest, Conflict, NotFound, ServerError
from tests.toxiproxy.toxiproxy_support import Echo, Server, connect, ours_only


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def post(tp: Server, path: str, body: object = None, raw: bytes | None = None) -> object:
    if raw is not None:
        return tp.http.post(tp.url + path, data=raw)
    return tp.http.post(tp.url + path, json=body)


def error_of(resp: object) -> tuple[int, str]:
    r = resp  # type: ignore[assignment]
    return r.status_code, r.json()["error"]  # type: ignore[attr-defined]


# ---------------------------------------------------------------- §1 server-wide
def test_version_body_and_type(tp: Server) -> None:
    r = tp.http.get(tp.url + "/version")
    assert r.status_code == 200
    assert r.headers["Content-Type"].replace(" ", "") == "application/json;charset=utf-8"
    assert r.content.endswith(b"\n") and r.json()["version"]
    if tp.ours:
        assert r.content == b'{"version": "2.12.0"}\n'


def test_request_id_header_and_user_agents(tp: Server) -> None:
    r = tp.http.get(tp.url + "/proxies")
    assert r.status_code == 200 and r.json() == {}
    assert r.headers.get("X-Toxiproxy-Request-Id")
    browser = tp.http.get(tp.url + "/proxies", headers={"User-Agent": "Mozilla/5.0 (X11)"})
    assert browser.status_code == 403 and browser.text == "User agent not allowed\n"
    wget = tp.http.get(tp.url + "/proxies", headers={"User-Agent": "Wget/1.21"})
    assert wget.status_code == 200


def test_unknown_path_wrong_method_and_trailing_slash(tp: Server) -> None:
    r = tp.http.get(tp.url + "/nothing-here")
    assert (r.status_code, r.text) == (404, "404 page not found\n")
    assert "X-Toxiproxy-Request-Id" not in r.headers
    r = tp.http.put(tp.url + "/proxies")
    assert (r.status_code, r.content) == (405, b"")
    assert tp.http.get(tp.url + "/proxies/").status_code == 404


# ---------------------------------------------------------------- §2 errors
def test_error_format_and_bad_bodies(tp: Server) -> None:
    r = tp.http.post(tp.url + "/proxies", data=b"")
    assert r.status_code == 400
    assert r.headers["Content-Type"].startswith("text/plain")
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.text == '{"error":"bad request body: EOF","status":400}\n'
    assert error_of(post(tp, "/proxies", raw=b"{not json"))[1].startswith("bad request body:")
    assert error_of(post(tp, "/proxies", {"upstream": "127.0.0.1:1"})) == (
        400, "missing required field: name")
    assert error_of(post(tp, "/proxies", {"name": "a"})) == (
        400, "missing required field: upstream")
    assert error_of(post(tp, "/proxies", {"name": 5, "upstream": "x:1"}))[0] == 400


# ---------------------------------------------------------------- §3-§5 proxies
def test_create_shape_listen_resolution_and_case_insensitive_keys(tp: Server,
                                                                   echo: Echo) -> None:
    r = post(tp, "/proxies", {"NAME": "p1", "Upstream": echo.address, "listen": "localhost:0"})
    assert r.status_code == 201  # type: ignore[attr-defined]
    body = r.json()  # type: ignore[attr-defined]
    assert list(k for k in body if k != "Logger") == ["name", "listen", "upstream", "enabled",
                                                       "toxics"]
    assert body["name"] == "p1" and body["enabled"] is True and body["toxics"] == []
    host, _, port = body["listen"].rpartition(":")
    assert host == "127.0.0.1" and int(port) > 0
    assert error_of(post(tp, "/proxies", {"name": "p1", "upstream": echo.address})) == (
        409, "proxy already exists")
    with pytest.raises(Conflict):
        tp.client.create_proxy("p1", echo.address)


def test_port_in_use_is_500_and_nothing_is_created(tp: Server, echo: Echo) -> None:
    first = tp.client.create_proxy("holder", echo.address)
    r = post(tp, "/proxies", {"name": "second", "upstream": echo.address,
                              "listen": first.listen})
    status, message = error_of(r)
    assert status == 500 and "address already in use" in message
    assert "second" not in tp.client.list_proxies()
    with pytest.raises(ServerError, match="address already in use"):
        tp.client.create_proxy("third", echo.address, listen=first.listen)
    tp.client.delete_proxy("holder")
    assert tp.client.create_proxy("second", echo.address, listen=first.listen).listen == \
        first.listen


def test_bad_listen_is_500(tp: Server, echo: Echo) -> None:
    status, message = error_of(post(tp, "/proxies", {"name": "x", "upstream": echo.address,
                                                     "listen": "local373"}))
    assert status == 500 and "missing port in address" in message


def test_disabled_proxy_keeps_literal_listen_until_enabled(tp: Server, echo: Echo) -> None:
    port = free_port()
    p = tp.client.create_proxy("d", echo.address, listen=f"localhost:{port}", enabled=False)
    assert (p.listen, p.enabled) == (f"localhost:{port}", False)
    with pytest.raises(ConnectionRefusedError):
        connect(f"127.0.0.1:{port}", timeout=2)
    tp.client.set_enabled("d", True)
    p = tp.client.get_proxy("d")
    assert (p.listen, p.enabled) == (f"127.0.0.1:{port}", True)
    connect(p.listen).close()
    tp.client.set_enabled("d", False)
    with pytest.raises(ConnectionRefusedError):
        connect(p.listen, timeout=2)
    tp.client.set_enabled("d", True)  # re-enable rebinds the same resolved port
    assert tp.client.get_proxy("d").listen == p.listen
    connect(p.listen).close()


def test_disable_and_delete_close_live_connections(tp: Server, echo: Echo) -> None:
    p = tp.client.create_proxy("live", echo.address)
    s = connect(p.listen)
    s.sendall(b"ping")
    assert s.recv(4) == b"ping"
    tp.client.set_enabled("live", False)
    assert s.recv(10) == b""  # the client sees EOF
    tp.client.set_enabled("live", True)
    s = connect(p.listen)
    s.sendall(b"x")
    assert s.recv(1) == b"x"
    r = tp.http.delete(tp.url + "/proxies/live")
    assert (r.status_code, r.content) == (204, b"")
    assert s.recv(10) == b""
    assert error_of(tp.http.delete(tp.url + "/proxies/live")) == (404, "proxy not found")
    with pytest.raises(ConnectionRefusedError):
        connect(p.listen, timeout=2)


def test_update_upstream_restarts_on_the_same_port(tp: Server, echo: Echo) -> None:
    other = Echo()
    try:
        p = tp.client.create_proxy("u", echo.address)
        s = connect(p.listen)
        s.sendall(b"a")
        assert s.recv(1) == b"a"
        updated = tp.client.update_proxy("u", upstream=other.address)
        assert updated.listen == p.listen and updated.upstream == other.address
        assert s.recv(10) == b""  # the restart dropped the live connection
        s = connect(p.listen)
        s.sendall(b"b")
        assert s.recv(1) == b"b"
        assert other.received == [b"b"]
    finally:
        other.close()


def test_update_with_same_port_by_hostname_keeps_connections(tp: Server, echo: Echo) -> None:
    p = tp.client.create_proxy("h", echo.address)
    s = connect(p.listen)
    r = tp.http.post(tp.url + "/proxies/h", json={"listen": f"localhost:{p.port}"})
    assert r.status_code == 200 and r.json()["listen"] == p.listen
    s.sendall(b"still here")
    assert s.recv(10) == b"still here"
    r = tp.http.patch(tp.url + "/proxies/h", json={"listen": "127.0.0.1:0"})
    assert r.status_code == 200 and r.json()["listen"] != p.listen  # a new ephemeral port
    r = tp.http.post(tp.url + "/proxies/h", json={"enabled": True})
    assert r.status_code == 200  # enabling a running proxy is a no-op
    assert error_of(tp.http.post(tp.url + "/proxies/h", json={"listen": "nohostport"}))[0] == 500


def test_toxiproxy_python_round_trip(tp: Server, echo: Echo) -> None:
    """The standard client works unmodified against the server (reference §11)."""
    host, _, port = tp.url.removeprefix("http://").rpartition(":")
    APIConsumer.host, APIConsumer.port = host, int(port)
    server = toxiproxy.Toxiproxy()
    proxy = server.create(upstream=echo.address, name="py")
    assert proxy.listen.startswith("127.0.0.1:") and proxy.enabled is True
    proxy.add_toxic(type="latency", attributes={"latency": 10, "jitter": 1})
    assert list(proxy.toxics()) == ["latency_downstream"]
    with proxy.down():
        assert server.proxies()["py"].enabled is False
    assert server.proxies()["py"].enabled is True
    proxy.destroy_toxic("latency_downstream")
    assert proxy.toxics() == {}
    with pytest.raises(toxiproxy.exceptions.ProxyExists):
        server.create(upstream=echo.address, name="py")
    assert server.reset() is True
    assert proxy.destroy() is True
    assert server.proxies() == {}


# ---------------------------------------------------------------- toxics API
def test_toxic_create_shape_defaults_and_conflicts(tp: Server, echo: Echo) -> None:
    tp.client.create_proxy("t", echo.address)
    r = post(tp, "/proxies/t/toxics", {"type": "latency", "attributes": {"latency": 100}})
    assert r.status_code == 200  # type: ignore[attr-defined]
    assert r.json() == {"attributes": {"latency": 100, "jitter": 0},  # type: ignore[attr-defined]
                        "name": "latency_downstream", "type": "latency",
                        "stream": "downstream", "toxicity": 1.0}
    assert error_of(post(tp, "/proxies/t/toxics", {"type": "latency"})) == (
        409, "toxic already exists")
    up = post(tp, "/proxies/t/toxics", {"type": "latency", "stream": "upstream"})
    assert up.json()["name"] == "latency_upstream"  # type: ignore[attr-defined]
    same_name = {"type": "noop", "stream": "upstream", "name": "latency_downstream"}
    assert error_of(post(tp, "/proxies/t/toxics", same_name))[0] == 409
    shout = post(tp, "/proxies/t/toxics", {"type": "noop", "stream": "UPSTREAM"}).json()  # type: ignore[attr-defined]
    assert (shout["stream"], shout["name"]) == ("UPSTREAM", "noop_UPSTREAM")
    toxics = tp.http.get(tp.url + "/proxies/t/toxics").json()
    assert [t["name"] for t in toxics] == ["latency_upstream", "noop_UPSTREAM",
                                           "latency_downstream"]
    assert [t.name for t in tp.client.get_proxy("t").toxics] == [t["name"] for t in toxics]


@pytest.mark.parametrize(("body", "error"), [
    ({"type": "latency", "stream": "walrustream"},
     "stream was invalid, can be either upstream or downstream"),
    ({"type": "latency", "stream": ""}, "stream was invalid, can be either upstream or downstream"),
    ({"type": "nonsense"}, "invalid toxic type"),
    ({"stream": "upstream"}, "invalid toxic type"),
])
def test_toxic_create_validation(tp: Server, echo: Echo, body: dict[str, str],
                                 error: str) -> None:
    tp.client.create_proxy("v", echo.address)
    assert error_of(post(tp, "/proxies/v/toxics", body)) == (400, error)


def test_toxic_attribute_type_errors(tp: Server, echo: Echo) -> None:
    tp.client.create_proxy("v", echo.address)
    for attrs in ({"latency": "abc"}, {"latency": 1.5}):
        status, message = error_of(post(tp, "/proxies/v/toxics",
                                        {"type": "latency", "attributes": attrs}))
        assert status == 400 and message.startswith("bad request body:")


def test_every_toxic_type_echoes_all_attributes(tp: Server, echo: Echo) -> None:
    tp.client.create_proxy("all", echo.address)
    expected = {
        "noop": {}, "latency": {"latency": 0, "jitter": 0}, "slow_close": {"delay": 0},
        "timeout": {"timeout": 0}, "reset_peer": {"timeout": 0}, "limit_data": {"bytes": 0},
    }
    for type_, attrs in expected.items():
        got = post(tp, "/proxies/all/toxics", {"type": type_, "name": type_}).json()  # type: ignore[attr-defined]
        assert got["attributes"] == attrs, type_
    got = post(tp, "/proxies/all/toxics", {"type": "bandwidth", "attributes": {"rate": 5}}).json()  # type: ignore[attr-defined]
    assert got["attributes"] == {"rate": 5}
    got = post(tp, "/proxies/all/toxics", {"type": "slicer", "attributes": {
        "average_size": 10}}).json()  # type: ignore[attr-defined]
    assert got["attributes"] == {"average_size": 10, "size_variation": 0, "delay": 0}


def test_inputs_that_crash_go_are_400(tp: Server, echo: Echo) -> None:
    ours_only(tp)
    tp.client.create_proxy("c", echo.address)
    for body in ({"type": "bandwidth", "attributes": {"rate": 0}},
                 {"type": "bandwidth", "attributes": {"rate": -5}},
                 {"type": "slicer", "attributes": {"average_size": 0}},
                 {"type": "slicer", "attributes": {"average_size": 4, "size_variation": 4}},
                 {"type": "latency", "attributes": {"latency": -1}}):
        status, message = error_of(post(tp, "/proxies/c/toxics", body))
        assert status == 400 and message, body
    with pytest.raises(BadRequest):
        tp.client.add_toxic("c", "bandwidth", attributes={"rate": 0})
    assert tp.client.list_toxics("c") == []


def test_toxicity_round_trips_and_update_is_partial(tp: Server, echo: Echo) -> None:
    tp.client.create_proxy("u", echo.address)
    t = tp.client.add_toxic("u", "latency", attributes={"latency": 100, "jitter": 10},
                            toxicity=0.2)
    assert t.toxicity == pytest.approx(0.2)
    updated = tp.client.update_toxic("u", "latency_downstream", attributes={"latency": 1000})
    assert dict(updated.attributes) == {"latency": 1000, "jitter": 10}
    assert updated.toxicity == pytest.approx(0.2)
    r = tp.http.post(tp.url + "/proxies/u/toxics/latency_downstream",
                     json={"toxicity": 0.5, "name": "renamed", "type": "noop"})
    assert (r.json()["name"], r.json()["type"], r.json()["toxicity"]) == (
        "latency_downstream", "latency", 0.5)
    r = tp.http.delete(tp.url + "/proxies/u/toxics/latency_downstream")
    assert (r.status_code, r.content) == (204, b"")
    with pytest.raises(NotFound, match="toxic not found"):
        tp.client.get_toxic("u", "latency_downstream")
    with pytest.raises(NotFound, match="proxy not found"):
        tp.client.list_toxics("missing")


def test_toxics_on_a_disabled_proxy_persist(tp: Server, echo: Echo) -> None:
    tp.client.create_proxy("dis", echo.address, enabled=False)
    tp.client.add_toxic("dis", "noop")
    tp.client.set_enabled("dis", True)
    tp.client.set_enabled("dis", False)
    assert [t.name for t in tp.client.list_toxics("dis")] == ["noop_downstream"]


# ---------------------------------------------------------------- §6 populate, §7 reset
def test_populate_creates_keeps_existing_and_reports_failures(tp: Server, echo: Echo) -> None:
    port = free_port()
    r = post(tp, "/populate", [{"name": "a", "upstream": echo.address,
                                "listen": f"localhost:{port}"},
                               {"name": "b", "upstream": echo.address, "enabled": False}])
    assert r.status_code == 201  # type: ignore[attr-defined]
    created = r.json()["proxies"]  # type: ignore[attr-defined]
    assert [(p["name"], p["enabled"]) for p in created] == [("a", True), ("b", False)]
    assert created[0]["listen"] == f"127.0.0.1:{port}"
    tp.client.add_toxic("a", "noop")
    tp.client.set_enabled("a", False)
    tp.client.set_enabled("a", True)
    tp.client.set_enabled("a", False)
    # the same proxy again (listen spelled differently): untouched, toxics + enabled kept
    again = post(tp, "/populate", [{"name": "a", "upstream": echo.address,
                                    "listen": f"127.0.0.1:{port}", "enabled": True}]).json()  # type: ignore[attr-defined]
    assert again["proxies"][0]["enabled"] is False
    assert [t.name for t in tp.client.list_toxics("a")] == ["noop_downstream"]
    assert post(tp, "/populate", []).json() == {"proxies": None}  # type: ignore[attr-defined]
    assert error_of(post(tp, "/populate", {"name": "x"}))[0] == 400
    assert error_of(post(tp, "/populate", [{"name": "ok", "upstream": echo.address},
                                           {"upstream": echo.address}])) == (
        400, "missing required field: name at proxy 2")
    assert "ok" not in tp.client.list_proxies()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        r = post(tp, "/populate", [{"name": "c1", "upstream": echo.address},
                                   {"name": "c2", "upstream": echo.address,
                                    "listen": f"127.0.0.1:{taken}"},
                                   {"name": "c3", "upstream": echo.address}])
    body = r.json()  # type: ignore[attr-defined]
    assert r.status_code == 500 and "address already in use" in body["error"]  # type: ignore[attr-defined]
    assert r.headers["Content-Type"].startswith("application/json")  # type: ignore[attr-defined]
    assert [p["name"] for p in body["proxies"]] == ["c1"]
    assert "c3" not in tp.client.list_proxies()


def test_reset_reenables_and_removes_toxics(tp: Server, echo: Echo) -> None:
    tp.client.create_proxy("r1", echo.address)
    tp.client.create_proxy("r2", echo.address, enabled=False)
    tp.client.add_toxic("r1", "latency", attributes={"latency": 50})
    tp.client.add_toxic("r2", "noop", stream="upstream")
    r = tp.http.post(tp.url + "/reset")
    assert (r.status_code, r.content) == (204, b"")
    for name in ("r1", "r2"):
        p = tp.client.get_proxy(name)
        assert p.enabled and p.toxics == ()
        connect(p.listen).close()


# ---------------------------------------------------------------- §8 metrics
def test_metrics_count_bytes_when_links_finish(tp: Server, echo: Echo) -> None:
    ours_only(tp)  # the real server needs -proxy-metrics, which we cannot set remotely
    p = tp.client.create_proxy("m", echo.address)
    s = connect(p.listen)
    s.sendall(b"hello")
    assert s.recv(5) == b"hello"
    s.close()
    assert echo.eof.wait(5)
    r = tp.http.get(tp.url + "/metrics")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    lines = [line for line in r.text.splitlines() if 'proxy="m"' in line]
    assert any(line.startswith("toxiproxy_proxy_received_bytes_total") and
               'direction="upstream"' in line and line.endswith(" 5") for line in lines), lines


def test_config_file_populates_at_startup(tmp_path: Path, echo: Echo) -> None:
    """``--config FILE`` creates proxies at startup; a bad file is logged, not fatal."""
    import json
    import signal
    import subprocess
    import sys
    import time

    from cluster.toxi import ToxiproxyClient

    config = tmp_path / "proxies.json"
    config.write_text(json.dumps([{"name": "from_file", "upstream": echo.address}]))
    for cfg, expected in ((config, ["from_file"]), (tmp_path / "missing.json", [])):
        ready = tmp_path / f"ready-{len(expected)}.json"
        proc = subprocess.Popen([sys.executable, "-m", "cluster.toxiproxy", "--port", "0",
                                 "--config", str(cfg), "--ready-file", str(ready)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 30
            while not ready.exists():
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.02)
            port = json.loads(ready.read_text())["port"]
            assert list(ToxiproxyClient(f"http://127.0.0.1:{port}").list_proxies()) == expected
        finally:
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=15) == 0
