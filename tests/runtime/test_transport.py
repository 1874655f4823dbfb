"""The transport: a deadline on every RPC, and the message-fault hook really acting on
messages (a dropped message is not delivered, a duplicated one is delivered twice)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio
import pytest

from protocols._pb import admin_pb2, admin_pb2_grpc, peer_pb2
from protocols.common.errors import InvalidRequest
from protocols.common.ids import NodeId
from protocols.runtime.faults import LinkFaults, MessageFaults
from protocols.runtime.transport import PeerUnreachable, Transport

PING = "/protocols.admin.v1.Probe/Ping"


class CountingProbe(admin_pb2_grpc.ProbeServicer):
    def __init__(self) -> None:
        self.received: list[int] = []
        self.stall_s = 0.0

    async def Ping(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        self.received.append(request.seq)
        if self.stall_s:
            await asyncio.sleep(self.stall_s)
        return admin_pb2.PingReply(node_id="peer", seq=request.seq)


@pytest.fixture
async def peer() -> AsyncIterator[tuple[str, CountingProbe]]:
    server = grpc.aio.server()
    probe = CountingProbe()
    admin_pb2_grpc.add_ProbeServicer_to_server(probe, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}", probe
    await server.stop(grace=None)


async def wait_until(predicate: Any, deadline_s: float, what: str) -> None:
    end = time.monotonic() + deadline_s
    while not predicate():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline_s}s waiting for {what}")
        await asyncio.sleep(0.01)


def transport_to(address: str, deadline_s: float = 0.5, seed: int = 1) -> Transport:
    faults = MessageFaults(NodeId("me"), seed=seed)
    return Transport(NodeId("me"), {NodeId("peer"): address}, deadline_s, faults)


async def ping(t: Transport, seq: int) -> Any:
    return await t.call(NodeId("peer"), PING, admin_pb2.PingRequest(from_id="me", seq=seq),
                        admin_pb2.PingReply)


async def test_clean_call_is_delivered_once(peer: tuple[str, CountingProbe]) -> None:
    address, probe = peer
    t = transport_to(address)
    reply = await ping(t, 7)
    assert reply.seq == 7 and probe.received == [7]
    await t.close()


async def test_deadline_bounds_a_call_to_a_stalled_peer(peer: tuple[str, CountingProbe]) -> None:
    address, probe = peer
    probe.stall_s = 5.0
    t = transport_to(address, deadline_s=0.3)
    started = time.monotonic()
    with pytest.raises(PeerUnreachable) as err:
        await ping(t, 1)
    elapsed = time.monotonic() - started
    assert err.value.code == grpc.StatusCode.DEADLINE_EXCEEDED
    assert 0.25 < elapsed < 2.0, elapsed
    await t.close()


async def test_unreachable_peer_fails_within_the_deadline() -> None:
    t = transport_to("127.0.0.1:1", deadline_s=0.5)  # nothing listens on port 1
    started = time.monotonic()
    with pytest.raises(PeerUnreachable):
        await ping(t, 1)
    assert time.monotonic() - started < 2.0
    await t.close()


async def test_dropped_message_is_not_delivered(peer: tuple[str, CountingProbe]) -> None:
    address, probe = peer
    t = transport_to(address, deadline_s=0.2)
    t.faults.set([LinkFaults(peer="peer", drop_rate=1.0)])
    for seq in range(3):
        with pytest.raises(PeerUnreachable, match="request dropped"):
            await ping(t, seq)
    # give a wrongly-sent message every chance to arrive before we look
    t.faults.set([])
    await ping(t, 99)
    assert probe.received == [99]
    await t.close()


async def test_dropped_reply_means_delivered_but_no_answer(
    peer: tuple[str, CountingProbe],
) -> None:
    address, probe = peer
    t = transport_to(address, deadline_s=0.2)
    t.faults.set([LinkFaults(peer="*", drop_reply_rate=1.0)])
    with pytest.raises(PeerUnreachable, match="reply dropped"):
        await ping(t, 5)
    assert probe.received == [5]
    await t.close()


async def test_duplicated_message_is_delivered_twice(peer: tuple[str, CountingProbe]) -> None:
    address, probe = peer
    t = transport_to(address)
    t.faults.set([LinkFaults(peer="peer", duplicate_rate=1.0)])
    for seq in range(5):
        reply = await ping(t, seq)
        assert reply.seq == seq
    await wait_until(lambda: len(probe.received) == 10, 5.0,
                     f"10 deliveries of 5 duplicated pings (saw {probe.received})")
    assert sorted(probe.received) == sorted(list(range(5)) * 2)
    await t.close()


async def test_drop_rate_is_seeded_and_near_the_configured_rate(
    peer: tuple[str, CountingProbe],
) -> None:
    address, _ = peer
    seed = 1234
    print(f"seed={seed}")
    outcomes = []
    for _ in range(2):  # the same seed gives the same fate to the same messages
        t = transport_to(address, deadline_s=0.05, seed=seed)
        t.faults.set([LinkFaults(peer="peer", drop_rate=0.3)])
        fates = [t.faults.decide(NodeId("peer")).drop for _ in range(1000)]
        outcomes.append(fates)
        await t.close()
    assert outcomes[0] == outcomes[1]
    assert 230 < sum(outcomes[0]) < 370


async def test_delay_delays_and_reorder_lets_later_messages_overtake(
    peer: tuple[str, CountingProbe],
) -> None:
    address, probe = peer
    t = transport_to(address, deadline_s=2.0)
    t.faults.set([LinkFaults(peer="peer", delay_min_ms=100, delay_max_ms=100)])
    started = time.monotonic()
    await ping(t, 1)
    assert time.monotonic() - started >= 0.1
    # every odd message held back 300 ms: the even ones sent after it arrive first
    t.faults.set([LinkFaults(peer="peer", reorder_rate=1.0, reorder_delay_ms=300)])
    held = asyncio.ensure_future(ping(t, 2))
    await asyncio.sleep(0)  # let it start waiting
    t.faults.set([])
    await ping(t, 3)
    await held
    assert probe.received[-2:] == [3, 2]
    await t.close()


def test_bad_fault_rates_are_refused_and_change_nothing() -> None:
    faults = MessageFaults(NodeId("me"))
    faults.set([LinkFaults(peer="a", drop_rate=0.5)])
    with pytest.raises(InvalidRequest, match="drop_rate=1.5 is not in"):
        faults.set([LinkFaults(peer="b", duplicate_rate=0.1), LinkFaults(peer="a", drop_rate=1.5)])
    with pytest.raises(InvalidRequest, match="delay_min_ms <= delay_max_ms"):
        faults.set([LinkFaults(peer="a", delay_min_ms=10, delay_max_ms=5)])
    assert faults.current() == [LinkFaults(peer="a", drop_rate=0.5)]


# ----------------------------------------------------------------------------- streams
class EchoStream:
    """A peer's stream endpoint: replies to each request frame with its own body (none
    for one-way frames); ``close_after`` ends the stream after that many frames."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.deadlines_ms: list[int] = []
        self.close_after = 0
        self.silent = False
        self.slow = b""  # a request with this body is answered only after the next one
        self.held: Any = None
        self.writes = 0  # stream messages received (a coalesced batch is one)

    async def Stream(self, frames: Any, context: grpc.aio.ServicerContext) -> Any:
        async for received in frames:
            self.writes += 1
            for frame in received.batch or (received,):  # frames coalesced into one write
                for reply in self._answer(frame):
                    yield reply
            if self.close_after and len(self.received) >= self.close_after:
                return

    def _answer(self, frame: Any) -> list[Any]:
        """The reply frames one request frame gets (none once the stream should end)."""
        if self.close_after and len(self.received) >= self.close_after:
            return []
        self.received.append(bytes(frame.body))
        self.deadlines_ms.append(frame.deadline_ms)
        if self.close_after and len(self.received) >= self.close_after:
            return []
        if self.slow and frame.body == self.slow:
            self.held = peer_pb2.Frame(id=frame.id, body=frame.body)
            return []
        out = []
        if not frame.one_way and not self.silent:
            if self.held is not None:  # the held reply goes out late, just before
                out.append(self.held)
                self.held = None
            out.append(peer_pb2.Frame(id=frame.id, body=frame.body))
        return out


