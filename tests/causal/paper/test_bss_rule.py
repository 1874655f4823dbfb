"""The BSS delivery rule and what makes delivery reliable, on cores driven by hand
(Birman, Schiper, Stephenson 1991, §4)."""

from __future__ import annotations

import pytest

from protocols.causal.core import (
    CausalCore,
    CausalOptions,
    DeliveredRecord,
    Deliveries,
    Delivery,
    Mode,
    OwnMessage,
    Recovered,
    Send,
)
from protocols.causal.messages import CausalMessage, Status
from protocols.common.errors import ConfigError, InvalidRequest
from protocols.common.ids import NodeId

TICK_S = 0.01


def core(node: str = "n1", mode: str = "causal", recovered: Recovered | None = None,
         **options: int) -> CausalCore:
    """A member of n1, n2, n3. On an empty disk (``recovered`` None) it first hears
    every peer say it has delivered nothing: a cluster's first start."""
    ids = ["n1", "n2", "n3"]
    c = CausalCore(NodeId(node), [NodeId(p) for p in ids if p != node],
                   CausalOptions.from_mapping({"mode": mode, **options}), recovered, TICK_S)
    if recovered is None:
        for p in c.peers:
            c.on_message(p, Status({}))
        assert c.rejoined
        c.ready()
    return c


def delivered(c: CausalCore) -> list[tuple[str, int]]:
    return [(d.origin, d.seq) for d in c.log]


def msg(origin: str, seq: int, **clock: int) -> CausalMessage:
    return CausalMessage(origin, seq, {origin: seq, **clock})


def test_a_broadcast_is_delivered_at_once_by_its_sender_and_sent_to_everyone() -> None:
    c = core()
    c.submit("r", Send(b"x"))
    r = c.ready()
    assert [(e.dst, e.msg.seq) for e in r.messages] == [("n2", 1), ("n3", 1)]
    assert r.answers[0].result == ("n1", 1, {"n1": 1}) and delivered(c) == [("n1", 1)]
    # the message and its number are durable before it leaves (the pump writes first)
    assert r.persist == [OwnMessage(CausalMessage("n1", 1, {"n1": 1}, b"x")),
                         DeliveredRecord(1, {"n1": 1, "n2": 0, "n3": 0})]


def test_a_message_waits_for_what_its_sender_had_delivered() -> None:
    """n3 replied to n2's message: n1 holds the reply until it has n2's message."""
    c = core()
    reply = msg("n3", 1, n2=1)
    c.on_message(NodeId("n3"), reply)
    assert delivered(c) == [] and c.held_count == 1
    c.on_message(NodeId("n2"), msg("n2", 1))
    assert delivered(c) == [("n2", 1), ("n3", 1)] and c.held_count == 0


def test_each_origin_is_delivered_in_its_own_order() -> None:
    c = core()
    c.on_message(NodeId("n2"), msg("n2", 2))
    c.on_message(NodeId("n2"), msg("n2", 3))
    assert delivered(c) == []
    c.on_message(NodeId("n2"), msg("n2", 1))
    assert delivered(c) == [("n2", 1), ("n2", 2), ("n2", 3)]


@pytest.mark.parametrize(("mode", "expected"), [
    ("fifo", [("n3", 1), ("n2", 1)]),  # the reply overtakes what it answers
    ("none", [("n3", 2), ("n3", 1), ("n2", 1)]),  # anything goes
])
def test_the_contrast_modes_deliver_what_causal_order_would_hold(
        mode: str, expected: list[tuple[str, int]]) -> None:
    c = core(mode=mode)
    if mode == "none":
        c.on_message(NodeId("n3"), msg("n3", 2, n2=1))
    c.on_message(NodeId("n3"), msg("n3", 1, n2=1))
    c.on_message(NodeId("n2"), msg("n2", 1))
    assert delivered(c) == expected


def test_duplicates_are_delivered_once() -> None:
    c = core()
    for _ in range(3):
        c.on_message(NodeId("n2"), msg("n2", 1))
    c.on_message(NodeId("n3"), msg("n3", 2))
    c.on_message(NodeId("n3"), msg("n3", 2))
    assert delivered(c) == [("n2", 1)] and c.held_count == 1


def test_a_status_makes_a_peer_resend_what_is_missing_and_stable_messages_leave() -> None:
    c = core()
    c.submit(1, Send(b"a"))
    c.submit(2, Send(b"b"))
    c.on_message(NodeId("n2"), msg("n2", 1))
    c.ready()
    c.on_message(NodeId("n2"), Status({"n1": 1, "n2": 1}))
    resent = [(e.dst, e.msg.origin, e.msg.seq) for e in c.ready().messages]
    assert resent == [("n2", "n1", 2)]
    assert len(c.buffer) == 3, "n3 has said nothing yet: nothing is stable"
    c.on_message(NodeId("n3"), Status({"n1": 2, "n2": 1}))
    c.on_message(NodeId("n2"), Status({"n1": 2, "n2": 1}))
    assert c.buffer == {}


