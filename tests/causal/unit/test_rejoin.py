"""A member that lost its disk, and claims no member could make (issue #31, bug 4), on
cores driven by hand.

After a wiped disk a member used to start counting its broadcasts from 1 again: its
peers already held its old numbers 1, 2, 3 and dropped its new, acknowledged broadcasts
as duplicates. Now a member on an empty disk rejoins first: it hears every peer, takes
what some peer knows every member delivered as delivered (those messages may be gone
from every buffer) and resumes its count after the most any peer has of it."""

from __future__ import annotations

import pytest

from protocols.causal.core import CausalCore, CausalOptions, Send
from protocols.causal.messages import CausalMessage, Status
from protocols.common.errors import InvalidRequest, Unavailable
from protocols.common.ids import NodeId
from tests.causal.harness import IDS, member, status_of


def flood(cores: dict[str, CausalCore], rounds: int = 2) -> None:
    """Hand every message to its destination, and every member's status to every other,
    until nothing moves (``rounds`` status exchanges, so stable messages leave)."""
    for _ in range(rounds):
        moving = True
        while moving:
            moving = False
            for c in cores.values():
                for e in c.ready().messages:
                    if e.dst in cores and isinstance(e.msg, CausalMessage):
                        cores[e.dst].on_message(c.node_id, e.msg)
                        moving = True
        for a in cores.values():
            for b in cores.values():
                if a is not b:
                    b.on_message(a.node_id, status_of(a))


def payloads(c: CausalCore, origin: str) -> dict[int, bytes]:
    return {d.seq: d.payload for d in c.log if d.origin == origin}


def test_a_member_whose_disk_was_wiped_never_reuses_a_number() -> None:
    cores = {n: member(n) for n in IDS}
    for i in range(3):
        cores["n1"].submit(i, Send(f"old {i + 1}".encode()))
    flood(cores)
    assert all(payloads(cores[p], "n1") == {1: b"old 1", 2: b"old 2", 3: b"old 3"}
               for p in ("n2", "n3"))
    cores["n1"] = wiped = member("n1", first_start=False)  # the same id, an empty disk
    wiped.submit("new", Send(b"new"))
    assert wiped.ready().answers == [], "it does not know its own count yet: it waits"
    for p in ("n2", "n3"):
        wiped.on_message(NodeId(p), status_of(cores[p]))
    (answer,) = wiped.ready().answers
    assert answer.result[:2] == ("n1", 4)
    for p in ("n2", "n3"):
        cores[p].on_message(NodeId("n1"), CausalMessage("n1", 4, answer.result[2], b"new"))
        assert payloads(cores[p], "n1")[4] == b"new"


def test_a_rejoining_member_takes_what_every_member_had_as_delivered() -> None:
    """n2's first two broadcasts are stable (every member said it has them) and gone from
    every buffer: the wiped n1 cannot get them back, so it counts them as delivered, and
    n2's next broadcast is deliverable at n1."""
    cores = {n: member(n) for n in IDS}
    for i in range(2):
        cores["n2"].submit(i, Send(b"x"))
    flood(cores, rounds=3)
    assert all(not c.buffer for c in cores.values()), "stable: gone from every buffer"
    cores["n1"] = wiped = member("n1", first_start=False)
    for p in ("n2", "n3"):
        wiped.on_message(NodeId(p), status_of(cores[p]))
    assert wiped.rejoined and wiped.origins["n2"].prefix == 2
    cores["n2"].submit(9, Send(b"third"))
    (m,) = [e.msg for e in cores["n2"].ready().messages if e.dst == "n1"]
    wiped.on_message(NodeId("n2"), m)
    assert payloads(wiped, "n2") == {3: b"third"}


def test_a_first_start_waits_for_every_peer_and_a_full_wait_is_unavailable() -> None:
    c = CausalCore(NodeId("n1"), [NodeId("n2"), NodeId("n3")],
                   CausalOptions(max_waiting=1), None, 0.01)
    c.submit(1, Send(b"a"))
    with pytest.raises(Unavailable, match="rejoining"):
        c.submit(2, Send(b"b"))
    c.on_message(NodeId("n2"), Status({}))
    assert not c.rejoined and c.ready().answers == []
    c.on_message(NodeId("n3"), Status({}))
    assert [a.result[:2] for a in c.ready().answers] == [("n1", 1)]


def test_claims_about_our_broadcasts_beyond_what_we_made_are_refused() -> None:
    """A message or a status that says someone delivered more of n1's broadcasts than n1
    ever made is refused (INVALID_ARGUMENT from a client, a dropped message from a peer)
    and changes nothing: such a message could never be delivered, and such a status
    would make n1 drop its broadcasts before their time."""
    c = member("n1")
    c.submit(1, Send(b"a"))
    c.ready()
    bad = [CausalMessage("n2", 1, {"n2": 1, "n1": 1000}, b"?"),
           Status({"n1": 1000}), Status({"n1": 1}, stable={"n1": 5})]
    for msg in bad:
        with pytest.raises(InvalidRequest, match="n1.* claims .* it made 1"):
            c.on_message(NodeId("n2"), msg)
    assert c.held_count == 0 and c.peer_has["n2"] == {} and len(c.buffer) == 1
    c.on_message(NodeId("n2"), Status({"n1": 1}, stable={"n1": 1}))  # true: fine
    assert c.peer_has["n2"] == {"n1": 1}


def test_a_status_about_non_members_is_refused() -> None:
    c = member("n1")
    with pytest.raises(InvalidRequest, match="non-members"):
        c.on_message(NodeId("n2"), Status({"n9": 1}))
    with pytest.raises(InvalidRequest, match="non-members"):
        c.on_message(NodeId("n2"), Status({}, stable={"n9": 1}))