@pytest.fixture
async def stream_peer() -> AsyncIterator[tuple[str, EchoStream]]:
    server = grpc.aio.server()
    echo = EchoStream()
    handler = grpc.stream_stream_rpc_method_handler(
        echo.Stream, request_deserializer=peer_pb2.Frame.FromString,
        response_serializer=lambda m: m.SerializeToString())
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "protocols.peer.v1.Peer", {"Stream": handler}),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}", echo
    await server.stop(grace=None)


async def send(t: Transport, body: bytes, one_way: bool = False) -> bytes | None:
    frame = await t.request(NodeId("peer"), "Echo", body, one_way=one_way)
    return None if frame is None else bytes(frame.body)


async def test_stream_requests_get_their_own_replies(stream_peer: tuple[str, EchoStream]
                                                     ) -> None:
    address, echo = stream_peer
    t = transport_to(address)
    replies = await asyncio.gather(*(send(t, f"m{i}".encode()) for i in range(50)))
    assert replies == [f"m{i}".encode() for i in range(50)]
    assert await send(t, b"fire", one_way=True) is None  # returns without a reply
    await wait_until(lambda: b"fire" in echo.received, 5, "the one-way frame delivered")
    await t.close()


async def test_stream_faults_drop_duplicate_and_deadline(stream_peer: tuple[str, EchoStream]
                                                         ) -> None:
    address, echo = stream_peer
    t = transport_to(address, deadline_s=0.2)
    t.faults.set([LinkFaults(peer="peer", drop_rate=1.0)])
    with pytest.raises(PeerUnreachable, match="request dropped"):
        await send(t, b"lost")
    t.faults.set([LinkFaults(peer="peer", duplicate_rate=1.0)])
    assert await send(t, b"twice") == b"twice"
    await wait_until(lambda: echo.received.count(b"twice") == 2, 5, "two deliveries")
    assert b"lost" not in echo.received
    t.faults.set([])
    echo.silent = True  # a dropped request: silence until the deadline
    started = time.monotonic()
    with pytest.raises(PeerUnreachable, match="DEADLINE_EXCEEDED"):
        await send(t, b"unanswered")
    assert time.monotonic() - started >= 0.15
    await t.close()


