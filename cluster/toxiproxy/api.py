"""Toxiproxy's HTTP API (v2.12.0, api.go) on aiohttp.

Status codes, error bodies and object shapes follow
``shared/reference/toxiproxy-api.md`` point by point, so ``toxiproxy-python`` (and any
other Toxiproxy client) cannot tell this server from the Go one. Where the Go server
crashes on an input (bandwidth rate <= 0, slicer average_size 0, negative values) we
answer 400 with a clear message instead.

The wire format is net/http's and encoding/json's, byte for byte (checked against a real
v2.12.0 server, see tests/toxiproxy/test_wire.py): JSON answers are ``application/json``
with no charset, errors go through http.Error (``text/plain; charset=utf-8``, nosniff,
a newline) except /populate's, request bodies are decoded and their errors worded as Go
does (``gojson``), headers come in net/http's order without a ``Server`` header, bodies
over 2048 bytes are chunked, and request ids are xids.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import gzip
import hashlib
import json
import math
import os
import resource
import socket
import struct
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from aiohttp import web
from aiohttp.http import HttpVersion11

from cluster.toxiproxy.gojson import (
    BOOL,
    FLOAT32,
    INT,
    INT64,
    STRING,
    Boxed,
    Decoder,
    GoJSONError,
    Iface,
    Ptr,
    Slice,
    Struct,
    dumps,
    read_value,
)
from cluster.toxiproxy.proxy import Connection, Proxy, ProxyStartError, resolved_string
from cluster.toxiproxy.toxics import TOXIC_TYPES, Toxic, ToxicError, validate_attributes

__all__ = ["VERSION", "ApiError", "Metrics", "ToxiproxyState", "make_app"]

VERSION = "2.12.0"
REQUEST_ID_HEADER = "X-Toxiproxy-Request-Id"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


JSON_TYPE = "application/json"  # what Go's handlers set: no charset parameter
TEXT_TYPE = "text/plain; charset=utf-8"  # http.Error's
GO_CHUNKING_THRESHOLD = 2048  # net/http's bufferBeforeChunkingSize


def _json(value: Any, status: int = 200) -> web.Response:
    """A handler's JSON answer: json.Marshal's bytes, no trailing newline."""
    return web.Response(body=dumps(value).encode(), status=status,
                        headers={"Content-Type": JSON_TYPE})


def _text(body: str, status: int) -> web.Response:
    """Go's http.Error: the body plus a newline, text/plain, and nosniff (§2)."""
    return web.Response(body=(body + "\n").encode(), status=status,
                        headers={"Content-Type": TEXT_TYPE, "X-Content-Type-Options": "nosniff"})


def _error(message: str, status: int) -> web.Response:
    """apiError: the JSON of {"error", "status"} sent through http.Error (§2)."""
    return _text(dumps({"error": message, "status": status}), status)


# --------------------------------------------------------------------------- decoding
# The Go structs the server decodes request bodies into (for Go's type error messages).
_LOGGER = Ptr(Struct("Logger", "zerolog.Logger"))  # Proxy.Logger has no json tag
PROXY = Struct("Proxy", "toxiproxy.Proxy", {
    "name": STRING, "listen": STRING, "upstream": STRING, "enabled": BOOL, "Logger": _LOGGER})
_POPULATE_ENTRY = Struct("", 'struct { toxiproxy.Proxy; Enabled *bool "json:\\"enabled\\"" }', {
    "name": STRING, "listen": STRING, "upstream": STRING, "enabled": Ptr(BOOL),
    "Logger": _LOGGER})
POPULATE = Slice("[]" + _POPULATE_ENTRY.type, _POPULATE_ENTRY)
_NOOP = Struct("NoopToxic", "toxics.NoopToxic")
TOXIC_WRAPPER = Struct("ToxicWrapper", "toxics.ToxicWrapper", {
    "attributes": Iface("toxics.Toxic", empty=False), "name": STRING, "type": STRING,
    "stream": STRING, "toxicity": FLOAT32})
_ANY = Iface("interface {}", empty=True)
_ATTRIBUTES = 'Attributes interface {} "json:\\"attributes\\""'
TOXIC_ATTRIBUTES = Struct("", f"struct {{ {_ATTRIBUTES} }}", {"attributes": _ANY})
TOXIC_UPDATE = Struct("", f'struct {{ {_ATTRIBUTES}; Toxicity float32 "json:\\"toxicity\\"" }}',
                      {"attributes": _ANY, "toxicity": FLOAT32})
