"""A client of the versioned KV: read siblings with their context from any replica,
write back with the context of the last read."""

from __future__ import annotations

from collections.abc import Mapping

from protocols._pb import vkv_pb2, vkv_pb2_grpc
from protocols.runtime.channels import NodeChannels

__all__ = ["VersionedKvClient"]


class VersionedKvClient(NodeChannels[vkv_pb2_grpc.VersionedKvStub]):
    def __init__(self, addresses: Mapping[str, str], timeout_s: float = 5.0) -> None:
        super().__init__(addresses, vkv_pb2_grpc.VersionedKvStub)
        self.timeout_s = timeout_s

    async def get(self, node: str, key: str) -> tuple[list[str], dict[str, int]]:
        """(siblings, context) of ``key`` at ``node``."""
        r = await self.stub(node).Get(vkv_pb2.GetRequest(key=key), timeout=self.timeout_s)
        return list(r.values), dict(r.context)

    async def put(self, node: str, key: str, value: str,
                  context: Mapping[str, int] | None = None) -> dict[str, int]:
        r = await self.stub(node).Put(
            vkv_pb2.PutRequest(key=key, value=value, context=dict(context or {})),
            timeout=self.timeout_s)
        return dict(r.context)
