"""The one majority of the project: every protocol that counts votes, promises or copies
(Raft, Multi-Paxos, the Synod, the toy's primary-backup) and every nemesis that splits a
cluster into a majority and a minority asks here, so "more than half" is written once.

Why more than half: any two such sets of the same n nodes share at least one node, and
that node carries what the first decided into the second (Paxos Made Simple, P2c; Raft
§5.2's one vote per term, §5.4's leader completeness)."""

from __future__ import annotations

__all__ = ["majority", "minority"]


def majority(n: int) -> int:
    """The smallest number of n nodes that is more than half of them: n // 2 + 1. (Of no
    nodes it is 1: nothing can reach it, so an empty configuration decides nothing.)"""
    if n < 0:
        raise ValueError(f"a majority of {n} nodes: a count of nodes is >= 0")
    return n // 2 + 1


def minority(n: int) -> int:
    """The largest number of n nodes that is no majority (what a partition may cut off
    while the rest still decides): n - majority(n), and none of no nodes."""
    return max(0, n - majority(n))
