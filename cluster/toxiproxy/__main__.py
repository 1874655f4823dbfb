"""``python -m cluster.toxiproxy [--host 127.0.0.1] [--port 8474] [--config FILE]``

Flags as the Go server's (``-host``, ``-port``, ``-config``, ``-proxy-metrics``,
``-runtime-metrics``, ``-version``), plus ``--ready-file PATH``: once the API accepts
requests, {"host", "port", "pid"} is written there atomically (how the cluster runner,
which starts us with ``--port 0``, learns the port). SIGTERM/SIGINT stop every proxy and
connection, then exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import sys

from cluster.toxiproxy import VERSION, ToxiproxyServer
from protocols.common.lifeline import die_with_parent_from_env

log = logging.getLogger("toxiproxy")


async def _populate(server: ToxiproxyServer, path: str) -> None:
    """Load a JSON array of proxies at startup; errors are logged, not fatal (like Go)."""
    try:
        with open(path, encoding="utf-8") as f:
            entries = json.load(f)
        if not isinstance(entries, list):
            raise ValueError("expected a JSON array of proxies")
        for entry in entries:
            await server.state.create(entry["name"], entry.get("listen") or "127.0.0.1:0",
                                      entry["upstream"], entry.get("enabled", True))
    except Exception as e:  # any bad config is reported, the server still starts
        log.error("config %s: %s", path, e)


async def serve(args: argparse.Namespace) -> int:
    server = ToxiproxyServer(args.proxy_metrics, args.runtime_metrics)
    try:
        port = await server.start(args.host, args.port)
    except OSError as e:
        print(f"error: cannot listen on {args.host}:{args.port}: {e.strerror}", file=sys.stderr)
        return 2
    if args.config:
        await _populate(server, args.config)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if args.ready_file:
        tmp = f"{args.ready_file}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"host": args.host, "port": port, "pid": os.getpid()}, f)
        os.replace(tmp, args.ready_file)
    print(f"toxiproxy listening on http://{args.host}:{port}", flush=True)
    await stop.wait()
    await server.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    die_with_parent_from_env()
    parser = argparse.ArgumentParser(prog="python -m cluster.toxiproxy",
                                     description="A Toxiproxy v2.12-compatible server.")
    parser.add_argument("--host", "-host", default="127.0.0.1")
    parser.add_argument("--port", "-port", type=int, default=8474)
    parser.add_argument("--config", "-config", help="JSON array of proxies to create")
    parser.add_argument("--proxy-metrics", "-proxy-metrics", action="store_true")
    parser.add_argument("--runtime-metrics", "-runtime-metrics", action="store_true")
    parser.add_argument("--ready-file", help="write {host, port, pid} here once ready")
    parser.add_argument("--version", "-version", action="store_true")
    args = parser.parse_args(argv)
    if args.version:
        print(f"toxiproxy-server version {VERSION}")
        return 0
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO").upper(),
                        format="%(asctime)s toxiproxy %(levelname)s %(message)s")
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
