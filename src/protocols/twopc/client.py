"""A client of 2PC's ``Transactions`` service: multi-key transactions across shards.

``transact(reads, writes)`` reads some keys and writes others atomically; ``txn(ops)``
runs a Jepsen-style micro-op list (``[["r", "x", None], ["append", "x", 3], ["w", "y",
1], ["add", "z", -5]]``) and returns it with every read filled in. The client learns the
routing table (the shards and the coordinators) from any node and sends each
transaction to a coordinator (in turn, when there are several); the coordinator splits it
over the shards that own its keys. Errors say what happened to the transaction:

* ``protocols.common.errors.Aborted``: it did not happen (a NO vote, a lock not granted,
  a vote that never came); run it again as a new transaction;
* ``Unavailable`` / ``Timeout``: its outcome is unknown (Jepsen's ``info``): it may have
  committed. The client never resends a transaction on its own, as that could apply it
  twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc.aio

from protocols._pb import twopc_pb2, twopc_pb2_grpc
from protocols.common.errors import InvalidRequest, ProtocolError, Unavailable
from protocols.runtime.channels import NodeChannels
from protocols.runtime.errors import error_of
from protocols.runtime.tls import TlsMaterial
from protocols.twopc.coordinator import shard_of
from protocols.twopc.messages import OPS

__all__ = ["Routing", "TwoPcClient", "micro_ops"]

Op = Sequence[Any]  # ["r", key, None] | ["w", key, int] | ["append", key, int] | ["add", ...]


@dataclass(frozen=True, slots=True)
class Routing:
    """Who owns which keys (``shard(key)``) and who coordinates."""

    participants: tuple[str, ...]
    coordinators: tuple[str, ...]

    def shard(self, key: str) -> str:
        return shard_of(key, self.participants)


def micro_ops(ops: Iterable[Op]) -> list[Any]:
    """The request's micro-ops; InvalidRequest naming the first malformed one."""
    out = []
    for i, op in enumerate(ops):
        if len(op) != 3 or op[0] not in OPS or not isinstance(op[1], str) or not op[1]:
            raise InvalidRequest(f"micro-op {i} {list(op)!r}: expected [f, key, value] "
                                 f"with f one of {', '.join(OPS)} and a key")
        f, key, value = op
        if f == "r":
            value = 0
        elif not isinstance(value, int) or isinstance(value, bool):
            raise InvalidRequest(f"micro-op {i} {list(op)!r}: the value must be an integer")
        out.append(twopc_pb2.MicroOp(f=f, key=key, value=value))
    if not out:
        raise InvalidRequest("a transaction needs at least one micro-op")
    return out


class TwoPcClient(NodeChannels[twopc_pb2_grpc.TransactionsStub]):
    def __init__(self, addresses: Mapping[str, str], timeout_s: float = 10.0, *,
                 coordinator: str | None = None, tls: TlsMaterial | None = None) -> None:
        super().__init__(addresses, twopc_pb2_grpc.TransactionsStub, tls=tls)
        self.timeout_s = timeout_s
        self.coordinator = coordinator  # None: the routing table's, in turn
        self._routing: Routing | None = None
        self._turn = 0

    async def routing(self, refresh: bool = False) -> Routing:
        """The routing table, from the first node that answers."""
        if self._routing is not None and not refresh:
            return self._routing
        last: ProtocolError | None = None
        for node in self.addresses:
            try:
                r = await self.stub(node).Routing(twopc_pb2.RoutingRequest(),
                                                  timeout=self.timeout_s)
            except grpc.aio.AioRpcError as e:
                last = error_of(e)  # one line (the gRPC error's text is several)
                continue
            self._routing = Routing(tuple(r.participants), tuple(r.coordinators))
            return self._routing
        if isinstance(last, InvalidRequest):  # refused (not a 2PC node): no retry helps
            raise last
        raise Unavailable(f"no node answered for the routing table: {last}")

    async def txn(self, ops: Iterable[Op], node: str | None = None) -> list[list[Any]]:
        """Run ``ops`` atomically at ``node`` (default: a coordinator); the ops come back
        with each read's value: a register's int, a list's elements, None if never
        written."""
        request = twopc_pb2.TransactRequest(ops=micro_ops(ops))
        if node is None:
            node = self.coordinator or await self._next_coordinator()
        try:
            reply = await self.stub(node).Transact(request, timeout=self.timeout_s)
        except grpc.aio.AioRpcError as e:
            raise error_of(e) from None
        reads = iter(reply.reads)
        out: list[list[Any]] = []
        for op in request.ops:
            if op.f == "r":
                seen = next(reads)
                value: Any = (None if not seen.present else list(seen.values)
                              if seen.is_list else seen.values[0])
                out.append(["r", op.key, value])
            else:
                out.append([op.f, op.key, op.value])
        return out

    async def _next_coordinator(self) -> str:
        """The coordinators in turn (``coordinators="every"``: every node is one)."""
        coordinators = (await self.routing()).coordinators
        if not coordinators:
            raise Unavailable("the routing table names no coordinator")
        self._turn += 1
        return coordinators[self._turn % len(coordinators)]

    async def transact(self, reads: Iterable[str] = (), writes: Mapping[str, int] | None
                       = None, node: str | None = None) -> dict[str, Any]:
        """Read ``reads`` and write ``writes`` in one transaction; the values read."""
        ops: list[Op] = [["r", k, None] for k in reads]
        ops += [["w", k, v] for k, v in (writes or {}).items()]
        done = await self.txn(ops, node)
        return {key: value for f, key, value in done if f == "r"}

