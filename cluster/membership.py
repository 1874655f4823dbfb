"""A membership protocol's view of the group, drawn as a matrix: one row per node asked,
one column per member, each cell the state and incarnation that node believes in
(``cluster status`` and the SWIM demo). A protocol opts in by putting
``"member.<id>": "<state>/<incarnation>"`` in its ``NodeStatus.details``.

The matrix pages its columns to the width it is drawn at: 16 members on an 80-column
terminal become two tables (members 1-12, 13-16) rather than a cut one."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping

from rich import box
from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderableType
from rich.table import Table
from rich.text import Text

__all__ = ["MEMBER_KEY", "MembershipMatrix", "membership_matrix", "views_of"]

MEMBER_KEY = "member."  # a membership protocol's "member.<id>": "<state>/<incarnation>"
_STATE_STYLE = {"alive": "green", "suspect": "yellow", "dead": "red", "left": "dim"}
_LEGEND = "A alive, S suspect, D dead, L left; the number is the incarnation"


class MembershipMatrix:
    """Rows: the node asked; columns: the members it knows; cells: state/incarnation.
    A rich renderable: drawn as as many tables as it takes to show every column at the
    console's width (``cluster status``, the demos)."""

    def __init__(self, views: Mapping[str, Mapping[str, str]], title: str = "") -> None:
        self.views = {n: dict(v) for n, v in views.items()}
        self.title = title or "membership: what each node (row) believes of each member"
        self.members = sorted({m for v in views.values() for m in v}, key=lambda m: (len(m), m))
        self.prefix = os.path.commonprefix(self.members).rstrip("0123456789")  # noqa: RUF071
        self.cells = {n: [_cell(view.get(m, "-/")) for m in self.members]
                      for n, view in self.views.items()}

    def pages(self, width: int) -> list[list[int]]:
        """The member columns (indexes) of each table, each as wide as fits ``width``.
        A table with box.SIMPLE, padding (0, 1), no edge padding is 2 + the node column +
        each member column + 3 wide (checked against rich's own measure in the tests)."""
        node_w = max([cell_len("node"), *(cell_len(n) for n in self.views)])
        out: list[list[int]] = [[]]
        used = 2 + node_w
        for i, m in enumerate(self.members):
            w = max([2, cell_len(m[len(self.prefix):]),
                     *(cell_len(Text.from_markup(c[i]).plain) for c in self.cells.values())])
            if out[-1] and used + w + 3 > width:
                out.append([])
                used = 2 + node_w
            out[-1].append(i)
            used += w + 3
        return out

    def table(self, columns: list[int], title: str) -> Table:
        table = Table(title=title, box=box.SIMPLE, padding=(0, 1), pad_edge=False)
        table.add_column("node", no_wrap=True)
        for i in columns:
            table.add_column(self.members[i][len(self.prefix):], justify="center",
                             no_wrap=True, min_width=2)
        for n, cells in self.cells.items():
            table.add_row(n, *(cells[i] for i in columns))
        return table

    def __rich_console__(self, console: Console, options: ConsoleOptions
                         ) -> Iterator[RenderableType]:
        pages = self.pages(options.max_width)
        for number, columns in enumerate(pages, 1):
            title = self.title
            if len(pages) > 1:
                first, last = self.members[columns[0]], self.members[columns[-1]]
                title += f" (members {first}..{last}, {number} of {len(pages)})"
            yield self.table(columns, title)
        yield Text((f"columns: member {self.prefix}<id>; " if self.prefix else "") + _LEGEND,
                   style="dim")


def membership_matrix(views: Mapping[str, Mapping[str, str]],
                      title: str = "") -> MembershipMatrix:
    """The matrix of ``views`` (node -> member -> "state/incarnation"), to print."""
    return MembershipMatrix(views, title)


def _cell(belief: str) -> str:
    state, _, inc = belief.partition("/")
    style = _STATE_STYLE.get(state)
    text = f"{state[:1].upper()}{inc}" if state != "-" else "·"
    return f"[{style}]{text}[/{style}]" if style else text


def views_of(details: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    """Each node's ``member.*`` details, as member -> "state/incarnation"."""
    return {n: {k[len(MEMBER_KEY):]: v for k, v in d.items() if k.startswith(MEMBER_KEY)}
            for n, d in details.items()}