async def test_stream_keeps_the_send_order_and_reorder_lets_later_frames_overtake(
        stream_peer: tuple[str, EchoStream]) -> None:
    """Frames reach the peer in the order they were sent (Raft's pipelined AppendEntries
    rely on it). The delay fault holds a frame back; with reorder, the frames sent after
    a held one arrive before it, as on the unary path."""
    address, echo = stream_peer
    t = transport_to(address, deadline_s=2.0)
    bodies = [f"o{i}".encode() for i in range(300)]
    for body in bodies:  # sent back to back, without waiting for replies
        t.send(NodeId("peer"), "Echo", body, one_way=True)
    await wait_until(lambda: len(echo.received) == 300, 10, "300 frames delivered")
    assert echo.received == bodies
    t.faults.set([LinkFaults(peer="peer", delay_min_ms=100, delay_max_ms=100)])
    started = time.monotonic()
    assert await send(t, b"slow") == b"slow"
    assert time.monotonic() - started >= 0.1
    t.faults.set([LinkFaults(peer="peer", reorder_rate=1.0, reorder_delay_ms=300)])
    held = asyncio.ensure_future(send(t, b"held"))
    await asyncio.sleep(0)
    t.faults.set([])
    assert await send(t, b"after") == b"after"
    assert await held == b"held"
    assert echo.received[-2:] == [b"after", b"held"]
    await t.close()


async def test_a_broken_stream_fails_what_waits_and_the_next_request_reopens_it(
        stream_peer: tuple[str, EchoStream]) -> None:
    address, echo = stream_peer
    t = transport_to(address, deadline_s=2.0)
    echo.silent, echo.close_after = True, 2
    waiting = asyncio.ensure_future(send(t, b"first"))
    await wait_until(lambda: len(echo.received) == 1, 5, "the first frame delivered")
    with pytest.raises(PeerUnreachable):
        await send(t, b"second")  # the peer ends the stream on this one
    with pytest.raises(PeerUnreachable):
        await waiting  # failed at once when the stream ended, not at its deadline
    echo.silent, echo.close_after = False, 0
    assert await send(t, b"again") == b"again"  # a new stream
    await t.close()