_GO_TOXIC_NAMES = {"noop": "NoopToxic", "latency": "LatencyToxic",
                   "bandwidth": "BandwidthToxic", "slow_close": "SlowCloseToxic",
                   "timeout": "TimeoutToxic", "reset_peer": "ResetToxic",
                   "slicer": "SlicerToxic", "limit_data": "LimitDataToxic"}
TOXIC_STRUCTS = {
    type_: Struct(_GO_TOXIC_NAMES[type_], f"toxics.{_GO_TOXIC_NAMES[type_]}",
                  dict.fromkeys(attrs, INT if type_ == "slicer" else INT64))
    for type_, attrs in TOXIC_TYPES.items()}


def _read(raw: bytes) -> Any:
    """The first JSON value of a body, as json.Decoder.Decode reads it (§2)."""
    try:
        return read_value(raw)
    except GoJSONError as e:
        raise ApiError(f"bad request body: {e}", 400) from None


def _unmarshal(go_type: Any, value: Any, current: Any) -> Any:
    """json.Unmarshal into ``current`` (a model of a Go value); a type error is a 400."""
    decoder = Decoder()
    result = decoder.decode(go_type, value, current)
    if decoder.error is not None:
        raise ApiError(f"bad request body: {decoder.error}", 400)
    return result


def _validated(type_: str, attrs: dict[str, int]) -> dict[str, int]:
    try:
        validate_attributes(type_, attrs)
    except ToxicError as e:
        raise ApiError(str(e), 400) from None
    return attrs


class _XID:
    """Request ids as hlog.RequestIDHandler makes them: rs/xid, 20 base32hex characters
    (4-byte time, 3-byte machine id, 2-byte pid, 3-byte counter)."""

    def __init__(self) -> None:
        machine = b""
        for path in ("/etc/machine-id", "/sys/class/dmi/id/product_uuid"):
            try:
                with open(path, "rb") as f:
                    machine = f.read().strip()
            except OSError:
                continue
            if machine:
                break
        self.machine = hashlib.sha256(machine or socket.gethostname().encode()).digest()[:3]
        self.pid = struct.pack(">H", os.getpid() & 0xFFFF)
        self.counter = int.from_bytes(os.urandom(3), "big")

    def new(self) -> str:
        self.counter = (self.counter + 1) & 0xFFFFFF
        raw = (struct.pack(">I", int(time.time()) & 0xFFFFFFFF) + self.machine + self.pid +
               self.counter.to_bytes(3, "big"))
        return base64.b32hexencode(raw).decode("ascii").lower()[:20]


_request_ids = _XID()


