"""The one scenario that shows a one-way message and a deferred reply mean the same on
real processes and in the simulator: the same steps, the same expected counters.

1. A write sent to a backup is forwarded to the primary, whose reply is deferred until
   the write is applied: the backup's client gets the result; the primary counts one
   deferred reply, the backup one answered forward.
2. With the primary cut off from every backup but the forwarding one, nothing commits:
   the deferred reply never comes, and the backup hears ``on_send_failed`` for its
   Forward; its client gets Unavailable.
3. Throughout, Committed (one-way) messages reach backups, and the primary never hears
   about their fate, even those sent to a dead node: ``send_failed.Committed`` stays 0,
   while ``send_failed.Replicate`` counts the requests to it that got no reply.
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["NODES", "check_after_cut", "check_after_forward"]

NODES = 5  # n1 is the primary; the scenario forwards through n2 and kills n5


def check_after_forward(details: Mapping[str, Mapping[str, str]]) -> None:
    """After step 1 (and n5 dead for a while)."""
    assert int(details["n1"]["deferred_replies"]) >= 1, details["n1"]
    assert int(details["n2"]["forwards_answered"]) >= 1, details["n2"]
    assert int(details["n2"]["one_way_received"]) >= 1, details["n2"]
    assert details["n1"]["send_failed.Committed"] == "0", details["n1"]
    assert int(details["n1"]["send_failed.Replicate"]) >= 1, details["n1"]


def check_after_cut(details: Mapping[str, Mapping[str, str]]) -> None:
    """After step 2."""
    assert int(details["n2"]["send_failed.Forward"]) >= 1, details["n2"]
    assert details["n1"]["send_failed.Committed"] == "0", details["n1"]


# ------------------------------------------------------------------ the composed scenario
# Everything the platform gives composed systems, in one run, on real processes
# (tests/toy/integration/test_composed.py) and in the simulator
# (tests/toy/sim/test_composed.py), which must record the same history:
# two cores per node process (the cluster's own toy, primary n3 by role, and group "g2",
# a second toy whose primary is n1), a node added and one removed while it runs, and a
# crash at a named point (n2 dies right before its first Ack of the own group leaves).
COMPOSED_NODES = 3
COMPOSED_ROLES = {"n3": "primary"}
COMPOSED_GROUP = "g2"
PRIMARY = {"": "n3", COMPOSED_GROUP: "n1"}  # where each group's clients send
CRASH_POINT = "before_send:Ack"
COMPOSED_STEPS: list[tuple[str, ...]] = [
    ("put", "", "a", "1"),
    ("put", COMPOSED_GROUP, "a", "x"),
    ("add_node", "n4"),
    ("put", "", "b", "2"),
    ("crash_at", "n2"),  # CRASH_POINT, in the own group's core only
    ("put", "", "c", "3"),
    ("await_crash", "n2"),
    ("restart", "n2"),
    ("remove_node", "n2"),
    ("put", "", "d", "4"),
    ("put", COMPOSED_GROUP, "b", "y"),
    *[("get", "", k) for k in "abcd"],
    *[("get", COMPOSED_GROUP, k) for k in "ab"],
]
# what every driver must see: one entry per put/get, in order
COMPOSED_HISTORY = [
    ("put", "", "a", "ok"), ("put", "g2", "a", "ok"), ("put", "", "b", "ok"),
    ("put", "", "c", "ok"), ("put", "", "d", "ok"), ("put", "g2", "b", "ok"),
    ("get", "", "a", "1"), ("get", "", "b", "2"), ("get", "", "c", "3"), ("get", "", "d", "4"),
    ("get", "g2", "a", "x"), ("get", "g2", "b", "y"),
]
