"""The Kv gRPC service (protos/kv.proto), served by any protocol whose core takes
``KvCommand``s through the host's ``submit_for_rpc`` (Raft today, Paxos next).

Errors go through the one mapping in ``protocols.runtime.errors``: not the leader ->
FAILED_PRECONDITION with an ``x-leader-hint`` trailer; no quorum / leadership lost ->
UNAVAILABLE; a malformed request -> INVALID_ARGUMENT (and nothing changes); no answer
within the server-side deadline -> DEADLINE_EXCEEDED (outcome unknown).

Bad input is refused with INVALID_ARGUMENT, the message starting with the field's name,
before anything reaches the core: bytes that are not the request (the host's
``RefuseMalformed``), an empty or oversized key, value, expected value or client_id
(``KvCommand``), and the impossible session numbers (``command``): a ``seq`` without a
``client_id`` (no session could make it exactly-once) and a write in a session with seq 0
(the session starts at 0 when registered, so the write would be taken for a retry and
silently do nothing). A ``Txn`` is checked the same way (an empty txn, an unknown
micro-op, a read with a value, an append without one, too many ops: INVALID_ARGUMENT
naming ``ops[i]``); a txn the state machine aborted is INVALID_ARGUMENT too, after the
log, with nothing of it applied.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import grpc.aio

from protocols._pb import kv_pb2, kv_pb2_grpc
from protocols.common.errors import InvalidRequest
from protocols.kv.commands import KvCommand, KvResult, MicroOp, Op, ReadValue
from protocols.runtime.errors import abort_with

if TYPE_CHECKING:
    from protocols.runtime.shell import ServiceHost

__all__ = ["SERVICE_NAME", "KvServicer", "command", "micro_op_pb", "micro_ops_of", "txn_command"]

SERVICE_NAME = "protocols.kv.v1.Kv"
DEADLINE_S = 5.0  # when the client sent no deadline


class KvServicer(kv_pb2_grpc.KvServicer):
    def __init__(self, host: ServiceHost) -> None:
        self.host = host

    async def _run(self, context: grpc.aio.ServicerContext, build: Any) -> KvResult:
        result: KvResult = await self.host.submit_for_rpc(context, build, DEADLINE_S)
        return result

    async def Register(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self._run(context, lambda: command("register", "", "", None,
                                                 request.client_id, 0))
        return kv_pb2.RegisterReply()

    async def Get(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        r = await self._run(context, lambda: command("get", request.key, "", None,
                                                     request.client_id, request.seq))
        return kv_pb2.GetReply(found=r.found, value=r.value)

    async def Put(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        await self._run(context, lambda: command("put", request.key, request.value, None,
                                                 request.client_id, request.seq))
        return kv_pb2.PutReply()

    async def Cas(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        expected = request.expected if request.HasField("expected") else None
        r = await self._run(context, lambda: command("cas", request.key, request.value,
                                                     expected, request.client_id,
                                                     request.seq))
        return kv_pb2.CasReply(ok=r.ok, found=r.found, value=r.value)

    async def Delete(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        r = await self._run(context, lambda: command("delete", request.key, "", None,
                                                     request.client_id, request.seq))
        return kv_pb2.DeleteReply(existed=r.found)

    async def Txn(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        r = await self._run(context, lambda: txn_command(request))
        if not r.ok:
            await abort_with(context, InvalidRequest(r.value))
        return kv_pb2.TxnReply(ops=[micro_op_pb(f, k, v) for f, k, v in r.txn])


def txn_command(request: Any) -> KvCommand:
    """The txn a TxnRequest asks for, or InvalidRequest naming the field."""
    if request.seq and not request.client_id:
        raise InvalidRequest(f"seq: {request.seq} without a client_id; a request outside "
                             "a session has seq 0")
    if request.client_id and request.seq == 0:
        raise InvalidRequest("seq: a write in a session needs seq >= 1 (0 is the "
                             "session's registration)")
    return KvCommand("txn", "", client_id=request.client_id, seq=request.seq,
                     ops=micro_ops_of(request.ops))


def micro_ops_of(ops: Any) -> tuple[MicroOp, ...]:
    """Protobuf micro-ops as (f, key, value); a list where a value belongs is refused."""
    out: list[MicroOp] = []
    for i, op in enumerate(ops):
        arg = op.WhichOneof("arg")
        if arg == "list":
            raise InvalidRequest(f"ops[{i}].list: a request's micro-op carries a value, "
                                 "not a list")
        out.append((op.f, op.key, op.value if arg == "value" else None))
    return tuple(out)


def micro_op_pb(f: str, key: str, value: ReadValue) -> Any:
    """One micro-op of a reply: a read's list in ``list``, a string in ``value``."""
    if isinstance(value, tuple):
        return kv_pb2.MicroOp(f=f, key=key, list=kv_pb2.ItemList(items=value))
    if value is None:
        return kv_pb2.MicroOp(f=f, key=key)
    return kv_pb2.MicroOp(f=f, key=key, value=value)


def command(op: Op, key: str, value: str, expected: str | None, client_id: str,
            seq: int) -> KvCommand:
    """The command a client's request asks for, or InvalidRequest naming the field."""
    if seq and not client_id:
        raise InvalidRequest(f"seq: {seq} without a client_id; a request outside a "
                             "session has seq 0")
    if client_id and op in ("put", "cas", "delete") and seq == 0:
        raise InvalidRequest("seq: a write in a session needs seq >= 1 (0 is the "
                             "session's registration)")
    return KvCommand(op, key, value, expected, client_id, seq)

