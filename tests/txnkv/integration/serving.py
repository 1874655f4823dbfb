"""What the txnkv integration tests wait for: which ranges a leaseholder serves, read
from every node's status (``<range>.serving``)."""

from __future__ import annotations

from collections.abc import Iterable

from cluster.runner import LocalCluster


async def serving_ranges(c: LocalCluster) -> set[str]:
    """The ranges some node serves now (as their leaseholder)."""
    found: set[str] = set()
    for n in c.nodes:
        status = await c.status(n)
        if status is not None:
            found |= {k.split(".")[0] for k, v in status.details.items()
                      if k.endswith(".serving") and v == "True"}
    return found


async def all_serving(c: LocalCluster, ranges: Iterable[str]) -> bool:
    return set(ranges) <= await serving_ranges(c)
