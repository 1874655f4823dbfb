"""A client of causal broadcast's ``Broadcaster`` service: send through any member, read
any member's deliveries."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from protocols._pb import causal_pb2, causal_pb2_grpc
from protocols.runtime.channels import NodeChannels
from protocols.runtime.tls import TlsMaterial

__all__ = ["BroadcastClient", "Delivery"]


@dataclass(frozen=True, slots=True)
class Delivery:
    """One entry of a member's delivery log: the origin's seq-th message, the member's
    index-th delivery (from 0)."""

    origin: str
    seq: int
    payload: bytes
    index: int


class BroadcastClient(NodeChannels[causal_pb2_grpc.BroadcasterStub]):
    def __init__(self, addresses: Mapping[str, str], timeout_s: float = 5.0, *,
                 tls: TlsMaterial | None = None) -> None:
        super().__init__(addresses, causal_pb2_grpc.BroadcasterStub, tls=tls)
        self.timeout_s = timeout_s

    async def send(self, node: str, payload: bytes) -> tuple[str, int]:
        r = await self.stub(node).Send(causal_pb2.SendRequest(payload=payload),
                                         timeout=self.timeout_s)
        return r.origin, int(r.seq)

    async def deliveries(self, node: str) -> list[tuple[str, int]]:
        """Every delivery of ``node`` so far, in its order: (origin, seq)."""
        r = await self.stub(node).Deliveries(causal_pb2.DeliveriesRequest(since=0),
                                               timeout=self.timeout_s)
        return [(d.origin, int(d.seq)) for d in r.deliveries]

    async def delivery_log(self, node: str, since: int = 0) -> list[Delivery]:
        """``node``'s deliveries after the first ``since``, in its order, with payloads."""
        r = await self.stub(node).Deliveries(causal_pb2.DeliveriesRequest(since=since),
                                               timeout=self.timeout_s)
        return [Delivery(d.origin, int(d.seq), d.payload, int(d.index))
                for d in r.deliveries]

    async def held(self, node: str) -> tuple[int, int]:
        """(messages in the hold-back queue now, the most ever held)."""
        r = await self.stub(node).Deliveries(causal_pb2.DeliveriesRequest(since=2**63),
                                               timeout=self.timeout_s)
        return int(r.held), int(r.max_held)
