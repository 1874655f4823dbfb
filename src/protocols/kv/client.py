"""An async client for the replicated KV service (``protos/kv.proto``).

What a good client of a consensus-backed store must do (Raft thesis §6.3, etcd's
clientv3):

* find the leader: try the last known leader, follow ``NotLeader`` redirects (the
  ``x-leader-hint`` trailer), else walk the cluster round-robin;
* retry a write with the *same* ``(client_id, seq)``, so the state machine's session
  table applies it at most once even if an earlier attempt was applied but its reply lost;
* open its session (``Register``, thesis §6.3) before its first write, and again after
  the cluster said it expired; a write whose session expired raises ``SessionExpired``
  (that attempt changed nothing, earlier ones may have) and is never resent blindly;
* bound everything: ``attempt_timeout_s`` per try, ``deadline_s`` per operation, a
  capped backoff between tries;
* with mutual TLS (``tls=``, the cluster's client certificate), fail at once, in one
  line, when every node refuses the handshake (no certificate, or one from another CA):
  nothing was sent, nothing applied; retrying cannot help;
* say honestly what happened: success; ``Unavailable`` when no attempt can have taken
  effect (every attempt was refused by a server before it reached the log: "not the
  leader", a malformed request — the server says so structurally, ``ProtocolError.refused``)
  — a ``fail`` in a history; ``Timeout`` when the outcome is unknown (an attempt may have
  been applied: a lost reply, a reset connection, a deadline) — an ``info`` in a history.

One ``KvClient`` has at most one operation in flight (sessions are sequential per
client, §6.3). Run many clients for concurrency; they can share a ``KvChannels``.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import grpc
import grpc.aio

from protocols._pb import kv_pb2, kv_pb2_grpc
from protocols.common.errors import (
    InvalidRequest,
    NotLeader,
    ProtocolError,
    SessionExpired,
    Timeout,
    Unavailable,
)
from protocols.runtime.channels import NodeChannels
from protocols.runtime.errors import error_of
from protocols.runtime.tls import TlsMaterial

__all__ = ["KvChannels", "KvClient"]

_BACKOFF_START_S = 0.02
_BACKOFF_MAX_S = 0.25


class KvChannels(NodeChannels[kv_pb2_grpc.KvStub]):
    """gRPC channels to every node, shared by many clients (one HTTP/2 connection each)."""

    def __init__(self, addresses: Mapping[str, str], *,
                 tls: TlsMaterial | None = None) -> None:
        super().__init__(addresses, kv_pb2_grpc.KvStub, tls=tls)


class KvClient:
    """``await client.put("k", "v")``, ``get``, ``cas``, ``delete``, ``txn`` against any KV
    cluster."""

    def __init__(
        self,
        addresses: Mapping[str, str] | KvChannels,
        *,
        client_id: str | None = None,
        deadline_s: float = 10.0,
        attempt_timeout_s: float = 1.0,
        tls: TlsMaterial | None = None,
    ) -> None:
        """``tls``: the client's certificate and the cluster's CA (a cluster started with
        ``--tls``: ``LocalCluster.client_tls``); ignored when ``addresses`` are channels."""
        self._owns_channels = not isinstance(addresses, KvChannels)
        self.channels = (addresses if isinstance(addresses, KvChannels)
                         else KvChannels(addresses, tls=tls))
        self.client_id = client_id or uuid.uuid4().hex[:12]
        self.deadline_s = deadline_s
        self.attempt_timeout_s = attempt_timeout_s
        self.leader: str | None = None
        self.seq = 0
        self.registered = False  # the session is opened before the first write
        self.attempts = 0  # total RPCs sent, for benchmarks and tests
        self.tls_refused: dict[str, str] = {}  # node -> why it refused our handshake
        self._order = itertools.cycle(list(self.channels.addresses))
        self._busy = asyncio.Lock()

    async def get(self, key: str) -> str | None:
        reply = await self._call("Get", lambda s: s.Get, kv_pb2.GetRequest(key=key))
        return reply.value if reply.found else None

    async def put(self, key: str, value: str) -> None:
        await self._call("Put", lambda s: s.Put, kv_pb2.PutRequest(key=key, value=value),
                         write=True)

    async def cas(self, key: str, expected: str | None, value: str) -> bool:
        """Set ``key`` to ``value`` iff it holds ``expected`` (None: iff it is absent)."""
        request = kv_pb2.CasRequest(key=key, value=value)
        if expected is not None:
            request.expected = expected
        reply = await self._call("Cas", lambda s: s.Cas, request, write=True)
        return bool(reply.ok)

    async def delete(self, key: str) -> bool:
        reply = await self._call("Delete", lambda s: s.Delete, kv_pb2.DeleteRequest(key=key),
                                 write=True)
        return bool(reply.existed)

    async def txn(self, ops: Sequence[Sequence[Any]]) -> list[list[Any]]:
        """Apply micro-ops ``[["r", k, None], ["append", k, v], ["w", k, v]]`` atomically;
        returns them with each read's value filled in (a list's items as a list, a
        string, or None for an absent key). An aborted txn raises InvalidRequest."""
        request = kv_pb2.TxnRequest(ops=[_micro_op_request(op) for op in ops])
        reply = await self._call("Txn", lambda s: s.Txn, request, write=True)
        return [[op.f, op.key, _read_value(op)] for op in reply.ops]

    async def close(self) -> None:
        if self._owns_channels:
            await self.channels.close()

    async def __aenter__(self) -> KvClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------ retries
    async def _call(self, name: str, method: Callable[[Any], Any], request: Any,
                    write: bool = False) -> Any:
        async with self._busy:
            if write and not self.registered:
                await self._retry("Register", lambda s: s.Register,
                                  kv_pb2.RegisterRequest(client_id=self.client_id))
                self.registered = True
            self.seq += 1
            request.client_id, request.seq = self.client_id, self.seq
            try:
                return await self._retry(name, method, request)
            except SessionExpired:
                self.registered = False  # the next write opens a new session
                raise

    async def _retry(self, name: str, method: Callable[[Any], Any], request: Any) -> Any:
        end = time.monotonic() + self.deadline_s
        node = self.leader or next(self._order)
        backoff = _BACKOFF_START_S
        maybe_applied = False
        last: ProtocolError | None = None
        while (remaining := end - time.monotonic()) > 0:
            self.attempts += 1
            try:
                reply = await method(self.channels.stub(node))(
                    request, timeout=min(self.attempt_timeout_s, remaining))
            except grpc.aio.AioRpcError as e:
                last = error_of(e)
                refusal = await self.channels.refusal(node, e, min(1.0, remaining))
                if refusal is not None:  # nothing reached the node: not applied
                    self.tls_refused[node] = refusal
                    last = Unavailable(refusal, refused=True)
                    if set(self.tls_refused) >= set(self.channels.addresses):
                        raise Unavailable(f"{name}: not applied: {refusal} (every node "
                                          "refused)", refused=True) from None
                if isinstance(last, InvalidRequest):
                    raise last from None
                if isinstance(last, SessionExpired):  # never resend: it could apply twice
                    raise SessionExpired(f"{name}: {last}") from None
                maybe_applied = maybe_applied or not last.refused
                redirect = _redirect(last, self.channels.addresses)
                if redirect is not None and redirect != node:
                    node = redirect  # follow the hint at once
                    continue
                self.leader = None
                node = next(self._order)
                await asyncio.sleep(min(backoff, max(0.0, end - time.monotonic())))
                backoff = min(backoff * 2, _BACKOFF_MAX_S)
                continue
            self.leader = node
            self.channels.answered.add(node)
            return reply
        what = f"{name}({getattr(request, 'key', self.client_id)!r}) after {self.deadline_s}s"
        if maybe_applied:
            raise Timeout(f"{what}: outcome unknown (last error: {last})")
        raise Unavailable(f"{what}: not applied, no leader reachable (last error: {last})")


def _micro_op_request(op: Sequence[Any]) -> Any:
    """One micro-op as protobuf; its shape is checked by the server (``ops[i]: ...``)."""
    if isinstance(op, str | bytes) or len(op) != 3:
        raise InvalidRequest(f"a micro-op is [f, key, value], not {op!r:.80}")
    f, key, value = op
    if value is None:
        return kv_pb2.MicroOp(f=f, key=key)
    if not isinstance(value, str):
        raise InvalidRequest(f"micro-op {f} {key!r:.40}: the value must be a string or "
                             f"None, not {type(value).__name__}")
    return kv_pb2.MicroOp(f=f, key=key, value=value)


def _read_value(op: Any) -> Any:
    arg = op.WhichOneof("arg")
    if arg == "list":
        return list(op.list.items)
    return op.value if arg == "value" else None


def _redirect(error: ProtocolError, addresses: Mapping[str, str]) -> str | None:
    if isinstance(error, NotLeader) and error.leader_hint in addresses:
        return error.leader_hint
    return None
