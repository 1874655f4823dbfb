"""Proxies, connections and links: the data path of the Toxiproxy-compatible server.

A ``Proxy`` listens on ``listen`` and, for each accepted client, dials ``upstream``
(reference §5: a failed dial closes the client at once, so it reads EOF). Each
connection has two ``Link``s — *upstream* (client -> server, the request direction) and
*downstream* (server -> client) — each reading up to 32 KiB at a time, passing the chunk
through that stream's toxics in the order they were added, and writing it out no
earlier than its ``not_before`` time. When a link's source ends, the destination is
fully closed (Toxiproxy does not preserve half-close, §9).

Toxics added, updated or removed apply to live connections too. Removing a toxic
flushes what it was holding back (TestNoDataDropped); removing a ``timeout`` toxic
closes every connection of its stream (§9).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import random
import socket
import struct
from dataclasses import dataclass, field
from typing import Any

from cluster.toxiproxy.toxics import (
    Action,
    Chunk,
    Toxic,
    ToxicRuntime,
    new_runtime,
)

__all__ = ["Connection", "Link", "Proxy", "ProxyStartError", "resolve_listen"]

READ_SIZE = 32 * 1024
LINK_QUEUE = 1024  # chunks buffered per link, like Toxiproxy's channel of 1024
_EOF = object()
_CLOSE = object()


class ProxyStartError(Exception):
    """The proxy could not listen: a Go-style message for the API's 500."""


