"""A membership protocol's view of the group, drawn as a matrix: one row per node asked,
one column per member, each cell the state and incarnation that node believes in
(``cluster status`` and the SWIM demo). A protocol opts in by putting
``"member.<id>": "<state>/<incarnation>"`` in its ``NodeStatus.details``."""

from __future__ import annotations

import os
from collections.abc import Mapping

from rich import box
from rich.table import Table

__all__ = ["MEMBER_KEY", "membership_matrix", "views_of"]

MEMBER_KEY = "member."  # a membership protocol's "member.<id>": "<state>/<incarnation>"
_STATE_STYLE = {"alive": "green", "suspect": "yellow", "dead": "red", "left": "dim"}


def membership_matrix(views: Mapping[str, Mapping[str, str]], title: str = "") -> Table:
    """Rows: the node asked; columns: the members it knows; cells: state/incarnation."""
    members = sorted({m for v in views.values() for m in v},
                     key=lambda m: (len(m), m))
    table = Table(title=title or "membership: what each node (row) believes of each member",
                  box=box.SIMPLE, padding=(0, 1), pad_edge=False)
    prefix = os.path.commonprefix(members).rstrip("0123456789")  # noqa: RUF071 ("n" of n1..n16)
    table.add_column("node", no_wrap=True)
    for m in members:
        table.add_column(m[len(prefix):], justify="center", no_wrap=True, min_width=2)
    for n, view in views.items():
        cells = []
        for m in members:
            state, _, inc = view.get(m, "-/").partition("/")
            style = _STATE_STYLE.get(state)
            text = f"{state[:1].upper()}{inc}" if state != "-" else "·"
            cells.append(f"[{style}]{text}[/{style}]" if style else text)
        table.add_row(n, *cells)
    table.caption = (f"columns: member {prefix}<id>; " if prefix else "") + \
        "A alive, S suspect, D dead, L left; the number is the incarnation"
    return table


def views_of(details: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """Each node's ``member.*`` details, as member -> "state/incarnation"."""
    return {n: {k[len(MEMBER_KEY):]: v for k, v in d.items() if k.startswith(MEMBER_KEY)}
            for n, d in details.items()}
