"""A client of Dynamo's ``DynamoKv`` service (DeCandia et al., "Dynamo", SOSP 2007).

§4.5: a client may send a request to any node (a node outside the key's top N forwards
it), so the client tries the nodes in turn, starting after the last it used, and moves on
from one that cannot be reached. It moves on only where that is safe: a put a node
*accepted* and could not finish (``Unavailable`` without the refused trailer, a deadline)
may still take effect, so it is raised rather than written again elsewhere; a client
that wants the write anyway puts again with the context it read (§4.4: a write is not
lost, it may become a sibling). Errors are ``protocols.common.errors``:

* ``InvalidRequest``: bad input (an empty key, ``r`` above N): nothing happened;
* ``Unavailable``: fewer than R replies / W acks came; for a put the outcome is unknown;
* ``Timeout``: no answer in time, the outcome unknown.
"""

from __future__ import annotations

import itertools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import grpc
import grpc.aio

from protocols._pb import dynamo_pb2, dynamo_pb2_grpc, swim_pb2
from protocols.common.errors import ProtocolError, Unavailable
from protocols.runtime.channels import NodeChannels
from protocols.runtime.errors import error_of
from protocols.runtime.tls import TlsMaterial
from protocols.swim.client import View
from protocols.swim.messages import State, UserEvent

__all__ = ["DynamoClient", "Ownership", "Share"]

T = TypeVar("T")
Versions = tuple[list[str], dict[str, int]]  # (siblings, context)


@dataclass(frozen=True, slots=True)
class Share:
    """A node's fraction of the key space, as the first owner and as one of N (§4.2)."""

    first: float
    replica: float


@dataclass(frozen=True, slots=True)
class Ownership:
    """One node's answer: every node's share of the ring as it sees the ring, and what it
    holds: keys, hinted versions kept for others (§4.6), keys still moving (§4.9)."""

    node: str
    shares: dict[str, Share]
    keys: int
    hinted: int
    moving: int


class DynamoClient(NodeChannels[dynamo_pb2_grpc.DynamoKvStub]):
    """``await c.put("cart", "milk")``, ``await c.get("cart")`` against any Dynamo
    cluster; ``node=`` pins one node (no other is tried)."""

    def __init__(self, addresses: Mapping[str, str], timeout_s: float = 5.0, *,
                 tls: TlsMaterial | None = None) -> None:
        super().__init__(addresses, dynamo_pb2_grpc.DynamoKvStub, tls=tls)
        self.timeout_s = timeout_s
        self._turn = itertools.cycle(list(self.addresses))

    async def get(self, key: str, r: int = 0, *, node: str | None = None) -> Versions:
        """``key``'s siblings and the context covering them, from ``r`` replicas (0: the
        cluster's R)."""
        _, reply = await self._call(lambda s: s.Get(dynamo_pb2.GetRequest(key=key, r=r),
                                                    timeout=self.timeout_s), node, retry=True)
        return list(reply.values), dict(reply.context)

    async def put(self, key: str, value: str, context: Mapping[str, int] | None = None,
                  w: int = 0, *, node: str | None = None) -> Versions:
        """Write ``value`` over what ``context`` (from a read) covers, acknowledged by
        ``w`` replicas (0: the cluster's W); the key as the write left it, like ``get``."""
        request = dynamo_pb2.PutRequest(key=key, value=value, context=dict(context or {}),
                                        w=w)
        _, reply = await self._call(lambda s: s.Put(request, timeout=self.timeout_s), node,
                                    retry=False)
        return list(reply.values), dict(reply.context)

    async def ownership(self, node: str | None = None) -> Ownership:
        """A node's view of the ring and what it holds."""
        n, reply = await self._call(lambda s: s.Ownership(dynamo_pb2.OwnershipRequest(),
                                                          timeout=self.timeout_s),
                                    node, retry=True)
        return Ownership(n, {s.node: Share(s.first, s.replica) for s in reply.shares},
                         int(reply.keys), int(reply.hinted), int(reply.moving))

    async def members(self, node: str | None = None) -> View:
        """The view of the SWIM member the node embeds (§4.8), as SWIM's client gives it."""
        _, r = await self._call(lambda s: s.Members(swim_pb2.MembersRequest(),
                                                    timeout=self.timeout_s), node, retry=True)
        return View({m.member: (State(m.state), m.incarnation) for m in r.members},
                    dict(r.meta), r.counter,
                    tuple(UserEvent(e.origin, e.seq, e.name, e.payload) for e in r.events),
                    r.health, {m.member: m.address for m in r.members})

    async def _call(self, call: Callable[[dynamo_pb2_grpc.DynamoKvStub], Awaitable[T]],
                    node: str | None, *, retry: bool) -> tuple[str, T]:
        """``call`` on ``node``, or on each node in turn until one answers (which one, and
        its answer). The next node
        is tried after a node that could not be reached or refused the request before
        acting on it, and, when ``retry`` (a read), after any ``Unavailable``."""
        nodes: Sequence[str] = [node] if node is not None else self._in_turn()
        last: ProtocolError | None = None
        for n in nodes:
            try:
                result = await call(self.stub(n))
            except grpc.aio.AioRpcError as e:
                error = error_of(e)
                if not isinstance(error, Unavailable) or not (
                        retry or error.refused or _unreached(e)):
                    raise error from None
                last = error
                continue
            self.answered.add(n)
            return n, result
        assert last is not None
        raise last

    def _in_turn(self) -> list[str]:
        """Every node, starting one further along than the last call started: requests
        spread over the nodes (each a coordinator, §4.5) instead of all starting at one."""
        order = list(self.addresses)
        first = order.index(next(self._turn))
        return order[first:] + order[:first]


def _unreached(e: grpc.aio.AioRpcError) -> bool:
    """The call never reached a node (no connection): nothing happened."""
    return (e.code() == grpc.StatusCode.UNAVAILABLE
            and "failed to connect" in (e.details() or "").lower())