async def test_send_reports_each_outcome_once_and_never_inside_the_call(
        stream_peer: tuple[str, EchoStream], monkeypatch: pytest.MonkeyPatch) -> None:
    """The node's path: ``send`` returns at once; a reply or a failure comes back later as
    one callback, from the loop (a core is never re-entered from inside its own send).
    A peer's full queue fails the message instead of growing without bound."""
    import protocols.runtime.transport as transport_module
    monkeypatch.setattr(transport_module, "OUTBOX_MAX", 3)
    address, echo = stream_peer
    t = transport_to(address)
    outcomes: dict[int, list[str]] = {i: [] for i in range(6)}
    for i in range(6):  # no await in between: the writer cannot drain the queue
        t.send(NodeId("peer"), "Echo", f"m{i}".encode(), one_way=False,
               on_reply=lambda frame, i=i: outcomes[i].append(bytes(frame.body).decode()),
               on_failure=lambda e, i=i: outcomes[i].append(f"failed: {e.reason}"))
    assert all(not o for o in outcomes.values()), "a callback ran inside send()"
    await wait_until(lambda: all(outcomes.values()), 5, f"every outcome (saw {outcomes})")
    await asyncio.sleep(0.1)  # a second outcome would have arrived by now
    assert [outcomes[i] for i in range(3)] == [["m0"], ["m1"], ["m2"]]
    for i in range(3, 6):
        assert outcomes[i] == ["failed: 3 frames already wait for this peer"]
    assert echo.received == [b"m0", b"m1", b"m2"]
    await t.close()


async def test_a_message_held_past_its_deadline_is_never_delivered_late(
        stream_peer: tuple[str, EchoStream]) -> None:
    """Its sender gave up at the deadline; delivering it afterwards would hand the peer
    a message nobody waits for (a delay fault longer than the deadline)."""
    address, echo = stream_peer
    t = transport_to(address, deadline_s=0.2)
    t.faults.set([LinkFaults(peer="peer", delay_min_ms=400, delay_max_ms=400)])
    with pytest.raises(PeerUnreachable, match="DEADLINE_EXCEEDED"):
        await send(t, b"late")
    t.faults.set([])
    await asyncio.sleep(0.4)  # past the fault's delay
    assert await send(t, b"on time") == b"on time"
    assert echo.received == [b"on time"]
    await t.close()


async def test_a_reply_after_the_deadline_is_discarded(
        stream_peer: tuple[str, EchoStream]) -> None:
    """The sender heard "no reply" at its deadline (its core was told ``on_send_failed``);
    a reply arriving afterwards must not reach it as well: one outcome per request. The
    peer answers the slow request late, just before the next one's reply on the same
    stream, so once that reply is in, the late one has been read."""
    address, echo = stream_peer
    t = transport_to(address, deadline_s=0.3)
    echo.slow = b"slow"
    outcomes: list[str] = []
    t.send(NodeId("peer"), "Echo", b"slow", one_way=False,
           on_reply=lambda frame: outcomes.append(f"reply {bytes(frame.body).decode()}"),
           on_failure=lambda e: outcomes.append(f"failed: {e.reason}"))
    await wait_until(lambda: outcomes, 5, "the slow request's outcome")
    assert outcomes == ["failed: DEADLINE_EXCEEDED: no reply on the stream in time"]
    assert await send(t, b"next") == b"next"  # the late reply came just before this one
    assert echo.held is None and outcomes == [
        "failed: DEADLINE_EXCEEDED: no reply on the stream in time"], outcomes
    await t.close()


async def test_a_one_way_message_held_past_its_deadline_is_never_sent(
        stream_peer: tuple[str, EchoStream]) -> None:
    """A one-way message has no request to fail at its deadline; the writer itself must
    drop a frame whose deadline passed while a delay fault held it (a gossip or a
    heartbeat delivered late is news from the past)."""
    address, echo = stream_peer
    t = transport_to(address, deadline_s=0.2)
    loop = asyncio.get_running_loop()
    t.faults.set([LinkFaults(peer="peer", delay_min_ms=400, delay_max_ms=400)])
    sent_at = loop.time()
    t.send(NodeId("peer"), "Echo", b"late", one_way=True)
    t.faults.set([])
    await wait_until(lambda: loop.time() > sent_at + 0.25, 5,
                     "the held frame's deadline passed (it is posted at its deadline)")
    assert await send(t, b"on time") == b"on time"  # written after the held one, if sent
    assert echo.received == [b"on time"]
    await t.close()