def resolve_listen(listen: str) -> tuple[str, int]:
    """``host:port`` -> (ip, port), resolving ``localhost`` to 127.0.0.1 like Go does."""
    host, sep, port_s = listen.rpartition(":")
    if not sep:
        raise ProxyStartError(f"listen tcp: address {listen}: missing port in address")
    host = host.strip("[]")
    if not port_s.isdigit() or int(port_s) > 65535:
        raise ProxyStartError(f"listen tcp: address {listen}: invalid port")
    if host == "":
        return "0.0.0.0", int(port_s)
    try:
        infos = socket.getaddrinfo(host, int(port_s), socket.AF_INET, socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise ProxyStartError(f"listen tcp: lookup {host}: {e.strerror}") from None
    return str(infos[0][4][0]), int(port_s)


def resolved_string(listen: str) -> str:
    """What Go's ResolveTCPAddr(listen).String() gives, for "differs" comparisons."""
    host, port = resolve_listen(listen)
    return f"{host}:{port}"


@dataclass(eq=False)
class Link:
    """One direction of one connection."""

    conn: Connection
    direction: str  # "upstream" | "downstream"
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    runtimes: list[ToxicRuntime] = field(default_factory=list)
    queue: asyncio.Queue[Any] = field(default_factory=lambda: asyncio.Queue(LINK_QUEUE))
    flush_mark: int = -1
    seq: int = 0
    received: int = 0
    sent: int = 0
    timeout_handle: asyncio.TimerHandle | None = None

    def set_toxics(self, toxics: list[Toxic], rng: random.Random) -> None:
        """(Re)build the runtime chain, keeping state (limit_data's counter) by name."""
        old = {rt.toxic.name: rt for rt in self.runtimes}
        chain: list[ToxicRuntime] = []
        for toxic in toxics:
            rt = old.get(toxic.name)
            if rt is not None and rt.kind == toxic.type:
                rt.restart(toxic, rng.random() < toxic.toxicity)
            else:
                rt = new_runtime(toxic, rng)
            chain.append(rt)
        removed = set(old) - {t.name for t in toxics}
        self.runtimes = chain
        if removed:
            self.flush_mark = self.seq  # deliver what removed toxics held back, now
        self.arm_timeout()

    def arm_timeout(self) -> None:
        """The timeout toxic closes the connection after N ms with no chunk (§9)."""
        if self.timeout_handle is not None:
            self.timeout_handle.cancel()
            self.timeout_handle = None
        for rt in self.runtimes:
            if rt.kind == "timeout" and rt.active and rt.attr("timeout") > 0:
                loop = asyncio.get_running_loop()
                self.timeout_handle = loop.call_later(rt.attr("timeout") / 1000.0,
                                                      self.conn.close)
                return

    async def read_loop(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                data = await self.reader.read(READ_SIZE)
                if not data:
                    break
                self.received += len(data)
                now = loop.time()
                if self.timeout_handle is not None:
                    self.arm_timeout()
                if not await self._pass(Chunk(data, now), now):
                    return
        except (ConnectionError, OSError):
            pass
        await self._eof(loop.time())

    async def _pass(self, chunk: Chunk, now: float) -> bool:
        chunks = [chunk]
        for rt in list(self.runtimes):
            if not rt.active:
                continue
            out: list[Chunk] = []
            for c in chunks:
                result = rt.on_chunk(c, now)
                if isinstance(result, Action):
                    await self._act(rt, result, out)
                    return False
                out.extend(result)
            chunks = out
        for c in chunks:
            if c.not_before < 0:  # limit_data reached: close after what it let through
                await self.queue.put(_CLOSE)
                return False
            self.seq += 1
            await self.queue.put((self.seq, c))
        return True

    async def _act(self, rt: ToxicRuntime, action: Action, before: list[Chunk]) -> None:
        for c in before:
            self.seq += 1
            await self.queue.put((self.seq, c))
        if action is Action.RESET:
            await asyncio.sleep(rt.attr("timeout") / 1000.0)
            self.conn.close()
        else:
            await self.queue.put(_CLOSE)

    async def _eof(self, now: float) -> None:
        delay = 0.0
        for rt in self.runtimes:
            if not rt.active:
                continue
            wait, action = rt.on_eof(now)
            if action is Action.RESET:
                await asyncio.sleep(rt.attr("timeout") / 1000.0)
                self.conn.close()
                return
            delay += wait
        await self.queue.put((_EOF, delay))

    async def write_loop(self) -> None:
        loop = asyncio.get_running_loop()
        whole_connection = True  # errors and toxic actions end both sides
        try:
            while True:
                item = await self.queue.get()
                if item is _CLOSE:
                    break
                if item[0] is _EOF:
                    if item[1]:
                        await asyncio.sleep(item[1])
                    whole_connection = False  # a clean end closes only our destination
                    break
                seq, chunk = item
                wait = chunk.not_before - loop.time()
                if wait > 0 and seq > self.flush_mark:
                    await asyncio.sleep(wait)
                if chunk.data:
                    self.writer.write(chunk.data)
                    self.sent += len(chunk.data)
                    if self.writer.transport.get_write_buffer_size() > 256 * 1024:
                        await self.writer.drain()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            if whole_connection:
                self.conn.close()
            else:  # full close of the destination: Toxiproxy keeps no half-close (§9)
                with contextlib.suppress(Exception):
                    self.writer.close()
                self.conn.link_finished(self)


class Connection:
    """A client connection and its upstream connection, with one link each way."""

    def __init__(self, proxy: Proxy, client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
                 upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        self.proxy = proxy
        self.client_writer = client[1]
        self.upstream_writer = upstream[1]
        self.links = {
            "upstream": Link(self, "upstream", client[0], upstream[1]),
            "downstream": Link(self, "downstream", upstream[0], client[1]),
        }
        self.closed = False
        self.finished: set[str] = set()
        self.tasks: list[asyncio.Task[None]] = []

    def start(self, rng: random.Random) -> None:
        for direction, link in self.links.items():
            link.set_toxics(self.proxy.toxics_of(direction), rng)
            self.tasks.append(asyncio.ensure_future(link.read_loop()))
            self.tasks.append(asyncio.ensure_future(link.write_loop()))

    def set_linger_zero(self) -> None:
        """reset_peer present at accept: close with RST instead of FIN (§9)."""
        for w in (self.client_writer, self.upstream_writer):
            sock = w.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def link_finished(self, link: Link) -> None:
        self.finished.add(link.direction)
        if len(self.finished) == 2:
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for link in self.links.values():
            if link.timeout_handle is not None:
                link.timeout_handle.cancel()
        for w in (self.client_writer, self.upstream_writer):
            with contextlib.suppress(Exception):
                w.close()
        for task in self.tasks:
            if task is not asyncio.current_task():
                task.cancel()
        self.proxy.connection_closed(self)


class Proxy:
    """One listening proxy: ``name``, ``listen``, ``upstream``, ``enabled`` and toxics."""

    def __init__(self, name: str, listen: str, upstream: str, metrics: Any = None) -> None:
        self.name = name
        self.listen = listen
        self.upstream = upstream
        self.enabled = False
        self.toxics: dict[str, list[Toxic]] = {"upstream": [], "downstream": []}
        self.connections: set[Connection] = set()
        self._server: asyncio.Server | None = None
        self._rng = random.Random()
        self._metrics = metrics
        self._pending: set[asyncio.Task[None]] = set()

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "listen": self.listen,
            "upstream": self.upstream,
            "enabled": self.enabled,
            "Logger": {},  # Go's Proxy exports its *zerolog.Logger without a json tag
            "toxics": [t.to_json() for t in self.all_toxics()],
        }

    def all_toxics(self) -> list[Toxic]:
        return [*self.toxics["upstream"], *self.toxics["downstream"]]

    def toxics_of(self, direction: str) -> list[Toxic]:
        return list(self.toxics[direction])

    def find_toxic(self, name: str) -> Toxic | None:
        return next((t for t in self.all_toxics() if t.name == name), None)

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        """Listen; the resolved address replaces ``listen`` (``:0`` -> a real port)."""
        if self._server is not None:
            return
        host, port = resolve_listen(self.listen)
        try:
            server = await asyncio.start_server(self._accept, host, port, reuse_address=True,
                                                backlog=1024)
        except OSError as e:
            reason = os.strerror(e.errno) if e.errno else str(e)
            if e.errno == errno.EADDRINUSE:
                reason = "address already in use"
            raise ProxyStartError(f"listen tcp {host}:{port}: bind: {reason.lower()}") from None
        sockname = server.sockets[0].getsockname()
        self.listen = f"{sockname[0]}:{sockname[1]}"
        self._server = server
        self.enabled = True

    async def stop(self) -> None:
        """Stop listening and close both sides of every live connection (idempotent)."""
        self.enabled = False
        server, self._server = self._server, None
        if server is not None:
            server.close()
        for conn in list(self.connections):
            conn.close()
        for task in list(self._pending):
            task.cancel()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._pending.add(task)
        try:
            host, _, port = self.upstream.rpartition(":")
            try:
                upstream = await asyncio.wait_for(
                    asyncio.open_connection(host.strip("[]"), int(port)), 10.0)
            except (OSError, ValueError, TimeoutError):
                writer.close()  # the client reads EOF (TestProxyToDownUpstream)
                return
            if self._server is None:  # stopped while dialing
                writer.close()
                upstream[1].close()
                return
            conn = Connection(self, (reader, writer), upstream)
            for w in (writer, upstream[1]):
                sock = w.get_extra_info("socket")
                if sock is not None:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if any(t.type == "reset_peer" for t in self.all_toxics()):
                conn.set_linger_zero()
            self.connections.add(conn)
            conn.start(self._rng)
        finally:
            if task is not None:
                self._pending.discard(task)

    def connection_closed(self, conn: Connection) -> None:
        if conn in self.connections:
            self.connections.discard(conn)
            if self._metrics is not None:
                self._metrics.link_done(self, conn)

    # ------------------------------------------------------------------ toxics
    def toxics_changed(self, direction: str) -> None:
        """Apply the stream's toxic list to every live link of that direction."""
        for conn in list(self.connections):
            conn.links[direction].set_toxics(self.toxics_of(direction), self._rng)

    def remove_toxic(self, toxic: Toxic) -> None:
        direction = toxic.direction
        self.toxics[direction] = [t for t in self.toxics[direction] if t.name != toxic.name]
        if toxic.type == "timeout":  # Cleanup(): close every live connection of the stream
            for conn in list(self.connections):
                conn.close()
        self.toxics_changed(direction)

