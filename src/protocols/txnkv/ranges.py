"""The keyspace split into ranges, and where each range's three replicas live.

CockroachDB keeps its range descriptors in a range of their own (meta ranges); here the
first split is static, given by the cluster's options (``splits``): every node computes the
same descriptors from the same member list. A range then splits while it serves
(``SplitRange``, a command of its own log): its replicas learn the new descriptors as they
apply it, and a node that does not host it learns them from the range's answer to a
request that went to the wrong side (``range-mismatch``, ``learn``). A range ``[start,
end)`` is a contiguous span of keys, ordered as strings: range ``r1`` starts at ``""``,
each split key starts the next one. Its replicas are ``replication`` consecutive members
(sorted), starting one further along for each range, so leases and load spread.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from protocols.common.errors import ConfigError

__all__ = ["RangeDescriptor", "learn", "range_of", "spread", "static_split"]


@dataclass(frozen=True, slots=True)
class RangeDescriptor:
    range_id: str
    start: str  # inclusive
    end: str | None  # exclusive; None: to the end of the keyspace
    replicas: tuple[str, ...]

    def contains(self, key: str) -> bool:
        return self.start <= key and (self.end is None or key < self.end)

    def key_in(self, name: str) -> str:
        """A key in this range built from ``name``: the range's start, then ``name`` (or
        "0" and ``name``, for a first range ending below ``name``): the workloads place
        keys so."""
        for key in (self.start + name, self.start + "0" + name):
            if self.contains(key):
                return key
        raise ConfigError(f"no key from {name!r} falls in {self.range_id} "
                          f"[{self.start!r}, {self.end!r})")

    def describe(self) -> str:
        return (f"{self.range_id} [{self.start!r}, {self.end!r}) on "
                f"{','.join(self.replicas)}")


def static_split(members: Sequence[str], splits: Sequence[str], replication: int
                 ) -> tuple[RangeDescriptor, ...]:
    """The ranges ``["", s1), [s1, s2), ..., [sk, end)`` and their replicas."""
    nodes = sorted(members)
    if not nodes:
        raise ConfigError("a txnkv cluster needs at least one node")
    keys = list(splits)
    if any(not k for k in keys) or keys != sorted(set(keys)):
        raise ConfigError(f"splits must be distinct, non-empty and sorted: {keys!r}")
    rf = min(replication, len(nodes))
    bounds = ["", *keys]
    out = []
    for i, start in enumerate(bounds):
        end = bounds[i + 1] if i + 1 < len(bounds) else None
        replicas = tuple(sorted(nodes[(i + j) % len(nodes)] for j in range(rf)))
        out.append(RangeDescriptor(f"r{i + 1}", start, end, replicas))
    return tuple(out)


def range_of(ranges: Sequence[RangeDescriptor], key: str) -> RangeDescriptor:
    """The range holding ``key``: of those whose span contains it, the one starting
    latest. A split narrows a range from the right, so a descriptor known from before a
    split (wider) loses to the right-hand side's once that is known."""
    best: RangeDescriptor | None = None
    for r in ranges:
        if r.contains(key) and (best is None or r.start > best.start):
            best = r
    if best is None:
        raise AssertionError(f"no range holds {key!r}: the split covers the keyspace")
    return best


def learn(ranges: Sequence[RangeDescriptor], news: Sequence[RangeDescriptor]
          ) -> tuple[RangeDescriptor, ...]:
    """A descriptor table with ``news`` in it (each replaces the one of its id): what a
    split, or a range's ``range-mismatch`` answer, teaches (CockroachDB's range
    descriptor cache)."""
    table = {r.range_id: r for r in ranges}
    for r in news:
        table[r.range_id] = r
    return tuple(sorted(table.values(), key=lambda r: (r.start, r.range_id)))


def spread(ranges: Sequence[RangeDescriptor], names: Sequence[str]) -> list[str]:
    """A key for each of ``names``, round-robin over the ranges (the workloads' keys)."""
    return [ranges[i % len(ranges)].key_in(name) for i, name in enumerate(names)]
