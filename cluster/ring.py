"""``python -m cluster ring``: who owns which part of a running Dynamo cluster's ring
(DeCandia et al., "Dynamo", SOSP 2007, §4.2-4.3) and what each node holds.

One row per node: its share of the key space as a key's first owner (the coordinator of
its writes, §4.5) and as one of its N replicas (the shares of a ring add up to 1 and to
N), from the ring as the first node that answers sees it; and, as each node itself
reports, its keys, the hinted versions it keeps for an owner that was down (§4.6) and
the keys it still has to hand over after the ring changed (§4.9). A node whose ring
differs (a join or a departure not yet everywhere) is named below the table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.table import Table
from rich.text import Text

from cluster.runner import LocalCluster
from protocols.common.errors import ConfigError, ProtocolError
from protocols.dynamo.client import DynamoClient, Ownership

__all__ = ["ownerships", "ring_table"]


async def ownerships(c: LocalCluster, timeout_s: float = 2.0) -> dict[str, Ownership | None]:
    """Each node's answer to ``DynamoKv.Ownership`` (None: no answer), straight to the
    node as ``status`` asks it, past the proxies."""
    if c.protocol != "dynamo":
        raise ConfigError(f"`ring` shows a dynamo cluster's ring; {c.dir} runs "
                          f"{c.protocol}")
    out: dict[str, Ownership | None] = {}
    async with DynamoClient(c.admin_addresses, timeout_s, tls=c.client_tls) as client:
        for n in c.ids:
            try:
                out[n] = await client.ownership(n)
            except ProtocolError:
                out[n] = None
    return out


def ring_table(views: Mapping[str, Ownership | None]) -> Table:
    """The table of ``views`` (node -> its answer), in the order given."""
    answered = [v for v in views.values() if v is not None]
    ref = answered[0] if answered else None
    shares = ref.shares if ref is not None else {}
    replicas = round(sum(s.replica for s in shares.values()))
    title = (f"dynamo ring as {ref.node} sees it: {len(shares)} nodes, N={replicas}"
             if ref is not None else "dynamo ring: no node answered")
    table = Table(title=title)
    for col in ("node", "first owner", "one of N", "keys", "hinted", "moving"):
        table.add_column(col, justify="left" if col == "node" else "right")
    for n in [*views, *sorted(set(shares) - set(views))]:
        share, view = shares.get(n), views.get(n)
        cells = ([f"{share.first:.1%}", f"{share.replica:.1%}"] if share is not None
                 else ["off the ring", ""])
        if view is None:
            table.add_row(n, *cells, Text("no answer", style="red"), "", "")
        else:
            table.add_row(n, *cells, str(view.keys), _count(view.hinted),
                          _count(view.moving))
    if ref is not None:
        table.caption = "\n".join(_differing(ref, answered)) or None
    return table


def _count(v: int) -> Text:
    return Text(str(v), style="yellow" if v else "")


def _differing(ref: Ownership, answered: Sequence[Ownership]) -> list[str]:
    return [f"{v.node} sees a different ring: {', '.join(sorted(v.shares))}"
            for v in answered if set(v.shares) != set(ref.shares)]
