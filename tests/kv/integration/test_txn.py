"""Transactions (the Kv service's Txn, Jepsen's Elle micro-ops) on real Raft and
Multi-Paxos processes: micro-ops over many keys applied together, a retry with the same
session number applied once, an aborted txn changing nothing, and every malformed txn
refused with INVALID_ARGUMENT naming the field, at the leader and at a follower, with
every node still serving."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import grpc
import grpc.aio
import pytest

from cluster.runner import LocalCluster
from protocols._pb import kv_pb2, kv_pb2_grpc
from protocols.common.errors import InvalidRequest
from protocols.kv.client import KvClient
from protocols.kv.commands import MAX_TXN_OPS
from tests.support import raw_grpc

Factory = Callable[..., Awaitable[LocalCluster]]
pytestmark = pytest.mark.parametrize("protocol", ["raft", "paxos"])

Op = kv_pb2.MicroOp
BAD_TXNS = [  # (request, what the error starts with)
    (kv_pb2.TxnRequest(), "ops: a txn needs at least one micro-op"),
    (kv_pb2.TxnRequest(ops=[Op(f="x", key="k")]), "ops[0]: unknown micro-op 'x'"),
    (kv_pb2.TxnRequest(ops=[Op(f="r", key="k", value="v")]), "ops[0].value: a read takes"),
    (kv_pb2.TxnRequest(ops=[Op(f="r", key="k"), Op(f="append", key="k")]),
     "ops[1].value: append needs a string value"),
    (kv_pb2.TxnRequest(ops=[Op(f="r", key="")]), "ops[0].key: must be a non-empty"),
    (kv_pb2.TxnRequest(ops=[Op(f="r", key="k", list=kv_pb2.ItemList(items=["a"]))]),
     "ops[0].list: a request's micro-op carries a value"),
    (kv_pb2.TxnRequest(ops=[Op(f="r", key="k")] * (MAX_TXN_OPS + 1)),
     f"ops: a txn holds at most {MAX_TXN_OPS} micro-ops"),
    (kv_pb2.TxnRequest(ops=[Op(f="w", key="k", value="v")], seq=2), "seq: 2 without a"),
    (kv_pb2.TxnRequest(ops=[Op(f="w", key="k", value="v")], client_id="c"), "seq: a write"),
]


async def test_txns_on_real_processes(cluster: Factory, protocol: str) -> None:
    c = await cluster(protocol, nodes=3)
    async with KvClient(c.client_addresses, deadline_s=10) as kv:
        assert await kv.txn([["r", "x", None], ["append", "x", "1"], ["append", "y", "a"],
                             ["w", "s", "str"]]) == [
            ["r", "x", None], ["append", "x", "1"], ["append", "y", "a"], ["w", "s", "str"]]
        assert await kv.txn([["append", "x", "2"], ["r", "x", None], ["r", "y", None],
                             ["r", "s", None], ["r", "none", None]]) == [
            ["append", "x", "2"], ["r", "x", ["1", "2"]], ["r", "y", ["a"]],
            ["r", "s", "str"], ["r", "none", None]]
        assert await kv.get("x") == '["1","2"]'
        with pytest.raises(InvalidRequest, match=r"txn aborted, nothing applied: ops\[1\]: "
                                                 "cannot append to 's'"):
            await kv.txn([["append", "x", "3"], ["append", "s", "4"]])
        assert (await kv.txn([["r", "x", None]]))[0][2] == ["1", "2"]  # nothing applied

        leader = await c.wait_for_leader()
        async with grpc.aio.insecure_channel(c.node(leader).client_address) as ch:
            stub = kv_pb2_grpc.KvStub(ch)
            await stub.Register(kv_pb2.RegisterRequest(client_id="retrier"), timeout=10)
            request = kv_pb2.TxnRequest(ops=[Op(f="append", key="x", value="r"),
                                             Op(f="r", key="x")],
                                        client_id="retrier", seq=1)
            first = await stub.Txn(request, timeout=10)
            again = await stub.Txn(request, timeout=10)  # a retry: applied once
        assert first == again and list(first.ops[1].list.items) == ["1", "2", "r"]
        assert (await kv.txn([["r", "x", None]]))[0][2] == ["1", "2", "r"]

        follower = next(n for n in c.ids if n != leader)
        for node in (leader, follower):
            async with grpc.aio.insecure_channel(c.node(node).client_address) as ch:
                for request, field in BAD_TXNS:
                    with pytest.raises(grpc.aio.AioRpcError) as err:
                        await kv_pb2_grpc.KvStub(ch).Txn(request, timeout=10)
                    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (node, field)
                    assert (err.value.details() or "").startswith(field), \
                        (node, field, err.value.details())
            error = await raw_grpc.raw_call(c.node(node).address, "/protocols.kv.v1.Kv/Txn",
                                            b"\x0a\x05\x0a\x01r\x12\xff")  # ops[0] cut short
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
        with pytest.raises(InvalidRequest, match=r"a micro-op is \[f, key, value\]"):
            await kv.txn([["r", "x"]])
        assert (await kv.txn([["r", "x", None]]))[0][2] == ["1", "2", "r"]
    assert all(info.proc is not None and info.proc.poll() is None for info in c.nodes.values())
