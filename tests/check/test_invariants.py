"""Each invariant helper passes good input and names the evidence on bad input."""

from __future__ import annotations

import pytest

from protocols.check import (
    InvariantViolation,
    check_acked_writes_present,
    check_agreement,
    check_converged,
    check_log_matching,
    check_monotonic,
    check_single_leader_per_epoch,
)


def test_single_leader_per_epoch() -> None:
    obs = [("n1", 1, True), ("n2", 1, False), ("n1", 1, True), ("n2", 2, True)]
    assert check_single_leader_per_epoch(obs) == {1: "n1", 2: "n2"}
    with pytest.raises(InvariantViolation, match="two leaders in epoch 2: n2 and n3"):
        check_single_leader_per_epoch([*obs, ("n3", 2, True)])


def test_log_matching() -> None:
    good = {"a": [(1, "x"), (1, "y"), (2, "z")], "b": [(1, "x"), (1, "y"), (3, "w")]}
    check_log_matching(good)
    check_log_matching({"a": [(1, "y"), (2, "z")], "b": [(1, "x"), (1, "y")]},
                       first_index={"a": 2, "b": 1})
    with pytest.raises(InvariantViolation, match="differ at index 1"):
        check_log_matching({"a": [(1, "x"), (2, "z")], "b": [(1, "q"), (2, "z")]})
    # they agree at index 1 and on the term at 3, and differ in between: the check must
    # compare everything up to the *last* index whose terms match
    with pytest.raises(InvariantViolation, match="agree on the term at index 3 but differ "
                                                 "at index 2"):
        check_log_matching({"a": [(1, "x"), (1, "y"), (2, "z")],
                            "b": [(1, "x"), (1, "w"), (2, "z")]})
    # offset logs (a compacted prefix): compared on the indexes both hold
    with pytest.raises(InvariantViolation, match="differ at index 2"):
        check_log_matching({"a": [(1, "q"), (2, "z")], "b": [(1, "x"), (1, "y"), (2, "z")]},
                           first_index={"a": 2, "b": 1})


def test_agreement() -> None:
    assert check_agreement({"a": {1: "x", 2: "y"}, "b": {1: "x"}}) == {1: "x", 2: "y"}
    with pytest.raises(InvariantViolation, match="two values decided at index 2"):
        check_agreement({"a": {1: "x", 2: "y"}, "b": {1: "x", 2: "z"}})


def test_monotonic() -> None:
    check_monotonic({"a": [0, 1, 1, 5]})
    with pytest.raises(InvariantViolation, match="commit index of a went backwards: 5 -> 4"):
        check_monotonic({"a": [0, 5, 4]})


def test_acked_writes_and_convergence() -> None:
    check_acked_writes_present([("k", "1")], {"a": [("k", "1"), ("k", "2")]})
    with pytest.raises(InvariantViolation, match="1 acknowledged write"):
        check_acked_writes_present([("k", "3")], {"a": [("k", "1")]})
    assert check_converged({"a": (1, 2), "b": (1, 2)}) == (1, 2)
    with pytest.raises(InvariantViolation, match="did not converge"):
        check_converged({"a": 1, "b": 2})
