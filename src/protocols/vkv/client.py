"""A client of the versioned KV: read siblings with their context from any replica,
write back with the context of the last read (or of the last write's answer, which
lists the siblings it covers)."""

from __future__ import annotations

from collections.abc import Mapping

from protocols._pb import vkv_pb2, vkv_pb2_grpc
from protocols.runtime.channels import NodeChannels
from protocols.runtime.tls import TlsMaterial

__all__ = ["VersionedKvClient"]


class VersionedKvClient(NodeChannels[vkv_pb2_grpc.VersionedKvStub]):
    def __init__(self, addresses: Mapping[str, str], timeout_s: float = 5.0, *,
                 tls: TlsMaterial | None = None) -> None:
        super().__init__(addresses, vkv_pb2_grpc.VersionedKvStub, tls=tls)
        self.timeout_s = timeout_s

    async def get(self, node: str, key: str) -> tuple[list[str], dict[str, int]]:
        """(siblings, context) of ``key`` at ``node``."""
        r = await self.stub(node).Get(vkv_pb2.GetRequest(key=key), timeout=self.timeout_s)
        return list(r.values), dict(r.context)

    async def put(self, node: str, key: str, value: str,
                  context: Mapping[str, int] | None = None
                  ) -> tuple[list[str], dict[str, int]]:
        """Write ``value`` over what ``context`` covers; returns the key as the write left
        it, (siblings, context) like ``get``: writing again with that context replaces
        every sibling listed, other clients' included."""
        r = await self.stub(node).Put(
            vkv_pb2.PutRequest(key=key, value=value, context=dict(context or {})),
            timeout=self.timeout_s)
        return list(r.values), dict(r.context)
