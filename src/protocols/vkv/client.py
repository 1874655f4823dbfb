"""A client of the versioned KV: read siblings with their context from any replica,
write back with the context of the last read."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType

import grpc.aio

from protocols._pb import vkv_pb2, vkv_pb2_grpc

__all__ = ["VersionedKvClient"]


class VersionedKvClient:
    def __init__(self, addresses: Mapping[str, str], timeout_s: float = 5.0) -> None:
        self.timeout_s = timeout_s
        self._channels = {n: grpc.aio.insecure_channel(a) for n, a in addresses.items()}
        self._stubs = {n: vkv_pb2_grpc.VersionedKvStub(c) for n, c in self._channels.items()}

    async def __aenter__(self) -> VersionedKvClient:
        return self

    async def __aexit__(self, t: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        for ch in self._channels.values():
            await ch.close()

    async def get(self, node: str, key: str) -> tuple[list[str], dict[str, int]]:
        """(siblings, context) of ``key`` at ``node``."""
        r = await self._stubs[node].Get(vkv_pb2.GetRequest(key=key), timeout=self.timeout_s)
        return list(r.values), dict(r.context)

    async def put(self, node: str, key: str, value: str,
                  context: Mapping[str, int] | None = None) -> dict[str, int]:
        r = await self._stubs[node].Put(
            vkv_pb2.PutRequest(key=key, value=value, context=dict(context or {})),
            timeout=self.timeout_s)
        return dict(r.context)
