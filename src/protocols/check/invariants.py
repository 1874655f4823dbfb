"""Invariant helpers shared by the simulator, integration and chaos tests.

Pure functions over observations; each raises ``InvariantViolation`` saying exactly what
was seen. Names are protocol-neutral: an "epoch" is Raft's term or Paxos' ballot, an
"index" a log position or a Paxos slot.

* ``check_single_leader_per_epoch`` — Raft §5.2 election safety;
* ``check_log_matching`` — Raft §5.3: same (index, term) => identical prefixes;
* ``check_agreement`` — state machine safety / Paxos agreement: one value per index;
* ``check_monotonic`` — commit index / applied index never goes backwards;
* ``check_acked_writes_present`` — no acknowledged write lost;
* ``check_converged`` — after heal, every node holds the same state.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

__all__ = [
    "InvariantViolation",
    "check_acked_writes_present",
    "check_agreement",
    "check_converged",
    "check_log_matching",
    "check_monotonic",
    "check_single_leader_per_epoch",
]


class InvariantViolation(AssertionError):
    """A safety property does not hold; the message shows the evidence."""


def check_single_leader_per_epoch(observations: Iterable[tuple[str, int, bool]]
                                  ) -> dict[int, str]:
    """(node, epoch, leading) observations, ``leading`` as in ``NodeStatus.leading``: at
    most one node leads in any epoch."""
    leaders: dict[int, str] = {}
    for node, epoch, leading in observations:
        if not leading:
            continue
        other = leaders.setdefault(epoch, node)
        if other != node:
            raise InvariantViolation(f"two leaders in epoch {epoch}: {other} and {node}")
    return leaders


def check_log_matching(logs: Mapping[str, Sequence[tuple[int, Hashable]]],
                       first_index: Mapping[str, int] | None = None) -> None:
    """``logs[node]`` = [(term, command), ...] from index ``first_index[node]`` (default 1).
    If two logs hold an entry with the same index and term, they are identical up to it."""
    nodes = sorted(logs)
    starts = {n: (first_index or {}).get(n, 1) for n in nodes}
    for i, a in enumerate(nodes):
        for b in nodes[i + 1:]:
            _match_pair(a, logs[a], starts[a], b, logs[b], starts[b])


def _match_pair(a: str, la: Sequence[tuple[int, Hashable]], sa: int,
                b: str, lb: Sequence[tuple[int, Hashable]], sb: int) -> None:
    lo, hi = max(sa, sb), min(sa + len(la), sb + len(lb)) - 1
    last_match = None
    for index in range(hi, lo - 1, -1):
        if la[index - sa][0] == lb[index - sb][0]:
            last_match = index
            break
    if last_match is None:
        return
    for index in range(lo, last_match + 1):
        if la[index - sa] != lb[index - sb]:
            raise InvariantViolation(
                f"log matching: {a} and {b} agree on the term at index {last_match} but "
                f"differ at index {index}: {a} has {la[index - sa]!r}, {b} has "
                f"{lb[index - sb]!r}")


def check_agreement(decided: Mapping[str, Mapping[int, Hashable]]) -> dict[int, Hashable]:
    """``decided[node][index] = value`` (committed/applied/chosen): one value per index."""
    chosen: dict[int, tuple[str, Hashable]] = {}
    for node in sorted(decided):
        for index, value in sorted(decided[node].items()):
            first = chosen.setdefault(index, (node, value))
            if first[1] != value:
                raise InvariantViolation(
                    f"two values decided at index {index}: {first[0]} has {first[1]!r}, "
                    f"{node} has {value!r}")
    return {i: v for i, (_, v) in chosen.items()}


def check_monotonic(series: Mapping[str, Sequence[int]], what: str = "commit index") -> None:
    """Each node's successive observations of ``what`` never decrease."""
    for node in sorted(series):
        values = series[node]
        for prev, cur in itertools.pairwise(values):
            if cur < prev:
                raise InvariantViolation(f"{what} of {node} went backwards: {prev} -> {cur} "
                                         f"(observations {list(values)})")


def check_acked_writes_present(acked: Iterable[tuple[Any, Any]],
                               applied: Mapping[str, Iterable[tuple[Any, Any]]]) -> None:
    """Every acknowledged write (key, value) was applied on every listed node."""
    wanted = list(acked)
    for node in sorted(applied):
        have = set(applied[node])
        lost = [w for w in wanted if w not in have]
        if lost:
            raise InvariantViolation(f"{len(lost)} acknowledged write(s) missing on {node}, "
                                     f"e.g. {lost[:5]}")


def check_converged(states: Mapping[str, Hashable]) -> Hashable:
    """All nodes hold equal state; returns it."""
    nodes = sorted(states)
    if not nodes:
        raise InvariantViolation("no node states to compare")
    first = states[nodes[0]]
    differ = [n for n in nodes if states[n] != first]
    if differ:
        raise InvariantViolation(f"nodes did not converge: {nodes[0]} has {first!r}; "
                                 + "; ".join(f"{n} has {states[n]!r}" for n in differ[:4]))
    return first
