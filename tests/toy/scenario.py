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
