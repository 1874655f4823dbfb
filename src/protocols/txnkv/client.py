"""A client of txnkv's ``Ranges`` service: split a range while it serves.

Transactions go through 2PC's client (``protocols.twopc.client.TwoPcClient``: the same
micro-ops); this one is the admin side. ``split(key)`` asks a node to split the range
holding ``key`` at ``key``: the node routes it to the range's leaseholder, which proposes
the split through the range's Raft log; the answer is the new range (``key`` and above,
the same replicas). A key that already starts a range is refused (``InvalidRequest``);
``Unavailable``/``Timeout``: the split may or may not have happened.
"""

from __future__ import annotations

from collections.abc import Mapping

import grpc.aio

from protocols._pb import txnkv_pb2, txnkv_pb2_grpc
from protocols.runtime.channels import NodeChannels
from protocols.runtime.errors import error_of
from protocols.runtime.tls import TlsMaterial
from protocols.txnkv.ranges import RangeDescriptor

__all__ = ["RangesClient"]


class RangesClient(NodeChannels[txnkv_pb2_grpc.RangesStub]):
    def __init__(self, addresses: Mapping[str, str], timeout_s: float = 10.0, *,
                 tls: TlsMaterial | None = None) -> None:
        super().__init__(addresses, txnkv_pb2_grpc.RangesStub, tls=tls)
        self.timeout_s = timeout_s

    async def split(self, key: str, node: str | None = None) -> RangeDescriptor:
        """Split the range holding ``key`` at ``key``, asked of ``node`` (default: the
        first); the new range."""
        node = node or next(iter(self.addresses))
        try:
            info = await self.stub(node).Split(txnkv_pb2.SplitRequest(key=key),
                                               timeout=self.timeout_s)
        except grpc.aio.AioRpcError as e:
            raise error_of(e) from None
        return RangeDescriptor(info.range_id, info.start,
                               None if info.unbounded else info.end, tuple(info.replicas))
