"""txnkv's gRPC shell: the peer service ``protocols.txnkv.v1.TxnKv`` (protos/txnkv.proto)
and, for clients, 2PC's ``Transactions`` service (the same micro-op transactions:
``protocols.twopc.client.TwoPcClient`` talks to either store) and ``Ranges`` (split a
range while it serves: ``protocols.txnkv.client.RangesClient``).

Two peer messages need a codec of their own (``routes_for(..., codecs=...)``): a range's
Raft message is wrapped with the range's id, its body the Raft message's own protobuf
(raft.proto, through the generic codec); a batch and its response are the same JSON as a
range's Raft log (``messages.encode``)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import grpc.aio

from protocols._pb import raft_pb2, twopc_pb2_grpc, txnkv_pb2, txnkv_pb2_grpc
from protocols.common.errors import InvalidRequest
from protocols.raft import SPEC as RAFT_SPEC
from protocols.runtime import codec as generic
from protocols.runtime.shell import ProtocolShell, routes_for
from protocols.twopc.messages import MAX_KEY_BYTES
from protocols.twopc.node import SERVICE_NAME, TransactionsServicer
from protocols.txnkv.messages import BatchRequest, RangeRaft, Split, decode_as, encode
from protocols.txnkv.ranges import RangeDescriptor
from protocols.txnkv.spec import SPEC, TxnKvSpec

if TYPE_CHECKING:
    from protocols.runtime.shell import ServiceHost

__all__ = ["RANGES_SERVICE", "SHELL", "RangesServicer", "TxnKvShell", "split_of"]

# every Raft message and reply, by name: what a RangeRaft(Reply) may carry
_RAFT: dict[str, type[Any]] = {}
for _kind in RAFT_SPEC.messages.kinds:
    _RAFT[_kind.request.__name__] = _kind.request  # type: ignore[union-attr]
    _RAFT[_kind.reply.__name__] = _kind.reply  # type: ignore[union-attr]


class RangeRaftCodec:
    """``RangeRaft(range_id, msg)`` <-> ``{range_id, kind, body}``."""

    @staticmethod
    def to_proto(obj: Any, pb_type: type[Any]) -> Any:
        inner = obj.msg
        kind = type(inner).__name__
        body = generic.to_proto(inner, getattr(raft_pb2, kind)).SerializeToString()
        return pb_type(range_id=obj.range_id, kind=kind, body=body)

    @staticmethod
    def from_proto(msg: Any, cls: type[Any]) -> Any:
        raft_type = _RAFT.get(msg.kind)
        if raft_type is None:
            raise InvalidRequest(f"{cls.__name__} carries {msg.kind!r}, not a Raft message")
        try:
            inner = generic.from_proto(getattr(raft_pb2, msg.kind).FromString(msg.body),
                                       raft_type)
        except InvalidRequest:
            raise
        except Exception as e:  # a body that is no protobuf of that kind
            raise InvalidRequest(f"{cls.__name__} of {msg.kind}: {e}") from e
        return cls(msg.range_id, inner)


class JsonCodec:
    """A batch or its response <-> ``{json}``."""

    @staticmethod
    def to_proto(obj: Any, pb_type: type[Any]) -> Any:
        return pb_type(json=encode(obj))

    @staticmethod
    def from_proto(msg: Any, cls: type[Any]) -> Any:
        return decode_as(msg.json, cls)


SPLIT_DEADLINE_S = 10.0  # a split waits for the range's leaseholder and its Raft commit
RANGES_SERVICE = "protocols.txnkv.v1.Ranges"


def split_of(request: Any) -> Split:
    """The core's command for a ``SplitRequest``; InvalidRequest when malformed."""
    key = request.key
    if not key or len(key.encode()) > MAX_KEY_BYTES:
        raise InvalidRequest(f"a split needs a key of 1 to {MAX_KEY_BYTES} bytes, got "
                             f"{len(key.encode())}")
    return Split(key)


class RangesServicer(txnkv_pb2_grpc.RangesServicer):
    def __init__(self, host: ServiceHost) -> None:
        self.host = host

    async def Split(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        desc: RangeDescriptor = await self.host.submit_for_rpc(
            context, lambda: split_of(request), SPLIT_DEADLINE_S)
        return txnkv_pb2.RangeInfo(range_id=desc.range_id, start=desc.start,
                                   end=desc.end or "", unbounded=desc.end is None,
                                   replicas=list(desc.replicas))


class TxnKvShell(ProtocolShell):
    name = "txnkv"
    spec: TxnKvSpec = SPEC
    routes = routes_for(SPEC, "protocols.txnkv.v1.TxnKv", txnkv_pb2,
                        codecs={RangeRaft: RangeRaftCodec(), BatchRequest: JsonCodec()})

    def add_services(self, server: grpc.aio.Server, host: ServiceHost) -> list[str]:
        twopc_pb2_grpc.add_TransactionsServicer_to_server(TransactionsServicer(host), server)
        txnkv_pb2_grpc.add_RangesServicer_to_server(RangesServicer(host), server)
        return [SERVICE_NAME, RANGES_SERVICE]


SHELL = TxnKvShell()
