"""The exact bytes a client gets: headers, error bodies and JSON encoding (reference §1-§6).

Everything here was compared byte for byte with a real toxiproxy-server v2.12.0 and
passes against both servers (``TOXIPROXY_URL=...`` runs it against the real one).
"""

from __future__ import annotations

import base64
import gzip
import http.client
import json
import socket
import time
from typing import Any
from urllib.parse import quote

import pytest
import requests

from tests.toxiproxy.toxiproxy_support import Echo, Server, ours_only

JSON = "application/json"  # Go's handlers: no charset parameter
TEXT = "text/plain; charset=utf-8"  # http.Error
POPULATE_TYPE = '[]struct { toxiproxy.Proxy; Enabled *bool "json:\\"enabled\\"" }'
UP = "127.0.0.1:1"


def call(tp: Server, method: str, path: str, body: Any = None,
         raw: bytes | None = None) -> requests.Response:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    return tp.http.request(method, tp.url + path, data=data)


def header_names(tp: Server, method: str, path: str, body: bytes | None = None) -> list[str]:
    """Response header names in the order they came on the wire."""
    host, _, port = tp.url.removeprefix("http://").rpartition(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        conn.request(method, path, body=body, headers={"User-Agent": "conformance-tests"})
        resp = conn.getresponse()
        resp.read()
        return [name for name, _ in resp.getheaders()]
    finally:
        conn.close()


def go_json(value: Any) -> bytes:
    """json.Marshal of ASCII-only values: compact, with <, > and & escaped."""
    text = json.dumps(value, separators=(",", ":"))
    for char in "<>&":
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text.encode()


def assert_api_error(r: requests.Response, status: int, message: str) -> None:
    """apiError: the JSON sent through http.Error (text/plain, nosniff, a newline)."""
    assert r.status_code == status
    assert r.headers["Content-Type"] == TEXT
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.content == go_json({"error": message, "status": status}) + b"\n"


def populate_error(message: str, status: int, proxies: Any = None) -> bytes:
    return go_json({"error": message, "status": status, "proxies": proxies})


# ---------------------------------------------------------------- Content-Type
def test_json_responses_carry_no_charset(tp: Server, echo: Echo) -> None:
    created = call(tp, "POST", "/proxies", {"name": "ct", "upstream": echo.address,
                                            "listen": "127.0.0.1:0"})
    toxic = call(tp, "POST", "/proxies/ct/toxics", {"type": "latency"})
    responses = [
        created, toxic,
        call(tp, "GET", "/proxies"),
        call(tp, "GET", "/proxies/ct"),
        call(tp, "PATCH", "/proxies/ct", {"enabled": True}),
        call(tp, "POST", "/proxies/ct", {"enabled": True}),
        call(tp, "GET", "/proxies/ct/toxics"),
        call(tp, "GET", "/proxies/ct/toxics/latency_downstream"),
        call(tp, "PATCH", "/proxies/ct/toxics/latency_downstream", {"toxicity": 1}),
        call(tp, "POST", "/populate", []),
    ]
    assert [r.status_code for r in responses] == [201, 200, 200, 200, 200, 200, 200, 200,
                                                  200, 201]
    for r in responses:
        assert r.headers["Content-Type"] == JSON, r.url
        assert "X-Content-Type-Options" not in r.headers
        assert not r.content.endswith(b"\n"), r.url  # json.Marshal, written as is
    version = call(tp, "GET", "/version")
    assert version.headers["Content-Type"] == "application/json;charset=utf-8"


def test_errors_are_text_plain_json_with_a_newline(tp: Server, echo: Echo) -> None:
    call(tp, "POST", "/proxies", {"name": "e", "upstream": echo.address})
    call(tp, "POST", "/proxies/e/toxics", {"type": "noop"})
    assert_api_error(call(tp, "GET", "/proxies/missing"), 404, "proxy not found")
    assert_api_error(call(tp, "DELETE", "/proxies/missing"), 404, "proxy not found")
    assert_api_error(call(tp, "GET", "/proxies/missing/toxics"), 404, "proxy not found")
    assert_api_error(call(tp, "GET", "/proxies/e/toxics/nope"), 404, "toxic not found")
    assert_api_error(call(tp, "POST", "/proxies", {"name": "e", "upstream": echo.address}),
                     409, "proxy already exists")
    assert_api_error(call(tp, "POST", "/proxies/e/toxics", {"type": "noop"}), 409,
                     "toxic already exists")
    assert_api_error(call(tp, "POST", "/proxies", raw=b"{not json"), 400,
                     "bad request body: invalid character 'n' looking for beginning of "
                     "object key string")
    assert_api_error(call(tp, "POST", "/proxies/e/toxics", {"type": "walrus"}), 400,
                     "invalid toxic type")
    assert_api_error(call(tp, "POST", "/proxies/e/toxics", {"type": "noop", "stream": "x"}),
                     400, "stream was invalid, can be either upstream or downstream")


def test_router_and_browser_answers(tp: Server) -> None:
    for r in (call(tp, "GET", "/nothing-here"), call(tp, "GET", "/proxies/")):
        assert (r.status_code, r.content) == (404, b"404 page not found\n")
        assert r.headers["Content-Type"] == TEXT
        assert r.headers["X-Content-Type-Options"] == "nosniff"
    browser = tp.http.get(tp.url + "/proxies", headers={"User-Agent": "Mozilla/5.0"})
    assert (browser.status_code, browser.content) == (403, b"User agent not allowed\n")
    assert browser.headers["Content-Type"] == TEXT
    assert browser.headers["X-Content-Type-Options"] == "nosniff"
    assert browser.headers["X-Toxiproxy-Request-Id"]
    r = call(tp, "PUT", "/proxies", raw=b"")
    assert (r.status_code, r.content, r.headers.get("Content-Type")) == (405, b"", None)


# ---------------------------------------------------------------- header set and order
def test_headers_come_in_net_http_order_without_server(tp: Server, echo: Echo) -> None:
    call(tp, "POST", "/proxies", {"name": "h", "upstream": echo.address})
    assert header_names(tp, "GET", "/proxies") == [
        "Content-Type", "X-Toxiproxy-Request-Id", "Date", "Content-Length"]
    assert header_names(tp, "GET", "/proxies/missing") == [
        "Content-Type", "X-Content-Type-Options", "X-Toxiproxy-Request-Id", "Date",
        "Content-Length"]
    assert header_names(tp, "GET", "/nothing-here") == [
        "Content-Type", "X-Content-Type-Options", "Date", "Content-Length"]
    assert header_names(tp, "PUT", "/proxies", b"") == ["Date", "Content-Length"]
    assert header_names(tp, "DELETE", "/proxies/h") == ["X-Toxiproxy-Request-Id", "Date"]
    assert header_names(tp, "POST", "/reset", b"") == ["X-Toxiproxy-Request-Id", "Date"]


def test_request_ids_are_xids(tp: Server) -> None:
    ids = [call(tp, "GET", "/proxies").headers["X-Toxiproxy-Request-Id"] for _ in range(3)]
    assert len(set(ids)) == 3
    for rid in ids:
        assert len(rid) == 20 and set(rid) <= set("0123456789abcdefghijklmnopqrstuv")
        raw = base64.b32hexdecode(rid.upper() + "====")
        assert abs(int.from_bytes(raw[:4], "big") - time.time()) < 300  # seconds since epoch


def _listing(name: str, upstream: str) -> bytes:
    proxy = {"name": name, "listen": "127.0.0.1:0", "upstream": upstream, "enabled": False,
             "Logger": {}, "toxics": []}
    return json.dumps({name: proxy}, separators=(",", ":")).encode()


@pytest.mark.parametrize("size", [2048, 2049])
def test_bodies_over_2048_bytes_are_chunked(tp: Server, size: int) -> None:
    """net/http sets Content-Length only for what fits its 2048-byte buffer."""
    name, upstream = next((n * "x", up) for n in range(1, 2048)
                          for up in ("127.0.0.1:1", "127.0.0.1:10")
                          if len(_listing(n * "x", up)) == size)
    created = call(tp, "POST", "/proxies", {"name": name, "upstream": upstream,
                                            "listen": "127.0.0.1:0", "enabled": False})
    assert created.status_code == 201
    r = call(tp, "GET", "/proxies")
    assert r.content == _listing(name, upstream)
    if size <= 2048:
        assert r.headers["Content-Length"] == str(size)
        assert "Transfer-Encoding" not in r.headers
    else:
        assert r.headers["Transfer-Encoding"] == "chunked"
        assert "Content-Length" not in r.headers


# ---------------------------------------------------------------- JSON encoding
def test_json_encoding_is_go_s(tp: Server, echo: Echo) -> None:
    name = "é<&>\u2028"
    created = call(tp, "POST", "/proxies", {"name": name, "upstream": echo.address,
                                            "listen": "127.0.0.1:0", "enabled": False})
    assert created.content == (
        '{"name":"é\\u003c\\u0026\\u003e\\u2028","listen":"127.0.0.1:0",'
        f'"upstream":"{echo.address}","enabled":false,"Logger":{{}},"toxics":[]}}'
    ).encode()
    call(tp, "POST", "/proxies", {"name": "f", "upstream": echo.address})
    for toxicity, text in ((1, b'"toxicity":1}'), (0.2, b'"toxicity":0.2}'),
                           (0.123456789, b'"toxicity":0.12345679}'), (0, b'"toxicity":0}'),
                           (1e-7, b'"toxicity":1e-7}')):
        r = call(tp, "POST", "/proxies/f/toxics", {"type": "noop", "name": f"t{toxicity}",
                                                   "toxicity": toxicity})
        assert r.content.endswith(text), r.content  # a float32, as Go writes it
    assert call(tp, "DELETE", "/proxies/" + quote(name, safe="")).status_code == 204


# ---------------------------------------------------------------- decoding errors
@pytest.mark.parametrize(("path", "raw", "message"), [
    ("/proxies", b"", "EOF"),
    ("/proxies", b'{"name":"n"', "unexpected EOF"),
    ("/proxies", b'{"name":"n",}', "invalid character '}' looking for beginning of object "
                                   "key string"),
    ("/proxies", b'{"name" "n"}', "invalid character '\"' after object key"),
    ("/proxies", b'{"a":[1 2]}', "invalid character '2' after array element"),
    ("/proxies", b'{"a":tru}', "invalid character '}' in literal true (expecting 'e')"),
    ("/proxies", b'{"a":1.}', "invalid character '}' after decimal point in numeric literal"),
    ("/proxies", b'{"a":"\\q"}', "invalid character 'q' in string escape code"),
    ("/proxies", b"<html>", "invalid character '<' looking for beginning of value"),
    ("/proxies", b"[]", "json: cannot unmarshal array into Go value of type toxiproxy.Proxy"),
    ("/proxies", b'{"name":5}', "json: cannot unmarshal number into Go struct field "
                                "Proxy.name of type string"),
    ("/proxies", b'{"upstream":5,"name":6}', "json: cannot unmarshal number into Go struct "
                                             "field Proxy.upstream of type string"),
    ("/proxies", b'{"name":"n","enabled":"yes"}', "json: cannot unmarshal string into Go "
                                                  "struct field Proxy.enabled of type bool"),
    ("/proxies/d/toxics", b'{"toxicity":"x"}', "json: cannot unmarshal string into Go struct "
                                               "field ToxicWrapper.toxicity of type float32"),
    ("/proxies/d/toxics", b'{"type":"latency","attributes":5}',
     "json: cannot unmarshal number into Go struct field ToxicWrapper.attributes of type "
     "toxics.NoopToxic"),
    ("/proxies/d/toxics", b'{"type":"latency","name":"l2","attributes":{"latency":1.5}}',
     "json: cannot unmarshal number 1.5 into Go struct field LatencyToxic.attributes.latency "
     "of type int64"),
    ("/proxies/d/toxics", b'{"type":"slicer","attributes":{"average_size":"x"}}',
     "json: cannot unmarshal string into Go struct field SlicerToxic.attributes.average_size "
     "of type int"),
    ("/proxies/d/toxics/latency_downstream", b'{"toxicity":"x"}',
     "json: cannot unmarshal string into Go struct field .toxicity of type float32"),
])
def test_bad_bodies_get_go_s_messages(tp: Server, echo: Echo, path: str, raw: bytes,
                                      message: str) -> None:
    call(tp, "POST", "/proxies", {"name": "d", "upstream": echo.address})
    call(tp, "POST", "/proxies/d/toxics", {"type": "latency"})
    assert_api_error(call(tp, "POST", path, raw=raw), 400, f"bad request body: {message}")


def test_toxic_update_keeps_attributes_decoded_before_a_type_error(tp: Server,
                                                                   echo: Echo) -> None:
    """Go decodes straight into the live toxic: the 400 does not undo ``jitter``."""
    call(tp, "POST", "/proxies", {"name": "u", "upstream": echo.address})
    call(tp, "POST", "/proxies/u/toxics", {"type": "latency",
                                           "attributes": {"latency": 100, "jitter": 10}})
    r = call(tp, "PATCH", "/proxies/u/toxics/latency_downstream",
             {"attributes": {"latency": "x", "jitter": 7}, "toxicity": 0.5})
    assert r.status_code == 400
    toxic = call(tp, "GET", "/proxies/u/toxics/latency_downstream").json()
    assert (toxic["attributes"], toxic["toxicity"]) == ({"latency": 100, "jitter": 7}, 1)


def test_update_decodes_over_the_current_values(tp: Server, echo: Echo) -> None:
    p = tp.client.create_proxy("over", echo.address)
    r = call(tp, "PATCH", "/proxies/over", {"upstream": "", "NAME": "renamed"})
    assert r.status_code == 200
    assert (r.json()["name"], r.json()["upstream"], r.json()["listen"]) == ("over", "", p.listen)
    s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    assert s.recv(10) == b""  # the dial of "" fails: the client is closed at once
    s.close()


# ---------------------------------------------------------------- /populate errors
def test_populate_errors_are_json_with_proxies(tp: Server, echo: Echo) -> None:
    """Populate answers every error itself: application/json, no newline, the proxies
    populated so far (``null`` when none), no nosniff header."""
    cases = [
        (b'{"name":"x"}', 400, "bad request body: json: cannot unmarshal object into Go "
                               f"value of type {POPULATE_TYPE}"),
        (b"", 400, "bad request body: EOF"),
        (b"[{bad", 400, "bad request body: invalid character 'b' looking for beginning of "
                        "object key string"),
        (json.dumps([{"name": "ok", "upstream": UP}, {"upstream": UP}]).encode(), 400,
         "missing required field: name at proxy 2"),
        (json.dumps([{"name": "ok", "upstream": UP}, {"name": "x"}]).encode(), 400,
         "missing required field: upstream at proxy 2"),
        (b'[{"name":5}]', 400, "bad request body: json: cannot unmarshal number into Go "
                               "struct field .name of type string"),
        (json.dumps([{"name": "a", "upstream": UP, "listen": "nohostport"}]).encode(), 500,
         "listen tcp: address nohostport: missing port in address"),
    ]
    for raw, status, message in cases:
        r = call(tp, "POST", "/populate", raw=raw)
        assert (r.status_code, r.content) == (status, populate_error(message, status)), raw
        assert r.headers["Content-Type"] == JSON
        assert "X-Content-Type-Options" not in r.headers
    assert tp.client.list_proxies() == {}
    assert call(tp, "POST", "/populate", raw=b"null").content == b'{"proxies":null}'


def test_populate_bind_failure_reports_what_was_created(tp: Server, echo: Echo) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = f"127.0.0.1:{holder.getsockname()[1]}"
        message = f"listen tcp {taken}: bind: address already in use"
        first = call(tp, "POST", "/populate", [{"name": "c0", "upstream": echo.address,
                                                "listen": taken}])
        assert (first.status_code, first.content) == (500, populate_error(message, 500))
        assert first.headers["Content-Type"] == JSON
        second = call(tp, "POST", "/populate", [
            {"name": "c1", "upstream": echo.address, "listen": "127.0.0.1:0",
             "enabled": False},
            {"name": "c2", "upstream": echo.address, "listen": taken},
            {"name": "c3", "upstream": echo.address}])
    c1 = {"name": "c1", "listen": "127.0.0.1:0", "upstream": echo.address, "enabled": False,
          "Logger": {}, "toxics": []}
    assert (second.status_code, second.content) == (500, populate_error(message, 500, [c1]))
    assert second.headers["Content-Type"] == JSON
    assert sorted(tp.client.list_proxies()) == ["c1"]


# ---------------------------------------------------------------- /metrics (ours only)
def test_metrics_text_is_promhttp_s(tp: Server, echo: Echo) -> None:
    ours_only(tp)  # the real server needs -proxy-metrics, which we cannot set remotely
    p = tp.client.create_proxy('q"\\', echo.address)
    s = socket.create_connection(("127.0.0.1", p.port), timeout=5)
    s.sendall(b"ping")
    assert s.recv(4) == b"ping"
    s.close()
    assert echo.eof.wait(5)
    plain = tp.http.get(tp.url + "/metrics", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers
    zipped = tp.http.post(tp.url + "/metrics", headers={"Accept-Encoding": "gzip"}, stream=True)
    assert zipped.headers["Content-Encoding"] == "gzip"  # any method, gzip when accepted
    text = gzip.decompress(zipped.raw.read()).decode()
    assert text.startswith(
        "# HELP promhttp_metric_handler_errors_total Total number of internal errors "
        "encountered by the promhttp metric handler.\n")
    assert "# HELP toxiproxy_proxy_received_bytes_total \n" in text  # no Help in Go
    line = (f'toxiproxy_proxy_received_bytes_total{{direction="upstream",listener="{p.listen}",'
            f'proxy="q\\"\\\\",upstream="{echo.address}"}} 4\n')
    assert line in text and line in plain.text
    assert call(tp, "DELETE", "/proxies/" + quote(p.name, safe="")).status_code == 204
