"""Toxiproxy's HTTP API (v2.12.0, api.go) on aiohttp.

Status codes, error bodies and object shapes follow
``shared/reference/toxiproxy-api.md`` point by point, so ``toxiproxy-python`` (and any
other Toxiproxy client) cannot tell this server from the Go one. Where the Go server
crashes on an input (bandwidth rate <= 0, slicer average_size 0, negative values) we
answer 400 with a clear message instead.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

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


def _compact(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _json(value: Any, status: int = 200) -> web.Response:
    return web.Response(text=_compact(value), status=status, content_type="application/json")


def _error(message: str, status: int) -> web.Response:
    """Go's http.Error: JSON text, but Content-Type text/plain, plus nosniff (§2)."""
    body = _compact({"error": message, "status": status}) + "\n"
    resp = web.Response(text=body, status=status, content_type="text/plain", charset="utf-8")
    resp.headers["X-Content-Type-Options"] = "nosniff"
    return resp


# --------------------------------------------------------------------------- decoding
def _decode(raw: bytes) -> Any:
    """The first JSON value of a body, Go-style (trailing bytes ignored)."""
    text = raw.decode("utf-8", errors="replace").lstrip()
    if not text:
        raise ApiError("bad request body: EOF", 400)
    try:
        value, _ = json.JSONDecoder().raw_decode(text)
    except json.JSONDecodeError as e:
        raise ApiError(f"bad request body: invalid character at offset {e.pos}: {e.msg}",
                       400) from None
    return value


def _field(obj: dict[str, Any], key: str) -> tuple[bool, Any]:
    """Case-insensitive key lookup, exact match first (Go's encoding/json)."""
    if key in obj:
        return True, obj[key]
    for k, v in obj.items():
        if k.lower() == key.lower():
            return True, v
    return False, None


def _typed(obj: dict[str, Any], key: str, kind: type, where: str, default: Any = None) -> Any:
    present, value = _field(obj, key)
    if not present or value is None:
        return default
    ok = isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
    if kind is float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    if not ok:
        raise ApiError(f"bad request body: json: cannot unmarshal {_jtype(value)} into Go "
                       f"struct field {where}.{key} of type {_gotype(kind)}", 400)
    return value


def _jtype(value: Any) -> str:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _gotype(kind: type) -> str:
    return {str: "string", bool: "bool", float: "float32", int: "int64", dict: "map"}[kind]


def _object(value: Any, where: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ApiError(f"bad request body: json: cannot unmarshal {_jtype(value)} into Go "
                       f"value of type {where}", 400)
    return value


def _attributes(type_: str, raw: Any, base: dict[str, int]) -> dict[str, int]:
    attrs = dict(base)
    if raw is None:
        return attrs
    obj = _object(raw, f"toxics.{type_}")
    for name in TOXIC_TYPES[type_]:
        present, value = _field(obj, name)
        if not present or value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int | float) or (
                isinstance(value, float) and not value.is_integer()) or isinstance(value, float):
            raise ApiError(f"bad request body: json: cannot unmarshal {_jtype(value)} "
                           f"{value} into Go struct field {type_}.attributes.{name} of type "
                           "int64", 400)
        attrs[name] = int(value)
    try:
        validate_attributes(type_, attrs)
    except ToxicError as e:
        raise ApiError(str(e), 400) from None
    return attrs


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
        lines: list[str] = []
        if self.proxy_metrics:
            for metric, table, help_ in (
                ("toxiproxy_proxy_received_bytes_total", self.received,
                 "The total bytes received from a source"),
                ("toxiproxy_proxy_sent_bytes_total", self.sent,
                 "The total bytes sent to a destination"),
            ):
                lines += [f"# HELP {metric} {help_}", f"# TYPE {metric} counter"]
                for (direction, proxy, listener, upstream), n in sorted(table.items()):
                    lines.append(f'{metric}{{direction="{direction}",listener="{listener}",'
                                 f'proxy="{proxy}",upstream="{upstream}"}} {n}')
        if self.runtime_metrics:
            usage = resource.getrusage(resource.RUSAGE_SELF)
            lines += [
                "# HELP process_cpu_seconds_total Total user and system CPU time spent in "
                "seconds.", "# TYPE process_cpu_seconds_total counter",
                f"process_cpu_seconds_total {usage.ru_utime + usage.ru_stime}",
                "# HELP process_open_fds Number of open file descriptors.",
                "# TYPE process_open_fds gauge",
                f"process_open_fds {len(os.listdir('/proc/self/fd'))}",
                "# HELP process_start_time_seconds Start time of the process since unix epoch.",
                "# TYPE process_start_time_seconds gauge",
                f"process_start_time_seconds {self.started}",
            ]
        return "\n".join(lines) + "\n"


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


