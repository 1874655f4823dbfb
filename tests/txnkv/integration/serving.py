"""What the txnkv integration tests wait for: the ranges a leaseholder serves, read
from every node's status (``protocols.txnkv.core.serving_ranges``)."""

from __future__ import annotations

from collections.abc import Iterable

from cluster.runner import LocalCluster
from protocols.txnkv.core import serving_ranges


async def all_serving(c: LocalCluster, ranges: Iterable[str]) -> bool:
    return set(ranges) <= serving_ranges((await c.statuses()).values())
