"""A client for any Toxiproxy-compatible server (ours, or a real ``toxiproxy-server``).

It drives the server through the standard ``toxiproxy-python`` package (0.1.1) and adds
what that package lacks:

* a timeout on every request (it calls ``requests`` with none, so a hung server hangs
  the caller forever);
* per-client server addresses (it keeps host/port in class-level globals of
  ``APIConsumer``): each call sets them under one process-wide lock;
* clear, typed errors (it ignores 403/405/5xx and turns a 500 from create into
  ``KeyError: 'name'``): ``NotFound``, ``Conflict``, ``BadRequest``, ``ServerError``,
  ``ToxiproxyUnavailable``, all ``ToxiproxyError(status, message)``;
* the calls it does not have (show/update a toxic, PATCH a proxy, ``/populate``) over the
  same session.

It is synchronous and thread-safe; asyncio code calls it with ``asyncio.to_thread``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

import requests
import toxiproxy
import toxiproxy.api
from toxiproxy.api import APIConsumer

__all__ = [
    "BadRequest",
    "Conflict",
    "NotFound",
    "ProxyInfo",
    "ServerError",
    "ToxicInfo",
    "ToxiproxyClient",
    "ToxiproxyError",
    "ToxiproxyUnavailable",
]

_LOCK = threading.RLock()  # guards toxiproxy-python's class-level globals


class ToxiproxyError(Exception):
    def __init__(self, status: int, message: str) -> None:
        self.status = status
        self.message = message
        super().__init__(f"toxiproxy HTTP {status}: {message}")


class BadRequest(ToxiproxyError):
    """400: a malformed request or an invalid toxic."""


class NotFound(ToxiproxyError):
    """404: no such proxy or toxic."""


class Conflict(ToxiproxyError):
    """409: a proxy or toxic of that name exists."""


class ServerError(ToxiproxyError):
    """5xx: e.g. the listen port is in use."""


class ToxiproxyUnavailable(ToxiproxyError):
    """The server could not be reached or did not answer in time."""


@dataclass(frozen=True, slots=True)
class ToxicInfo:
    name: str
    type: str
    stream: str
    toxicity: float
    attributes: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> ToxicInfo:
        return cls(raw["name"], raw["type"], raw["stream"], float(raw.get("toxicity", 1.0)),
                   dict(raw.get("attributes") or {}))


@dataclass(frozen=True, slots=True)
class ProxyInfo:
    name: str
    listen: str
    upstream: str
    enabled: bool
    toxics: tuple[ToxicInfo, ...] = ()

    @classmethod
    def of(cls, raw: Mapping[str, Any]) -> ProxyInfo:
        return cls(raw["name"], raw["listen"], raw["upstream"], bool(raw["enabled"]),
                   tuple(ToxicInfo.of(t) for t in raw.get("toxics") or ()))

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


def _raise_for(response: requests.Response) -> None:
    if response.status_code < 400:
        return
    try:
        message = str(response.json().get("error", response.text))
    except ValueError:
        message = response.text.strip() or response.reason
    cls = {400: BadRequest, 404: NotFound, 409: Conflict}.get(response.status_code)
    if cls is None:
        cls = ServerError if response.status_code >= 500 else ToxiproxyError
    raise cls(response.status_code, message)


class _TimedRequests:
    """Stands in for the ``requests`` module inside toxiproxy.api: same calls, with our
    session, our timeout and our errors. Configured per call under ``_LOCK``."""

    session: requests.Session | None = None
    timeout_s: float = 5.0

    def _do(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        session = self.session or requests.Session()
        try:
            response = session.request(method, url, timeout=self.timeout_s, **kwargs)
        except requests.RequestException as e:
            raise ToxiproxyUnavailable(0, f"{method} {url}: {e}") from None
        _raise_for(response)
        return response

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self._do("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> requests.Response:
        return self._do("POST", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> requests.Response:
        return self._do("DELETE", url, **kwargs)


_SHIM = _TimedRequests()
toxiproxy.api.requests = _SHIM  # every toxiproxy-python call now goes through the shim


class ToxiproxyClient:
    """``ToxiproxyClient("http://127.0.0.1:8474", timeout_s=5)``."""

    def __init__(self, url: str = "http://127.0.0.1:8474", timeout_s: float = 5.0) -> None:
        parsed = urlparse(url if "//" in url else f"http://{url}")
        if not parsed.hostname or not parsed.port:
            raise ValueError(f"toxiproxy url must look like http://HOST:PORT, got {url!r}")
        self.url = f"http://{parsed.hostname}:{parsed.port}"
        self.host, self.port = parsed.hostname, parsed.port
        self.timeout_s = timeout_s
        self._session = requests.Session()
        self._session.headers["User-Agent"] = "protocols-cluster/toxi"
        self._server = toxiproxy.Toxiproxy()

    def _bind(self) -> None:
        """Point toxiproxy-python's globals at this client's server (hold _LOCK)."""
        APIConsumer.host, APIConsumer.port = self.host, self.port
        _SHIM.session, _SHIM.timeout_s = self._session, self.timeout_s

    def _proxy(self, name: str) -> toxiproxy.Proxy:
        return toxiproxy.Proxy(name=name, upstream="", enabled=True, listen="")

    def _raw(self, method: str, path: str, body: Any = None) -> Any:
        with _LOCK:
            self._bind()
            response = _SHIM._do(method, self.url + path, json=body)
        return response.json() if response.content else None

    # ------------------------------------------------------------------ server
    def version(self) -> str:
        with _LOCK:
            self._bind()
            raw = self._server.version()
        if raw is None:
            raise ToxiproxyUnavailable(0, f"no toxiproxy server at {self.url}")
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        return text.split('"version":', 1)[-1].strip().strip('}"\n ').strip('"')

    def wait_ready(self, deadline_s: float = 10.0) -> str:
        """Poll /version until the server answers; ToxiproxyUnavailable after the deadline."""
        end = time.monotonic() + deadline_s
        while True:
            try:
                return self.version()
            except ToxiproxyUnavailable:
                if time.monotonic() > end:
                    raise
                time.sleep(0.05)

    def reset(self) -> None:
        with _LOCK:
            self._bind()
            self._server.reset()

    # ------------------------------------------------------------------ proxies
    def list_proxies(self) -> dict[str, ProxyInfo]:
        raw = self._raw("GET", "/proxies")
        return {name: ProxyInfo.of(p) for name, p in sorted(raw.items())}

    def get_proxy(self, name: str) -> ProxyInfo:
        return ProxyInfo.of(self._raw("GET", f"/proxies/{name}"))

    def create_proxy(self, name: str, upstream: str, listen: str = "127.0.0.1:0",
                     enabled: bool = True) -> ProxyInfo:
        body = {"name": name, "upstream": upstream, "listen": listen, "enabled": enabled}
        return ProxyInfo.of(self._raw("POST", "/proxies", body))

    def delete_proxy(self, name: str) -> None:
        with _LOCK:
            self._bind()
            self._proxy(name).destroy()

    def set_enabled(self, name: str, enabled: bool) -> None:
        with _LOCK:
            self._bind()
            proxy = self._proxy(name)
            proxy.enable() if enabled else proxy.disable()

    def update_proxy(self, name: str, **fields: Any) -> ProxyInfo:
        """PATCH ``listen``, ``upstream`` and/or ``enabled``."""
        return ProxyInfo.of(self._raw("PATCH", f"/proxies/{name}", fields))

    def populate(self, proxies: Iterable[Mapping[str, Any]]) -> list[ProxyInfo]:
        raw = self._raw("POST", "/populate", [dict(p) for p in proxies])
        return [ProxyInfo.of(p) for p in raw.get("proxies") or ()]

    # ------------------------------------------------------------------ toxics
    def add_toxic(self, proxy: str, type: str, stream: str = "downstream",
                  name: str | None = None, toxicity: float = 1.0,
                  attributes: Mapping[str, int] | None = None) -> ToxicInfo:
        toxic_name = name or f"{type}_{stream}"
        with _LOCK:
            self._bind()
            self._proxy(proxy).add_toxic(type=type, stream=stream, name=toxic_name,
                                         toxicity=toxicity, attributes=dict(attributes or {}))
        return self.get_toxic(proxy, toxic_name)

    def get_toxic(self, proxy: str, name: str) -> ToxicInfo:
        return ToxicInfo.of(self._raw("GET", f"/proxies/{proxy}/toxics/{name}"))

    def update_toxic(self, proxy: str, name: str, attributes: Mapping[str, int] | None = None,
                     toxicity: float | None = None) -> ToxicInfo:
        body: dict[str, Any] = {}
        if attributes is not None:
            body["attributes"] = dict(attributes)
        if toxicity is not None:
            body["toxicity"] = toxicity
        return ToxicInfo.of(self._raw("POST", f"/proxies/{proxy}/toxics/{name}", body))

    def remove_toxic(self, proxy: str, name: str) -> None:
        with _LOCK:
            self._bind()
            self._proxy(proxy).destroy_toxic(name)

    def list_toxics(self, proxy: str) -> list[ToxicInfo]:
        with _LOCK:
            self._bind()
            toxics = self._proxy(proxy).toxics()
        return [ToxicInfo(t.name, t.type, t.stream, float(t.toxicity), dict(t.attributes))
                for t in toxics.values()]

    def close(self) -> None:
        self._session.close()