def _proxy_fields(body: dict[str, Any], where: str = "proxy") -> tuple[str, str, str, Any]:
    name = _typed(body, "name", str, where, "")
    listen = _typed(body, "listen", str, where, "")
    upstream = _typed(body, "upstream", str, where, "")
    enabled = _typed(body, "enabled", bool, where, None)
    return name, listen, upstream, enabled


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
        body = _object(_decode(await request.read()), "proxy")
        name, listen, upstream, enabled = _proxy_fields(body)
        if not name:
            raise ApiError("missing required field: name", 400)
        if not upstream:
            raise ApiError("missing required field: upstream", 400)
        async with self.state.lock:
            if name in self.state.proxies:
                raise ApiError("proxy already exists", 409)
            proxy = await self.state.create(name, listen or "127.0.0.1:0", upstream,
                                            True if enabled is None else enabled)
        return _json(proxy.to_json(), 201)

    async def show_proxy(self, request: web.Request) -> web.Response:
        return _json(self.state.get(request.match_info["proxy"]).to_json())

    async def update_proxy(self, request: web.Request) -> web.Response:
        async with self.state.lock:
            proxy = self.state.get(request.match_info["proxy"])
            body = _object(_decode(await request.read()), "proxy")
            _, listen, upstream, enabled = _proxy_fields(body)
            listen, upstream = listen or proxy.listen, upstream or proxy.upstream
            enabled = proxy.enabled if enabled is None else enabled
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
            body = _object(_decode(await request.read()), "toxic")
            stream = _typed(body, "stream", str, "toxic", None)
            if stream is None:
                stream = "downstream"
            if stream.lower() not in ("upstream", "downstream"):
                raise ApiError("stream was invalid, can be either upstream or downstream", 400)
            type_ = _typed(body, "type", str, "toxic", "")
            name = _typed(body, "name", str, "toxic", "") or f"{type_}_{stream}"
            if type_ not in TOXIC_TYPES:
                raise ApiError("invalid toxic type", 400)
            if proxy.find_toxic(name) is not None:
                raise ApiError("toxic already exists", 409)
            toxicity = float(_typed(body, "toxicity", float, "toxic", 1.0))
            base = dict.fromkeys(TOXIC_TYPES[type_], 0)
            attrs = _attributes(type_, _field(body, "attributes")[1], base)
            toxic = Toxic(name, type_, stream, toxicity, attrs)
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
            body = _object(_decode(await request.read()), "toxic")
            toxicity = float(_typed(body, "toxicity", float, "toxic", toxic.toxicity))
            attrs = _attributes(toxic.type, _field(body, "attributes")[1], toxic.attributes)
            toxic.toxicity, toxic.attributes = toxicity, attrs
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
        body = _decode(await request.read())
        if not isinstance(body, list):
            raise ApiError("bad request body: json: cannot unmarshal object into Go value of "
                           "type []struct { Name string; Listen string; Upstream string; "
                           "Enabled *bool }", 400)
        entries = []
        for i, raw in enumerate(body, start=1):
            name, listen, upstream, enabled = _proxy_fields(_object(raw, "proxy"))
            for field, value in (("name", name), ("upstream", upstream)):
                if not value:
                    raise ApiError(f"missing required field: {field} at proxy {i}", 400)
            entries.append((name, listen or "127.0.0.1:0", upstream,
                            True if enabled is None else enabled))
        done: list[dict[str, Any]] = []
        async with self.state.lock:
            for name, listen, upstream, enabled in entries:
                try:
                    done.append((await self._add_or_replace(name, listen, upstream,
                                                            enabled)).to_json())
                except ApiError as e:
                    return web.Response(text=_compact({"error": e.message, "status": e.status,
                                                       "proxies": done}),
                                        status=e.status, content_type="application/json")
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
        return web.Response(text=self.state.metrics.render(),
                            headers={"Content-Type":
                                     "text/plain; version=0.0.4; charset=utf-8"})


@web.middleware
async def _middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    exc = request.match_info.http_exception
    if exc is not None:  # mux 404/405: no request id, Go's bodies
        if exc.status == 405:
            return web.Response(status=405)
        return web.Response(text="404 page not found\n", status=404, content_type="text/plain",
                            charset="utf-8")
    request_id = uuid.uuid4().hex[:20]
    if request.headers.get("User-Agent", "").startswith("Mozilla/"):
        resp: web.StreamResponse = web.Response(text="User agent not allowed\n", status=403,
                                                content_type="text/plain", charset="utf-8")
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
    return resp


def make_app(state: ToxiproxyState) -> web.Application:
    api = Api(state)
    app = web.Application(middlewares=[_middleware], client_max_size=16 << 20)
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
        r.add_get("/metrics", api.metrics, allow_head=False)
    return app

