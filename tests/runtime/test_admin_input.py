"""Every Admin RPC refuses bad input with INVALID_ARGUMENT naming the field, changes
nothing, and the node stays up: on real node processes (a two-node Raft cluster, so
``Load`` has a leader to propose at), over the wire as any client would send it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import grpc.aio
import pytest

from cluster.runner import LocalCluster
from protocols._pb import admin_pb2
from protocols.runtime import admin_input
from tests.support import raw_grpc

Factory = Callable[..., Awaitable[LocalCluster]]
Links = admin_pb2.LinkFaults


def faults(*links: Any) -> Any:
    return admin_pb2.SetMessageFaultsRequest(links=list(links))


FAULT_CASES = [  # sent to n2, a member of {n1, n2}: (request, the field named)
    (faults(Links(peer="n9", drop_rate=0.5)), "links[0].peer: unknown node id 'n9'"),
    (faults(Links(peer="n2")), "links[0].peer: 'n2' is this node"),
    (faults(Links(peer="")), "links[0].peer: empty"),
    (faults(Links(peer="*", drop_rate=1.5)), "links[0].drop_rate: 1.5"),
    (faults(Links(peer="*", drop_rate=float("nan"))), "links[0].drop_rate: nan"),
    (faults(Links(peer="*", drop_reply_rate=float("inf"))), "links[0].drop_reply_rate: inf"),
    (faults(Links(peer="*", duplicate_rate=-0.1)), "links[0].duplicate_rate: -0.1"),
    (faults(Links(peer="*", reorder_rate=2, reorder_delay_ms=10)), "links[0].reorder_rate"),
    (faults(Links(peer="*", reorder_rate=0.5)), "links[0].reorder_delay_ms"),
    (faults(Links(peer="*", delay_min_ms=10, delay_max_ms=5)), "links[0].delay_max_ms: 5"),
    (faults(Links(peer="*", delay_max_ms=4_000_000_000)), "links[0].delay_max_ms: 4000000000"),
    (faults(Links(peer="*", reorder_rate=0.1, reorder_delay_ms=60_001)),
     "links[0].reorder_delay_ms: 60001"),
    (faults(Links(peer="n1"), Links(peer="n1", drop_rate=0.2)), "links[1].peer: 'n1' is "
                                                                "listed twice"),
    # the first link alone would clear every fault: the second's refusal keeps it unset
    (faults(Links(peer="*"), Links(peer="n1", drop_rate=7)), "links[1].drop_rate: 7"),
]
PROBE_CASES = [
    (admin_pb2.ProbeRequest(peers=["n9"]), "peers[0]: unknown node id 'n9'"),
    (admin_pb2.ProbeRequest(peers=["n1", "n2"]), "peers[1]: 'n2' is this node"),
    (admin_pb2.ProbeRequest(peers=["n1", "n1"]), "peers[1]: 'n1' is listed twice"),
    (admin_pb2.ProbeRequest(peers=[""]), "peers[0]: empty"),
    (admin_pb2.ProbeRequest(peers=["n1"] + ["x" * 100] * 20_000), "peers[1]: unknown"),
    (admin_pb2.ProbeRequest(count=admin_input.MAX_PROBE_COUNT + 1), "count: 10001"),
    (admin_pb2.ProbeRequest(deadline_ms=admin_input.MAX_PROBE_DEADLINE_MS + 1),
     "deadline_ms: 60001"),
]
LOAD_CASES = [  # sent to the leader: a load that ran would grow its log
    (admin_pb2.LoadRequest(in_flight=admin_input.MAX_LOAD_IN_FLIGHT + 1), "in_flight: 20001"),
    (admin_pb2.LoadRequest(seconds=-1), "seconds: -1"),
    (admin_pb2.LoadRequest(seconds=float("nan")), "seconds: nan"),
    (admin_pb2.LoadRequest(seconds=float("inf")), "seconds: inf"),
    (admin_pb2.LoadRequest(seconds=admin_input.MAX_LOAD_SECONDS + 1), "seconds: 301"),
    (admin_pb2.LoadRequest(seconds=0.1, payload_bytes=admin_input.MAX_LOAD_PAYLOAD_BYTES + 1),
     "payload_bytes: 1048577"),
]
SHUTDOWN_CASES = [
    (admin_pb2.ShutdownRequest(grace_s=-1), "grace_s: -1"),
    (admin_pb2.ShutdownRequest(grace_s=float("nan")), "grace_s: nan"),
    (admin_pb2.ShutdownRequest(grace_s=float("inf")), "grace_s: inf"),
    (admin_pb2.ShutdownRequest(grace_s=admin_input.MAX_SHUTDOWN_GRACE_S + 1), "grace_s: 61"),
]
REQUEST_OF = {"Status": "StatusRequest", "Load": "LoadRequest",  # method -> its request
              "SetMessageFaults": "SetMessageFaultsRequest", "ProbePeers": "ProbeRequest",
              "Shutdown": "ShutdownRequest"}


async def refused(c: LocalCluster, node: str, method: str, request: Any) -> str:
    """The INVALID_ARGUMENT details of ``request`` (fails if it was not refused so)."""
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await c.admin_call(node, method, request, timeout_s=20)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, (method, err.value)
    return err.value.details() or ""


async def raw(address: str, path: str, body: bytes) -> grpc.aio.AioRpcError:
    """Send ``body`` as the request of ``path``; the error it got."""
    return await raw_grpc.raw_call(address, path, body, timeout_s=10)


async def probe_ok(c: LocalCluster, node: str) -> int:
    reply = await c.admin_call(node, "ProbePeers", admin_pb2.ProbeRequest(
        count=2, deadline_ms=300))
    return int(reply.peers[0].ok)


async def last_log_index(c: LocalCluster, node: str) -> int:
    st = await c.status(node)
    assert st is not None, f"{node} does not answer Status"
    return int(st.details["last_log_index"])


async def test_every_admin_rpc_refuses_bad_input_naming_the_field_and_changes_nothing(
        cluster: Factory) -> None:
    c = await cluster("raft", nodes=2, direct=True)
    leader = await c.wait_for_leader()
    follower = "n2" if leader == "n1" else "n1"

    before = await last_log_index(c, leader)
    for request, field in LOAD_CASES:
        assert (await refused(c, leader, "Load", request)).startswith(field), field
    assert await last_log_index(c, leader) == before, "a refused Load proposed something"
    ran = await c.admin_call(leader, "Load", admin_pb2.LoadRequest(in_flight=2, seconds=0.05))
    assert ran.ok > 0 and await last_log_index(c, leader) > before  # the probe can see it

    # n2 drops every request it sends; the refused settings below must leave that so
    n2 = c.node("n2").address
    await c.admin_call("n2", "SetMessageFaults", faults(Links(peer="*", drop_rate=1.0)))
    assert await probe_ok(c, "n2") == 0
    for request, field in FAULT_CASES:
        assert (await refused(c, "n2", "SetMessageFaults", request)).startswith(field), field
    assert await probe_ok(c, "n2") == 0, "a refused SetMessageFaults changed the faults"
    for request, field in PROBE_CASES:
        assert (await refused(c, "n2", "ProbePeers", request)).startswith(field), field
    for request, field in SHUTDOWN_CASES:
        assert (await refused(c, follower, "Shutdown", request)).startswith(field), field
    for method, request_type in REQUEST_OF.items():  # bytes that are no request at all
        error = await raw(n2, f"/protocols.admin.v1.Admin/{method}", b"\xff\xff\xff")
        assert (error.code(), error.details()) == (
            grpc.StatusCode.INVALID_ARGUMENT,
            f"malformed protocols.admin.v1.{request_type}: Wire format was corrupt"), method
    # a peer name that is not UTF-8, inside the second link: named to the field
    body = faults(Links(peer="n1"), Links(peer="n1x")).SerializeToString().replace(
        b"n1x", b"\xffn1")
    error = await raw(n2, "/protocols.admin.v1.Admin/SetMessageFaults", body)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error.details() == ("malformed protocols.admin.v1.SetMessageFaultsRequest: "
                               "links[1].peer: not UTF-8")
    error = await raw(n2, "/protocols.admin.v1.Probe/Ping", b"\x0a\x01\xff")
    assert (error.code(), error.details()) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "malformed protocols.admin.v1.PingRequest: from_id: not UTF-8")

    assert await probe_ok(c, "n2") == 0, "the faults changed"
    assert all(info.proc is not None and info.proc.poll() is None for info in c.nodes.values())
    await c.admin_call("n2", "SetMessageFaults", faults())
    assert await probe_ok(c, "n2") == 2
    assert await c.wait_for_leader() in c.ids
