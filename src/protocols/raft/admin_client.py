"""An operator's client for RaftAdmin: membership change and leadership transfer.

``await admin.add_node("n4")`` is the thesis §4.2.1 procedure: add the server as a
non-voting learner, wait while it catches up (the leader answers UNAVAILABLE "catching
up" until the learner holds every committed entry), then promote it to a voter. Each
step is one single-server change (thesis §4.1), committed before the call returns.
Requests find the leader like ``KvClient`` does: follow ``x-leader-hint``, else walk
the nodes; UNAVAILABLE (change in flight, learner behind, no leader yet) is retried
until ``deadline_s``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable, Mapping
from typing import Any

import grpc
import grpc.aio

from protocols._pb import raft_pb2, raft_pb2_grpc
from protocols.common.errors import (
    InvalidRequest,
    NotLeader,
    ProtocolError,
    Timeout,
    Unavailable,
)
from protocols.raft.messages import Membership
from protocols.runtime.errors import error_of
from protocols.runtime.tls import TlsMaterial, open_channel
from protocols.runtime.transport import CHANNEL_OPTIONS

__all__ = ["RaftAdminClient"]


class RaftAdminClient:
    def __init__(self, addresses: Mapping[str, str], *, deadline_s: float = 30.0,
                 attempt_timeout_s: float = 2.0, tls: TlsMaterial | None = None) -> None:
        """``tls``: the client's certificate, for a cluster with mutual TLS."""
        if not addresses:
            raise InvalidRequest("RaftAdminClient needs at least one node address")
        self.addresses = dict(sorted(addresses.items()))
        self.deadline_s = deadline_s
        self.attempt_timeout_s = attempt_timeout_s
        self._channels = {n: open_channel(a, tls, n, CHANNEL_OPTIONS)
                          for n, a in self.addresses.items()}
        self._stubs = {n: raft_pb2_grpc.RaftAdminStub(c) for n, c in self._channels.items()}
        self._order = itertools.cycle(list(self.addresses))
        self.leader: str | None = None

    async def add_learner(self, node_id: str) -> Membership:
        return await self.change("add_learner", node_id)

    async def promote(self, node_id: str) -> Membership:
        return await self.change("promote", node_id)

    async def remove(self, node_id: str) -> Membership:
        return await self.change("remove", node_id)

    async def add_node(self, node_id: str) -> Membership:
        """Learner first, voter once caught up (thesis §4.2.1)."""
        await self.add_learner(node_id)
        return await self.promote(node_id)

    async def change(self, action: str, node_id: str) -> Membership:
        request = raft_pb2.ChangeMembershipRequest(action=action, node_id=node_id)
        reply = await self._retry(f"{action} {node_id}", lambda s: s.ChangeMembership, request)
        return Membership(frozenset(reply.voters), frozenset(reply.learners))

    async def transfer_leadership(self, target: str) -> str:
        request = raft_pb2.TransferLeadershipRequest(target=target)
        reply = await self._retry(f"transfer to {target}", lambda s: s.TransferLeadership,
                                  request)
        return str(reply.target)

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close(grace=None)

    async def __aenter__(self) -> RaftAdminClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _retry(self, what: str, method: Callable[[Any], Any], request: Any) -> Any:
        end = time.monotonic() + self.deadline_s
        node = self.leader or next(self._order)
        last: ProtocolError | None = None
        while (remaining := end - time.monotonic()) > 0:
            try:
                reply = await method(self._stubs[node])(
                    request, timeout=min(self.attempt_timeout_s, remaining))
            except grpc.aio.AioRpcError as e:
                last = error_of(e)
                if isinstance(last, InvalidRequest):
                    raise last from None
                hint = last.leader_hint if isinstance(last, NotLeader) else None
                if hint in self._stubs and hint != node:
                    node = str(hint)  # follow the redirect at once
                    continue
                if not (isinstance(last, Unavailable) and last.refused):  # "not yet": wait
                    self.leader, node = None, next(self._order)
                await asyncio.sleep(min(0.1, max(0.0, end - time.monotonic())))
                continue
            self.leader = node
            return reply
        raise Timeout(f"{what}: not done after {self.deadline_s}s (last error: {last})")
