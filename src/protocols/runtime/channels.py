"""gRPC channels to a cluster's nodes, for clients: one channel (one HTTP/2 connection)
per node, opened on first use, with the stub of one service; closed together. The KV,
membership, broadcast and versioned-KV clients all stand on it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Generic, Self, TypeVar

import grpc.aio

from protocols.common.errors import InvalidRequest
from protocols.runtime.transport import CHANNEL_OPTIONS

__all__ = ["NodeChannels"]

S = TypeVar("S")


class NodeChannels(Generic[S]):
    """``stub(node)`` is the service stub on ``node``'s channel (made once)."""

    def __init__(self, addresses: Mapping[str, str],
                 make_stub: Callable[[grpc.aio.Channel], S]) -> None:
        if not addresses:
            raise InvalidRequest("a client needs at least one node address")
        self.addresses = dict(sorted(addresses.items()))
        self._make_stub = make_stub
        self._stubs: dict[str, S] = {}
        self._channels: list[grpc.aio.Channel] = []

    def stub(self, node_id: str) -> S:
        stub = self._stubs.get(node_id)
        if stub is None:
            if node_id not in self.addresses:
                raise InvalidRequest(f"unknown node {node_id!r}; known: "
                                     f"{', '.join(self.addresses)}")
            channel = grpc.aio.insecure_channel(self.addresses[node_id], options=CHANNEL_OPTIONS)
            self._channels.append(channel)
            stub = self._stubs[node_id] = self._make_stub(channel)
        return stub

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
