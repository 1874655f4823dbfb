"""Majorities (Raft §5.2, §5.4; thesis §4.1): every decision counts the voters of the
current configuration only, and needs more than half of them.

Like etcd's ``quorum`` package: pure functions, so the rules read on their own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from protocols.common import quorum

__all__ = ["committed_index", "has_quorum", "majority"]


def majority(voters: frozenset[str]) -> int:
    """The smallest number of voters that is more than half of them."""
    return quorum.majority(len(voters))


def has_quorum(nodes: Iterable[str], voters: frozenset[str]) -> bool:
    """Do ``nodes`` include a majority of ``voters``? (Learners have no say.)"""
    return len(set(nodes) & voters) >= majority(voters)


def committed_index(match_index: Mapping[str, int], voters: frozenset[str]) -> int:
    """The highest log index that a majority of voters holds (§5.3-§5.4): sort the
    voters' match indexes in descending order and take the majority-th one. A voter
    missing from ``match_index`` holds nothing yet."""
    matches = sorted((match_index.get(v, 0) for v in voters), reverse=True)
    return matches[majority(voters) - 1] if matches else 0
