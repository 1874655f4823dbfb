"""Cluster membership changes, one server at a time (Raft thesis §4.1-§4.2).

A configuration (``Membership``: voters and learners) is itself a log entry, and takes
effect on each server as soon as it is in its log, committed or not (§4.1). Changing one
server at a time means any majority of the old configuration overlaps any majority of
the new one, so two leaders can never be elected in one term across a change. New
servers join as *learners*: they receive the log but have no vote until they have caught
up, so adding one does not stall commitment while it copies the log (§4.2.1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from protocols.common.errors import InvalidRequest, ProtocolError, Unavailable
from protocols.raft.messages import ChangeMembership, Entry, EntryKind, Membership

__all__ = ["configuration_at", "latest_configuration", "plan_change"]


def latest_configuration(entries: Sequence[Entry], base: Membership) -> tuple[Membership, int]:
    """The configuration in force: the latest CONFIG entry in the log, committed or not
    (§4.1), with its index; without one, ``base`` (the snapshot's or the initial one)."""
    for e in reversed(entries):
        if e.kind == EntryKind.CONFIG:
            return Membership.decode(e.command), e.index
    return base, 0


def configuration_at(entries: Sequence[Entry], index: int, base: Membership) -> Membership:
    """The configuration in force at ``index`` (what a snapshot there must carry)."""
    for e in reversed(entries):
        if e.index <= index and e.kind == EntryKind.CONFIG:
            return Membership.decode(e.command)
    return base


def plan_change(m: Membership, change: ChangeMembership, known_nodes: frozenset[str],
                match_index: Callable[[str], int], commit_index: int
                ) -> Membership | ProtocolError:
    """The configuration ``change`` leads to from ``m`` (``m`` itself when there is
    nothing to do), or the error that refuses it (nothing changes)."""
    node = change.node_id
    if node not in known_nodes:
        return InvalidRequest(f"unknown node {node!r}: the cluster file lists "
                              f"{sorted(known_nodes)}")
    match change.action:
        case "add_learner":
            return m if node in m.members else Membership(m.voters, m.learners | {node})
        case "promote":
            return _promote(m, node, match_index, commit_index)
        case "remove":
            if node not in m.members:
                return m
            if m.voters == {node}:
                return InvalidRequest(f"cannot remove {node}, the last voter")
            return Membership(m.voters - {node}, m.learners - {node})
    return InvalidRequest(f"unknown membership action {change.action!r}: add_learner, "
                          "promote, remove")


def _promote(m: Membership, node: str, match_index: Callable[[str], int],
             commit_index: int) -> Membership | ProtocolError:
    """§4.2.1: a learner gets a vote only once it holds everything committed."""
    if node in m.voters:
        return m
    if node not in m.learners:
        return InvalidRequest(f"{node} is not a learner; add it first")
    if match_index(node) < commit_index:
        return Unavailable(f"learner {node} is catching up: it has {match_index(node)} of "
                           f"{commit_index} committed entries", refused=True)
    return Membership(m.voters | {node}, m.learners - {node})