def test_members_say_what_they_have_every_status_interval() -> None:
    c = core(status_interval_ms=50)
    for _ in range(5):
        c.tick()
    statuses = [e for e in c.ready().messages if isinstance(e.msg, Status)]
    assert sorted(e.dst for e in statuses) == ["n2", "n3"]


def test_a_full_hold_back_queue_refuses_arrivals_which_come_back_by_resend() -> None:
    c = core(max_held=1)
    c.on_message(NodeId("n2"), msg("n2", 2))
    c.on_message(NodeId("n2"), msg("n2", 3))
    assert c.held_count == 1 and c.dropped == 1
    c.on_message(NodeId("n2"), msg("n2", 1))
    c.on_message(NodeId("n2"), msg("n2", 3))  # the resend
    assert delivered(c) == [("n2", 1), ("n2", 2), ("n2", 3)]


def test_a_delivery_is_written_down_before_it_is_handed_up() -> None:
    """The write of a step holds its deliveries in order, payloads and all, closed by
    the record that counts them; the pump hands them up only after it."""
    c = core()
    c.on_message(NodeId("n2"), msg("n2", 1))
    c.submit(1, Send(b"mine"))
    out = c.ready()
    assert [(d.origin, d.seq) for d in out.applied] == [("n2", 1), ("n1", 1)]
    assert [type(r) for r in out.persist] == [Delivery, OwnMessage, DeliveredRecord]
    assert out.persist[1].message.clock == {"n1": 1, "n2": 1}
    assert out.persist[2] == DeliveredRecord(1, {"n1": 1, "n2": 1, "n3": 0})


def test_a_restart_hands_up_the_last_write_again_and_never_redelivers() -> None:
    """The upcall of the last write may not have happened before the crash: it is
    handed up again (at least once); nothing delivered is delivered anew, and the
    numbering goes on."""
    c = core()
    c.submit(1, Send(b"a"))
    c.ready()
    c.on_message(NodeId("n2"), msg("n2", 1))
    last = c.ready().persist
    record = last[-1]
    assert record == DeliveredRecord(1, {"n1": 1, "n2": 1, "n3": 0})
    again = core(recovered=Recovered(record, [], [r.message for r in last[:-1]]))
    assert [(d.origin, d.seq) for d in again.ready().applied] == [("n2", 1)]
    again.on_message(NodeId("n2"), msg("n2", 1))
    again.submit(2, Send(b"b"))
    assert delivered(again) == [("n2", 1), ("n1", 2)]


def test_the_deliveries_query_pages_through_the_log() -> None:
    c = core()
    for i in range(3):
        c.submit(i, Send(b"x"))
    c.ready()
    c.submit("q", Deliveries(since=1))
    assert [d.seq for d in c.ready().answers[0].result] == [2, 3]


def test_bad_input_is_refused() -> None:
    c = core()
    with pytest.raises(InvalidRequest):
        c.on_message(NodeId("n2"), msg("n9", 1))
    with pytest.raises(InvalidRequest):
        c.submit(1, Send(b"x" * 70_000))
    with pytest.raises(ValueError):
        CausalMessage("n2", 2, {"n2": 1})
    with pytest.raises(ConfigError):
        CausalOptions.from_mapping({"mode": "total"})
    assert CausalOptions.from_mapping({}).mode == Mode.CAUSAL


def test_an_acknowledged_broadcast_survives_its_senders_crash(tmp_path: object) -> None:
    """The only copy of a fresh broadcast is its sender's: it is durable until stable, so
    a sender that crashes before anyone got it resends it after the restart (else every
    later broadcast of it would wait forever in every hold-back queue)."""
    from protocols.causal import CausalStorage
    from protocols.common.fs import OsFileSystem
    from protocols.common.wal import SyncPolicy

    storage = CausalStorage(OsFileSystem(), str(tmp_path), SyncPolicy.ALWAYS)
    c = core()
    c.submit(1, Send(b"lost?"))
    storage.save(c.ready().persist)  # answered after this; then the crash
    storage.close()
    again = CausalStorage(OsFileSystem(), str(tmp_path), SyncPolicy.ALWAYS)
    assert again.recovered is not None
    back = core(recovered=again.recovered)
    back.submit(2, Send(b"next"))
    back.ready()
    back.on_message(NodeId("n2"), Status({"n1": 0}))
    resent = [(e.msg.seq, e.msg.payload) for e in back.ready().messages if e.dst == "n2"]
    assert resent == [(1, b"lost?"), (2, b"next")]
    for p in ("n2", "n3"):
        back.on_message(NodeId(p), Status({"n1": 2}))
    marks = back.ready().persist
    again.save(marks)
    again.close()
    assert CausalStorage(OsFileSystem(), str(tmp_path), SyncPolicy.ALWAYS).recovered \
        .unstable == []  # type: ignore[union-attr]
