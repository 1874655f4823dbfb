"""A Toxiproxy-compatible fault-injection proxy server in asyncio.

Any Toxiproxy client — first of all ``toxiproxy-python``, which our runner and nemesis
use — talks to it exactly as to Toxiproxy v2.12: ``python -m cluster.toxiproxy`` starts
it; ``ToxiproxyServer`` runs it inside an existing event loop (tests do that).
"""

from __future__ import annotations

import contextlib

from aiohttp import web

from cluster.toxiproxy.api import VERSION, Metrics, ToxiproxyState, make_app

__all__ = ["VERSION", "ToxiproxyServer"]


class ToxiproxyServer:
    """``port = await server.start("127.0.0.1", 0)`` ... ``await server.stop()``."""

    def __init__(self, proxy_metrics: bool = False, runtime_metrics: bool = False) -> None:
        self.state = ToxiproxyState(Metrics(proxy_metrics, runtime_metrics))
        self._runner: web.AppRunner | None = None
        self.host = ""
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self, host: str = "127.0.0.1", port: int = 8474) -> int:
        runner = web.AppRunner(make_app(self.state), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
        self._runner = runner
        server = site._server
        sockets = getattr(server, "sockets", None) or []
        self.host, self.port = host, int(sockets[0].getsockname()[1]) if sockets else port
        return self.port

    async def stop(self) -> None:
        """Close every proxy and live connection, then the HTTP API."""
        await self.state.stop_all()
        if self._runner is not None:
            with contextlib.suppress(Exception):
                await self._runner.cleanup()
            self._runner = None
