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
