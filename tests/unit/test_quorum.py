"""The one majority: more than half, for every cluster size the project runs, and a
minority is what is left; any two majorities of the same nodes meet."""

from __future__ import annotations

from itertools import combinations

import pytest

from protocols.common.quorum import majority, minority
from protocols.raft import quorum as raft_quorum


@pytest.mark.parametrize(("n", "most", "few"), [(0, 1, 0), (1, 1, 0), (2, 2, 0), (3, 2, 1),
                                                (4, 3, 1), (5, 3, 2), (7, 4, 3)])
def test_majority_is_more_than_half(n: int, most: int, few: int) -> None:
    assert majority(n) == most and minority(n) == few
    assert 2 * majority(n) > n >= 2 * (majority(n) - 1)  # more than half, and the least
    assert n == 0 or minority(n) + majority(n) == n


@pytest.mark.parametrize("n", range(1, 8))
def test_any_two_majorities_intersect(n: int) -> None:
    nodes = range(n)
    quorums = [set(q) for q in combinations(nodes, majority(n))]
    assert all(a & b for a in quorums for b in quorums)


def test_a_negative_count_is_refused() -> None:
    with pytest.raises(ValueError, match="a count of nodes is >= 0"):
        majority(-1)


def test_raft_counts_voters_with_it() -> None:
    voters = frozenset({"n1", "n2", "n3", "n4"})
    assert raft_quorum.majority(voters) == majority(4) == 3
    assert raft_quorum.has_quorum({"n1", "n2", "n3", "learner"}, voters)
    assert not raft_quorum.has_quorum({"n1", "n2", "learner"}, voters)
