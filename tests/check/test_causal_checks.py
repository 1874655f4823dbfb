"""The causal-order checker (protocols.check.causal), caught when a violation is planted."""

from __future__ import annotations

from protocols.check.causal import causal_violations, missing_deliveries


def test_a_causal_execution_passes() -> None:
    logs = {"n1": [("n1", 1), ("n2", 1)],
            "n2": [("n1", 1), ("n2", 1)],  # n2 saw n1#1, then sent n2#1
            "n3": [("n1", 1), ("n2", 1)]}
    assert causal_violations(logs) == [] and missing_deliveries(logs) == []


def test_a_reply_delivered_before_what_it_answers_is_caught() -> None:
    logs = {"n1": [("n1", 1)], "n2": [("n1", 1), ("n2", 1)],
            "n3": [("n2", 1), ("n1", 1)]}
    assert causal_violations(logs) == [
        "n3 delivered n2#1 before n1#1, which happened before it"]


def test_transitive_pasts_are_followed() -> None:
    """n1#1 -> n2#1 -> n3#1: n4 delivering n3#1 before n1#1 is a violation."""
    logs = {"n1": [("n1", 1)], "n2": [("n1", 1), ("n2", 1)],
            "n3": [("n1", 1), ("n2", 1), ("n3", 1)],
            "n4": [("n2", 1), ("n3", 1), ("n1", 1)]}
    found = causal_violations(logs)
    assert found[0] == "n4 delivered n2#1 before n1#1, which happened before it"
    assert any(f.startswith("n4 delivered n3#1 before n1#1") for f in found)


def test_fifo_order_of_one_origin_is_part_of_causality() -> None:
    logs = {"n1": [("n1", 1), ("n1", 2)], "n2": [("n1", 2), ("n1", 1)]}
    assert causal_violations(logs) == [
        "n2 delivered n1#2 before n1#1, which happened before it"]


def test_concurrent_broadcasts_may_arrive_in_any_order() -> None:
    logs = {"n1": [("n1", 1), ("n2", 1)], "n2": [("n2", 1), ("n1", 1)],
            "n3": [("n2", 1), ("n1", 1)]}
    assert causal_violations(logs) == []


def test_a_missing_delivery_is_reported() -> None:
    logs = {"n1": [("n1", 1)], "n2": []}
    assert missing_deliveries(logs) == ["n2 never delivered 1 broadcasts, e.g. [('n1', 1)]"]


def test_one_name_two_payloads_is_caught() -> None:
    """Issue #31 bug 1: a member that reused a number passes every order check, since a
    message is named (origin, seq): the payloads give it away."""
    from protocols.check.causal import mislabelled

    same = {"n1": [("n1", 1, b"a"), ("n1", 2, b"b")], "n2": [("n1", 1, b"a"),
                                                              ("n1", 2, b"b")]}
    assert mislabelled(same, {("n1", 2): b"b"}) == []
    reused = {"n1": [("n1", 1, b"a"), ("n1", 2, b"B")], "n2": [("n1", 1, b"a"),
                                                               ("n1", 2, b"A")]}
    assert mislabelled(reused) == ["n1#2 is b'B' at n1 but b'A' at n2"]
    assert mislabelled({"n2": [("n1", 2, b"A")]}, {("n1", 2): b"B"}) == [
        "n1#2 is b'B' at the acknowledgement but b'A' at n2"]


def test_an_acknowledged_broadcast_nobody_else_delivered_is_caught() -> None:
    """missing_deliveries compares members with each other; an acknowledged broadcast
    its own origin lost (and so never delivered) is caught only against the answers."""
    from protocols.check.causal import undelivered

    logs = {"n1": [("n1", 1)], "n2": [("n1", 1)]}
    assert missing_deliveries(logs) == [] and undelivered({("n1", 1): b"x"}, logs) == []
    assert undelivered({("n1", 1): b"x", ("n1", 2): b"y"}, logs) == [
        "n1 never delivered 1 acknowledged broadcasts, e.g. [('n1', 2)]",
        "n2 never delivered 1 acknowledged broadcasts, e.g. [('n1', 2)]"]


def test_a_delivery_again_after_a_restart_counts_at_its_first_place() -> None:
    """Delivery is at least once across a crash: n1 hands up n1#1 again after a restart.
    Its past is what n1 had delivered before it *first* delivered it."""
    logs = {"n1": [("n1", 1), ("n2", 1), ("n1", 1)],
            "n2": [("n2", 1), ("n1", 1)]}
    assert causal_violations(logs) == []
    logs["n3"] = [("n1", 1)]  # n1#1 did not follow n2#1 (its first place says so)
    assert causal_violations(logs) == []
    late = {"n1": [("n2", 1), ("n1", 1), ("n1", 1)], "n2": [("n2", 1)],
            "n3": [("n1", 1), ("n2", 1)]}
    assert causal_violations(late) == [
        "n3 delivered n1#1 before n2#1, which happened before it"]