async def test_a_dropped_reply_on_the_stream_was_delivered_but_times_out(
        stream_peer: tuple[str, EchoStream]) -> None:
    address, echo = stream_peer
    t = transport_to(address, deadline_s=0.2)
    t.faults.set([LinkFaults(peer="peer", drop_reply_rate=1.0)])
    with pytest.raises(PeerUnreachable, match="reply dropped"):
        await send(t, b"heard")
    assert echo.received == [b"heard"]
    await t.close()


async def test_a_frame_carries_the_deadline_its_sender_has_left(
        stream_peer: tuple[str, EchoStream]) -> None:
    """A request held 300 ms by a delay fault tells the receiver it has ~200 ms left of
    its 500 (a deferred reply there must not outlive the sender's wait)."""
    address, echo = stream_peer
    t = transport_to(address, deadline_s=0.5)
    t.faults.set([LinkFaults(peer="peer", delay_min_ms=300, delay_max_ms=300)])
    assert await send(t, b"held") == b"held"
    assert 0 < echo.deadlines_ms[0] <= 200, echo.deadlines_ms
    await t.close()


async def test_closing_fails_what_waits_and_sends_nothing_more(
        stream_peer: tuple[str, EchoStream]) -> None:
    address, echo = stream_peer
    t = transport_to(address, deadline_s=5.0)
    echo.silent = True
    waiting = asyncio.ensure_future(send(t, b"unanswered"))
    await wait_until(lambda: echo.received == [b"unanswered"], 5, "the first frame delivered")
    t.faults.set([LinkFaults(peer="peer", delay_min_ms=100, delay_max_ms=100)])
    delayed = asyncio.ensure_future(send(t, b"delayed"))
    await asyncio.sleep(0.01)  # it is held by the delay fault
    await t.close()
    for fut in (waiting, delayed):  # an outcome now, not at the 5 s deadline
        with pytest.raises(PeerUnreachable, match="transport is closed"):
            await asyncio.wait_for(fut, 1.0)
    with pytest.raises(PeerUnreachable, match="transport is closed"):
        await asyncio.wait_for(send(t, b"after"), 1.0)
    await asyncio.sleep(0.2)  # past the delay: a late post would have been sent by now
    assert echo.received == [b"unanswered"]


async def test_frames_posted_in_one_loop_turn_travel_as_one_write(
        stream_peer: tuple[str, EchoStream]) -> None:
    """Coalescing (CockroachDB's coalesced heartbeats, for every message): what many
    cores post for one peer in one loop turn leaves as one frame carrying them, in
    order, and each request still gets its own reply."""
    address, echo = stream_peer
    t = transport_to(address)
    await send(t, b"warm-up")  # the stream is open
    writes = echo.writes
    replies = await asyncio.gather(*(send(t, f"m{i}".encode()) for i in range(40)))
    assert replies == [f"m{i}".encode() for i in range(40)]
    assert echo.received[-40:] == [f"m{i}".encode() for i in range(40)]  # in order
    assert echo.writes - writes < 5, f"{echo.writes - writes} writes for 40 frames"
    await t.close()


def test_a_message_hook_takes_precedence_for_its_message_type_only() -> None:
    """A rule naming a message type applies to that type on its link; the link's own
    rule (or the every-peer one) to the rest."""
    faults = MessageFaults(NodeId("n1"), seed=1)
    faults.set([LinkFaults(peer="n2", message="Commit", drop_rate=1.0),
                LinkFaults(peer="*", duplicate_rate=1.0)])
    commit = faults.decide(NodeId("n2"), "Commit")
    assert commit.drop and not commit.duplicate
    other = faults.decide(NodeId("n2"), "Prepare")
    assert other.duplicate and not other.drop
    assert faults.decide(NodeId("n3"), "Commit").duplicate  # the hook names n2 only
    with pytest.raises(InvalidRequest, match="not a message name"):
        faults.set([LinkFaults(peer="n2", message="no such", drop_rate=1.0)])
