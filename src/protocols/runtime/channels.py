"""gRPC channels to a cluster's nodes, for clients: one channel (one HTTP/2 connection)
per node, opened on first use, with the stub of one service; closed together. The KV,
membership, broadcast and versioned-KV clients all stand on it.

With ``tls`` (the cluster runs with mutual TLS, ``protocols.runtime.tls``) every channel
shows the client's certificate and accepts only the certificate naming the node it
dials. A handshake the node refuses surfaces in gRPC as a bare "Socket closed";
``refusal(node)`` says in one line whether TLS is why."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Generic, Self, TypeVar

import grpc.aio

from protocols.common.errors import InvalidRequest
from protocols.runtime.tls import TlsMaterial, diagnose, open_channel
from protocols.runtime.transport import CHANNEL_OPTIONS

__all__ = ["NodeChannels"]

S = TypeVar("S")


class NodeChannels(Generic[S]):
    """``stub(node)`` is the service stub on ``node``'s channel (made once)."""

    def __init__(self, addresses: Mapping[str, str],
                 make_stub: Callable[[grpc.aio.Channel], S], *,
                 tls: TlsMaterial | None = None) -> None:
        if not addresses:
            raise InvalidRequest("a client needs at least one node address")
        self.addresses = dict(sorted(addresses.items()))
        self._make_stub = make_stub
        self.tls = tls
        self.answered: set[str] = set()  # nodes that answered: their handshake passed
        self._stubs: dict[str, S] = {}
        self._channels: list[grpc.aio.Channel] = []

    def stub(self, node_id: str) -> S:
        stub = self._stubs.get(node_id)
        if stub is None:
            if node_id not in self.addresses:
                raise InvalidRequest(f"unknown node {node_id!r}; known: "
                                     f"{', '.join(self.addresses)}")
            channel = open_channel(self.addresses[node_id], self.tls, node_id, CHANNEL_OPTIONS)
            self._channels.append(channel)
            stub = self._stubs[node_id] = self._make_stub(channel)
        return stub

    async def refusal(self, node_id: str, error: grpc.aio.AioRpcError,
                      timeout_s: float = 1.0) -> str | None:
        """Why ``node_id`` refused the connection at the TLS level (one line), or None.
        Only a node that never answered, and only a failure to connect, is examined: a
        handshake that once passed does not fail for TLS reasons later."""
        if (node_id in self.answered or error.code() != grpc.StatusCode.UNAVAILABLE
                or "failed to connect" not in (error.details() or "")):
            return None
        return await diagnose(self.addresses[node_id], node_id, self.tls, timeout_s)

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close(grace=None)
        self._channels.clear()
        self._stubs.clear()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, t: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.close()
