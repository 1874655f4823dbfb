"""A client of SWIM's ``Membership`` service: ask any node for its view, add to the
PN-counter, set metadata, broadcast an event, make it leave. One channel per node."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import grpc.aio

from protocols._pb import swim_pb2, swim_pb2_grpc
from protocols.runtime.channels import NodeChannels
from protocols.runtime.tls import TlsMaterial
from protocols.swim.messages import State, UserEvent

__all__ = ["MembershipClient", "View"]


@dataclass(frozen=True, slots=True)
class View:
    """One node's answer to ``Members``."""

    members: dict[str, tuple[State, int]]  # member -> (state, incarnation)
    meta: dict[str, str]
    counter: int
    events: tuple[UserEvent, ...]
    health: int
    addresses: dict[str, str]  # member -> where this node believes it listens

    def state(self, member: str) -> State | None:
        found = self.members.get(member)
        return found[0] if found else None


class MembershipClient(NodeChannels[swim_pb2_grpc.MembershipStub]):
    def __init__(self, addresses: Mapping[str, str], timeout_s: float = 5.0, *,
                 tls: TlsMaterial | None = None) -> None:
        super().__init__(addresses, swim_pb2_grpc.MembershipStub, tls=tls)
        self.timeout_s = timeout_s

    async def view(self, node: str) -> View:
        r = await self.stub(node).Members(swim_pb2.MembersRequest(), timeout=self.timeout_s)
        return View({m.member: (State(m.state), m.incarnation) for m in r.members},
                    dict(r.meta), r.counter,
                    tuple(UserEvent(e.origin, e.seq, e.name, e.payload) for e in r.events),
                    r.health, {m.member: m.address for m in r.members})

    async def views(self, nodes: Sequence[str]) -> dict[str, View | None]:
        """Every listed node's view; None for a node that does not answer."""
        out: dict[str, View | None] = {}
        for n in nodes:
            try:
                out[n] = await self.view(n)
            except grpc.aio.AioRpcError:
                out[n] = None
        return out

    async def incr(self, node: str, delta: int) -> int:
        r = await self.stub(node).Incr(swim_pb2.IncrRequest(delta=delta),
                                         timeout=self.timeout_s)
        return int(r.counter)

    async def set_meta(self, node: str, key: str, value: str) -> None:
        await self.stub(node).SetMeta(swim_pb2.SetMetaRequest(key=key, value=value),
                                        timeout=self.timeout_s)

    async def broadcast(self, node: str, name: str, payload: bytes = b"") -> int:
        r = await self.stub(node).Broadcast(
            swim_pb2.BroadcastRequest(name=name, payload=payload), timeout=self.timeout_s)
        return int(r.seq)

    async def leave(self, node: str) -> None:
        await self.stub(node).Leave(swim_pb2.LeaveRequest(), timeout=self.timeout_s * 2)