# --------------------------------------------------------------------------- metrics
class Metrics:
    """Prometheus counters, added when a connection's links finish (reference §8)."""

    def __init__(self, proxy_metrics: bool, runtime_metrics: bool) -> None:
        self.proxy_metrics = proxy_metrics
        self.runtime_metrics = runtime_metrics
        self.received: dict[tuple[str, str, str, str], int] = {}
        self.sent: dict[tuple[str, str, str, str], int] = {}
        self.started = time.time()

    @property
    def enabled(self) -> bool:
        return self.proxy_metrics or self.runtime_metrics

    def link_done(self, proxy: Proxy, conn: Connection) -> None:
        for direction, link in conn.links.items():
            key = (direction, proxy.name, proxy.listen, proxy.upstream)
            self.received[key] = self.received.get(key, 0) + link.received
            self.sent[key] = self.sent.get(key, 0) + link.sent

    def render(self) -> str:
        """The Prometheus text format as promhttp writes it: families sorted by name,
        empty ones left out, series sorted by their labels (by label name), label values
        escaped, values formatted as Go's FormatFloat(v, 'g', -1, 64)."""
        families: list[tuple[str, str, str, list[tuple[dict[str, str], float]]]] = [
            ("promhttp_metric_handler_errors_total", "Total number of internal errors "
             "encountered by the promhttp metric handler.", "counter",
             [({"cause": "encoding"}, 0), ({"cause": "gathering"}, 0)])]
        if self.proxy_metrics:
            for metric, table in (("toxiproxy_proxy_received_bytes_total", self.received),
                                  ("toxiproxy_proxy_sent_bytes_total", self.sent)):
                families.append((metric, "", "counter", [  # the Go collectors have no Help
                    ({"direction": direction, "proxy": proxy, "listener": listener,
                      "upstream": upstream}, n)
                    for (direction, proxy, listener, upstream), n in table.items()]))
        if self.runtime_metrics:
            usage = resource.getrusage(resource.RUSAGE_SELF)
            families += [
                ("process_cpu_seconds_total",
                 "Total user and system CPU time spent in seconds.", "counter",
                 [({}, usage.ru_utime + usage.ru_stime)]),
                ("process_open_fds", "Number of open file descriptors.", "gauge",
                 [({}, len(os.listdir("/proc/self/fd")))]),
                ("process_start_time_seconds",
                 "Start time of the process since unix epoch in seconds.", "gauge",
                 [({}, self.started)]),
            ]
        lines: list[str] = []
        for metric, help_, kind, series in sorted(families):
            if not series:
                continue
            lines += [f"# HELP {metric} {_escape_help(help_)}", f"# TYPE {metric} {kind}"]
            rows = sorted((tuple(sorted(labels.items())), value) for labels, value in series)
            for labels, value in rows:
                text = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels)
                lines.append(f"{metric}{{{text}}} {_go_float(value)}" if text else
                             f"{metric} {_go_float(value)}")
        return "\n".join(lines) + "\n"


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _escape_label(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _go_float(value: float) -> str:
    """strconv.FormatFloat(v, 'g', -1, 64): shortest digits, exponent form from 1e+06."""
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    text = "".join(map(str, digits))
    exp = len(text) + exponent - 1  # the decimal exponent of the first digit
    minus = "-" if sign else ""
    if exp < -4 or exp >= 6:
        mantissa = text[0] + ("." + text[1:] if len(text) > 1 else "")
        return f"{minus}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    return minus + format(Decimal(repr(abs(value))).normalize(), "f")


# --------------------------------------------------------------------------- state
class ToxiproxyState:
    """Every proxy by name; mutations are serialised by one lock."""

    def __init__(self, metrics: Metrics) -> None:
        self.proxies: dict[str, Proxy] = {}
        self.metrics = metrics
        self.lock = asyncio.Lock()

    def get(self, name: str) -> Proxy:
        proxy = self.proxies.get(name)
        if proxy is None:
            raise ApiError("proxy not found", 404)
        return proxy

    async def create(self, name: str, listen: str, upstream: str, enabled: bool) -> Proxy:
        proxy = Proxy(name, listen, upstream, self.metrics)
        if enabled:
            await _start(proxy)
        self.proxies[name] = proxy
        return proxy

    async def stop_all(self) -> None:
        for proxy in list(self.proxies.values()):
            await proxy.stop()


async def _start(proxy: Proxy) -> None:
    try:
        await proxy.start()
    except ProxyStartError as e:
        raise ApiError(str(e), 500) from None


def _differs(proxy: Proxy, listen: str, upstream: str) -> bool:
    try:
        resolved = resolved_string(listen)
    except ProxyStartError as e:
        raise ApiError(str(e).replace("listen tcp: ", ""), 500) from None
    return resolved != proxy.listen or upstream != proxy.upstream


# --------------------------------------------------------------------------- handlers
class Api:
    def __init__(self, state: ToxiproxyState) -> None:
        self.state = state

    async def version(self, request: web.Request) -> web.Response:
        return web.Response(body=(json.dumps({"version": VERSION}) + "\n").encode(),
                            headers={"Content-Type": "application/json;charset=utf-8"})

    async def list_proxies(self, request: web.Request) -> web.Response:
        return _json({name: p.to_json() for name, p in sorted(self.state.proxies.items())})

    async def create_proxy(self, request: web.Request) -> web.Response:
        fields = _unmarshal(PROXY, _read(await request.read()), {"enabled": True})
        name, upstream = fields.get("name", ""), fields.get("upstream", "")
        if not name:
            raise ApiError("missing required field: name", 400)
        if not upstream:
            raise ApiError("missing required field: upstream", 400)
        async with self.state.lock:
            if name in self.state.proxies:
                raise ApiError("proxy already exists", 409)
            proxy = await self.state.create(name, fields.get("listen") or "127.0.0.1:0",
                                            upstream, fields["enabled"])
        return _json(proxy.to_json(), 201)

    async def show_proxy(self, request: web.Request) -> web.Response:
        return _json(self.state.get(request.match_info["proxy"]).to_json())

    async def update_proxy(self, request: web.Request) -> web.Response:
        async with self.state.lock:
            proxy = self.state.get(request.match_info["proxy"])
            fields = _unmarshal(PROXY, _read(await request.read()), {
                "listen": proxy.listen, "upstream": proxy.upstream, "enabled": proxy.enabled})
            # Go decodes over the current values, so an explicit "" is taken as is; only
            # an empty listen is kept, as Go would bind every interface (reference §5)
            listen = fields["listen"] or proxy.listen
            upstream, enabled = fields["upstream"], fields["enabled"]
            if _differs(proxy, listen, upstream):
                await proxy.stop()
                proxy.listen, proxy.upstream = listen, upstream
                if enabled:
                    await _start(proxy)
            elif enabled:
                await _start(proxy)
            else:
                await proxy.stop()
        return _json(proxy.to_json())

    async def delete_proxy(self, request: web.Request) -> web.Response:
        async with self.state.lock:
            proxy = self.state.get(request.match_info["proxy"])
            await proxy.stop()
            del self.state.proxies[proxy.name]
        return web.Response(status=204)

    async def list_toxics(self, request: web.Request) -> web.Response:
        proxy = self.state.get(request.match_info["proxy"])
        return _json([t.to_json() for t in proxy.all_toxics()])

    async def create_toxic(self, request: web.Request) -> web.Response:
        async with self.state.lock:
            proxy = self.state.get(request.match_info["proxy"])
            body = _read(await request.read())
            # AddToxicJson: decode into a ToxicWrapper holding a NoopToxic, check the
            # stream, the type and the name, then decode the attributes again (§4)
            wrapper = _unmarshal(TOXIC_WRAPPER, body, {
                "attributes": Boxed(_NOOP, {}), "stream": "downstream", "toxicity": 1.0})
            stream = wrapper["stream"]
            if stream.lower() not in ("upstream", "downstream"):
                raise ApiError("stream was invalid, can be either upstream or downstream", 400)
            type_ = wrapper.get("type", "")
            name = wrapper.get("name") or f"{type_}_{stream}"
            if type_ not in TOXIC_TYPES:
                raise ApiError("invalid toxic type", 400)
            if proxy.find_toxic(name) is not None:
                raise ApiError("toxic already exists", 409)
            box = Boxed(TOXIC_STRUCTS[type_], dict.fromkeys(TOXIC_TYPES[type_], 0))
            _unmarshal(TOXIC_ATTRIBUTES, body, {"attributes": box})
            attrs = _validated(type_, box.values)
            toxic = Toxic(name, type_, stream, wrapper["toxicity"], attrs)
            proxy.toxics[toxic.direction].append(toxic)
            proxy.toxics_changed(toxic.direction)
        return _json(toxic.to_json())

    def _toxic(self, request: web.Request) -> tuple[Proxy, Toxic]:
        proxy = self.state.get(request.match_info["proxy"])
        toxic = proxy.find_toxic(request.match_info["toxic"])
        if toxic is None:
            raise ApiError("toxic not found", 404)
        return proxy, toxic

    async def show_toxic(self, request: web.Request) -> web.Response:
        return _json(self._toxic(request)[1].to_json())

    async def update_toxic(self, request: web.Request) -> web.Response:
        async with self.state.lock:
            proxy, toxic = self._toxic(request)
            body = _read(await request.read())
            # UpdateToxicJson decodes straight into the live toxic's attributes, so Go
            # keeps the attributes it decoded even when the body has a type error
            box = Boxed(TOXIC_STRUCTS[toxic.type], dict(toxic.attributes))
            decoder = Decoder()
            fields = decoder.decode(TOXIC_UPDATE, body, {"attributes": box,
                                                         "toxicity": toxic.toxicity})
            if decoder.error is not None:
                with contextlib.suppress(ApiError):
                    attrs = _validated(toxic.type, box.values)
                    if attrs != toxic.attributes:
                        toxic.attributes = attrs
                        proxy.toxics_changed(toxic.direction)
                raise ApiError(f"bad request body: {decoder.error}", 400)
            attrs = _validated(toxic.type, box.values)
            toxic.toxicity, toxic.attributes = fields["toxicity"], attrs
            proxy.toxics_changed(toxic.direction)
        return _json(toxic.to_json())

    async def delete_toxic(self, request: web.Request) -> web.Response:
        async with self.state.lock:
            proxy, toxic = self._toxic(request)
            proxy.remove_toxic(toxic)
        return web.Response(status=204)

    async def reset(self, request: web.Request) -> web.Response:
        async with self.state.lock:
            for proxy in [self.state.proxies[n] for n in sorted(self.state.proxies)]:
                await _start(proxy)
                for toxic in proxy.all_toxics():
                    proxy.remove_toxic(toxic)
        return web.Response(status=204)

    async def populate(self, request: web.Request) -> web.Response:
        """Every outcome, errors included, is JSON with the proxies populated so far
        (``null`` when none): Go's Populate handler does not use http.Error (§6)."""
        done: list[dict[str, Any]] = []
        try:
            body = _read(await request.read())
            entries = []
            for i, entry in enumerate(_unmarshal(POPULATE, body, None) or [],
                                      start=1):
                for field in ("name", "upstream"):
                    if not entry.get(field):
                        raise ApiError(f"missing required field: {field} at proxy {i}", 400)
                enabled = entry.get("enabled")
                entries.append((entry["name"], entry.get("listen") or "127.0.0.1:0",
                                entry["upstream"], True if enabled is None else enabled))
            async with self.state.lock:
                for name, listen, upstream, enabled in entries:
                    done.append((await self._add_or_replace(name, listen, upstream,
                                                            enabled)).to_json())
        except ApiError as e:
            return _json({"error": e.message, "status": e.status, "proxies": done or None},
                         e.status)
        return _json({"proxies": done or None}, 201)

    async def _add_or_replace(self, name: str, listen: str, upstream: str,
                              enabled: bool) -> Proxy:
        old = self.state.proxies.get(name)
        if old is not None:
            if not _differs(old, listen, upstream):
                return old  # untouched: toxics and enabled state kept (§6)
            await old.stop()
            del self.state.proxies[name]
        return await self.state.create(name, listen, upstream, enabled)

    async def metrics(self, request: web.Request) -> web.Response:
        body = self.state.metrics.render().encode()
        headers = {"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
        accepted = request.headers.get("Accept-Encoding", "").split(",")
        if any(p.strip() == "gzip" or p.strip().startswith("gzip;") for p in accepted):
            body = gzip.compress(body)  # promhttp compresses whenever gzip is accepted
            headers["Content-Encoding"] = "gzip"
        return web.Response(body=body, headers=headers)


@web.middleware
async def _middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    exc = request.match_info.http_exception
    if exc is not None:  # mux 404/405: no request id, Go's bodies
        if exc.status == 405:
            return web.Response(status=405)
        return _text("404 page not found", 404)
    request_id = _request_ids.new()
    if request.headers.get("User-Agent", "").startswith("Mozilla/"):
        resp: web.StreamResponse = _text("User agent not allowed", 403)
    else:
        try:
            resp = await asyncio.wait_for(handler(request), 25.0)
        except ApiError as e:
            resp = _error(e.message, e.status)
        except TimeoutError:
            resp = web.Response(text="<html><head><title>Timeout</title></head><body><h1>"
                                "Timeout</h1></body></html>", status=503,
                                content_type="text/html")
    resp.headers[REQUEST_ID_HEADER] = request_id
    if (isinstance(resp, web.Response) and isinstance(resp.body, bytes) and
            len(resp.body) > GO_CHUNKING_THRESHOLD and request.version == HttpVersion11):
        resp.enable_chunked_encoding()  # net/http chunks what it could not buffer
    return resp


_GO_EXTRA_HEADERS = ("date", "content-length", "connection", "transfer-encoding")


async def _go_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Headers as net/http writes them: the handler's sorted by name, then Date,
    Content-Length, Connection, Transfer-Encoding; and no Server header."""
    headers = response.headers
    own = sorted(((str(k), v) for k, v in headers.items()
                  if k.lower() not in _GO_EXTRA_HEADERS and k.lower() != "server"),
                 key=lambda kv: kv[0])
    extra = [(str(k), v) for name in _GO_EXTRA_HEADERS for k, v in headers.items()
             if k.lower() == name]
    headers.clear()
    for key, value in own + extra:
        headers.add(key, value)


def make_app(state: ToxiproxyState) -> web.Application:
    api = Api(state)
    app = web.Application(middlewares=[_middleware], client_max_size=16 << 20)
    app.on_response_prepare.append(_go_headers)
    r = app.router
    r.add_get("/version", api.version, allow_head=False)
    r.add_get("/proxies", api.list_proxies, allow_head=False)
    r.add_post("/proxies", api.create_proxy)
    r.add_post("/populate", api.populate)
    r.add_post("/reset", api.reset)
    r.add_get("/proxies/{proxy}", api.show_proxy, allow_head=False)
    r.add_post("/proxies/{proxy}", api.update_proxy)
    r.add_patch("/proxies/{proxy}", api.update_proxy)
    r.add_delete("/proxies/{proxy}", api.delete_proxy)
    r.add_get("/proxies/{proxy}/toxics", api.list_toxics, allow_head=False)
    r.add_post("/proxies/{proxy}/toxics", api.create_toxic)
    r.add_get("/proxies/{proxy}/toxics/{toxic}", api.show_toxic, allow_head=False)
    r.add_post("/proxies/{proxy}/toxics/{toxic}", api.update_toxic)
    r.add_patch("/proxies/{proxy}/toxics/{toxic}", api.update_toxic)
    r.add_delete("/proxies/{proxy}/toxics/{toxic}", api.delete_toxic)
    if state.metrics.enabled:
        r.add_route("*", "/metrics", api.metrics)  # promhttp answers any method
    return app

