"""``cluster status --watch``: the cluster's status as one table, refreshed in place
(``rich.live``) every ``--interval`` seconds until Ctrl-C, or ``--count`` times; when
stdout is not a terminal, one table per refresh and no cursor control (a log keeps them).

One row per node: its role, the protocol's epoch (Raft's term, Paxos' ballot round,
SWIM's incarnation ...), the leader it knows, how far it committed and applied, the
membership it works with, the links cut now (read from the proxy server, so a cut made
by any process shows), and ops/s: how fast a counter of work in its status grew between
the last two refreshes (the legend under the table says which). Columns a protocol has
no word for are left out. A node whose process is gone shows as down; a paused one as
paused.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from rich import box
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from cluster.runner import LocalCluster
from cluster.toxi import ToxiproxyError
from protocols._pb import admin_pb2

__all__ = ["VIEWS", "Rates", "View", "Watch", "view_of", "watch"]

Details = Mapping[str, str]
Status = admin_pb2.NodeStatus | None


def _int(key: str) -> Callable[[Details], int | None]:
    def value(d: Details) -> int | None:
        try:
            return int(d[key])
        except (KeyError, ValueError):
            return None
    return value


def _pair(first: str, second: str) -> Callable[[Details], str]:
    return lambda d: f"{d[first]}/{d[second]}" if first in d and second in d else ""


def _sum_of(suffix: str) -> Callable[[Details], int | None]:
    """The sum of every ``*<suffix>`` detail (txnkv: ``<range>.applied`` of each range)."""
    def total(d: Details) -> int | None:
        values = [int(v) for k, v in d.items() if k.endswith(suffix) and v.isdigit()]
        return sum(values) if values else None
    return total


def _raft_members(d: Details) -> str:
    voters, learners = d.get("voters", ""), d.get("learners", "")
    return f"{voters} +learners {learners}" if learners else voters


def _swim_members(d: Details) -> str:
    """How many members this node holds in each state (SWIM §4.2)."""
    return ", ".join(f"{d[s]} {s}" for s in ("alive", "suspect", "dead", "left")
                     if d.get(s, "0") != "0") or "none"


def _ranges_led(d: Details) -> str:
    led = sorted(k.split(".")[0] for k, v in d.items() if k.endswith(".role") and v == "leader")
    return f"leads {','.join(led)}" if led else "leads none"


def _ring(d: Details) -> str:
    suspects = d.get("suspects", "")
    return d.get("ring", "") + (f" (suspects {suspects})" if suspects else "")


def _paxos_slots(d: Details) -> str:
    """The last slot applied (slot_out - 1) and the last one proposed (slot_in - 1)."""
    proposed = _int("slot_in")(d)
    return f"{d.get('commit_index', '')}/{'' if proposed is None else proposed - 1}"


def _decided(d: Details) -> int | None:
    committed, aborted = _int("committed")(d), _int("aborted")(d)
    return None if committed is None or aborted is None else committed + aborted


@dataclass(frozen=True, slots=True)
class View:
    """What the watch reads in one protocol's ``NodeStatus``: what its epoch is called
    ("" for none), whether it has a leader, and functions of its details for the
    commit/applied, membership and ops/s columns (None: the protocol has no such thing;
    ``counts`` says in words what the ops/s counter counts)."""

    epoch: str = "epoch"
    leader: bool = False
    progress: str = ""
    progress_of: Callable[[Details], str] | None = None
    membership_of: Callable[[Details], str] | None = None
    counts: str = ""
    counter_of: Callable[[Details], int | None] | None = None


VIEWS: dict[str, View] = {
    "raft": View("term", True, "commit / applied", _pair("commit_index", "last_applied"),
                 _raft_members, "log entries applied (last_applied)", _int("last_applied")),
    "paxos": View("ballot round", True, "applied / proposed", _paxos_slots, None,
                  "slots decided and applied (slot_out - 1)", _int("commit_index")),
    "swim": View("incarnation", membership_of=_swim_members),
    "causal": View("own broadcasts", progress="delivered / waiting",
                   progress_of=_pair("delivered", "waiting"), counts="messages delivered",
                   counter_of=_int("delivered")),
    "vkv": View("", counts="client writes taken here", counter_of=_int("writes")),
    "dynamo": View("", membership_of=_ring, counts="client requests coordinated here",
                   counter_of=_int("coordinated")),
    "twopc": View("coordinator life", progress="committed / aborted",
                  progress_of=_pair("committed", "aborted"),
                  counts="transactions decided by this coordinator", counter_of=_decided),
    "txnkv": View("", progress="applied (all ranges)",
                  progress_of=lambda d: str(_sum_of(".applied")(d) or ""),
                  membership_of=_ranges_led,
                  counts="transactions committed by this coordinator",
                  counter_of=_int("txn.committed")),
    "bare": View("", counts="ticks", counter_of=_int("ticks")),
}
# a protocol the watch does not know (the tests' toy, one outside this package): the
# words most protocols use
GENERIC = View("epoch", True, "commit_index", lambda d: d.get("commit_index", ""), None,
               "commit_index", _int("commit_index"))


def view_of(protocol: str) -> View:
    return VIEWS.get(protocol, GENERIC)


class Rates:
    """ops/s of each node: how much its counter grew since the previous refresh, over the
    time between the two (None on its first refresh, or when the counter went back: a
    restarted node counts from its disk again)."""

    def __init__(self) -> None:
        self.last: dict[str, tuple[float, int]] = {}

    def update(self, node: str, now: float, value: int | None) -> float | None:
        before = self.last.pop(node, None)
        if value is None:
            return None
        self.last[node] = (now, value)
        if before is None or value < before[1] or now <= before[0]:
            return None
        return (value - before[1]) / (now - before[0])


class Watch:
    """The table of one refresh; it keeps the counters of the last one for ops/s."""

    def __init__(self, directory: str | Path, interval_s: float = 1.0,
                 count: int | None = None) -> None:
        self.directory = Path(directory)
        self.interval_s = interval_s
        self.count = count
        self.rates = Rates()
        self.refreshes = 0
        self.last_at: float | None = None

    async def tables(self) -> AsyncIterator[RenderableType]:
        """A table every ``interval_s`` (from the start of one refresh to the next's),
        ``count`` of them or forever."""
        for _ in range(self.count) if self.count is not None else itertools.count():
            due = time.monotonic() + self.interval_s
            yield await self.refresh()
            if self.count is None or self.refreshes < self.count:
                await asyncio.sleep(max(0.0, due - time.monotonic()))

    async def refresh(self) -> RenderableType:
        # attached again each time: nodes come and go (add-node, remove-node), pids change
        c = LocalCluster.attach(self.directory)
        statuses, cuts = await asyncio.gather(
            c.statuses(timeout_s=max(2.0, self.interval_s)), _cuts(c))
        now = time.monotonic()
        window = None if self.last_at is None else now - self.last_at
        self.last_at, self.refreshes = now, self.refreshes + 1
        return self.table(c, statuses, cuts, now, window)

    def table(self, c: LocalCluster, statuses: Mapping[str, Status],
              cuts: dict[tuple[str, str], str] | None, now: float, window: float | None
              ) -> RenderableType:
        """The table, and under it the legend (at the console's width, not the table's)."""
        view = view_of(c.protocol)
        of = f" of {self.count}" if self.count is not None else ""
        table = Table(title=f"{c.protocol} cluster in {c.dir}: refresh {self.refreshes}{of}, "
                            f"every {self.interval_s:g} s" + ("" if of else " (Ctrl-C stops)"),
                      # no borders: eight columns of a 5-node Raft fit in 80 characters
                      box=box.SIMPLE_HEAD, padding=(0, 1), pad_edge=False,
                      collapse_padding=True, show_edge=False)
        columns = _columns(view, c.direct)
        for name in columns:
            table.add_column(name, justify="right" if name == "ops/s" else "left",
                             overflow="fold")  # wrapped, never cut at the terminal's width
        for n in c.ids:
            cells = self._row(c, n, statuses.get(n), view, cuts, now)
            table.add_row(*(cells.get(name, "") for name in columns))
        return Group(table, Text(_legend(view, window, cuts, c.direct), style="dim"))

    def _row(self, c: LocalCluster, n: str, st: Status, view: View,
             cuts: dict[tuple[str, str], str] | None, now: float) -> dict[str, str | Text]:
        cells: dict[str, str | Text] = {"node": n, "cut links": _cut_cell(n, cuts)}
        if st is None:
            self.rates.update(n, now, None)
            cells["role"] = _absent(c, n)
            return cells
        d = st.details
        cells["role"] = Text(st.role, style="bold green" if st.leading else "")
        cells[view.epoch] = str(st.epoch)
        cells["leader"] = st.leader_id or "-"
        if view.progress_of is not None:
            cells[view.progress] = view.progress_of(d)
        if view.membership_of is not None:
            cells["membership"] = view.membership_of(d)
        if view.counter_of is not None:
            value = view.counter_of(d)  # None: this node counts nothing (a 2PC participant)
            rate = self.rates.update(n, now, value)
            cells["ops/s"] = "" if value is None else "…" if rate is None else f"{rate:,.1f}"
        return cells


def _columns(view: View, direct: bool) -> list[str]:
    wanted = [("node", True), ("role", True), (view.epoch, bool(view.epoch)),
              ("leader", view.leader), (view.progress, view.progress_of is not None),
              ("membership", view.membership_of is not None), ("cut links", not direct),
              ("ops/s", view.counter_of is not None)]
    return [name for name, shown in wanted if shown]


def _legend(view: View, window: float | None, cuts: object, direct: bool) -> str:
    lines = []
    if view.counter_of is not None:
        when = (f"over the last {window:.2f} s" if window is not None
                else "from the second refresh on")
        lines.append(f"ops/s: {view.counts}, per second {when}")
    if not direct:
        lines.append("cut links: ↔ both ways, → this node cannot reach, ← cannot reach it"
                     + ("" if cuts is not None else " (the proxy server does not answer)"))
    return "\n".join(lines)


def _absent(c: LocalCluster, n: str) -> Text:
    """A node without an answer: its process gone (down), stopped (paused), or slow."""
    if not c.running(n):
        return Text("down", style="bold red")
    if c.node(n).paused:
        return Text("paused", style="yellow")
    return Text("no answer", style="red")


async def _cuts(c: LocalCluster) -> dict[tuple[str, str], str] | None:
    """The links cut now ({} for a cluster without proxies; None: the proxy server did
    not answer)."""
    if c.direct:
        return {}
    try:
        return await c.nemesis.links_cut()
    except (ToxiproxyError, OSError, RuntimeError):
        return None


def _cut_cell(n: str, cuts: dict[tuple[str, str], str] | None) -> str:
    """The node's cut links: ↔ both ways, → it cannot reach them, ← they cannot reach it;
    (refuse) when a link is refused rather than blackholed."""
    if cuts is None:
        return "?"
    out = {dst for src, dst in cuts if src == n}
    into = {src for src, dst in cuts if dst == n}
    parts = [f"{arrow} {','.join(sorted(peers))}" for arrow, peers in
             (("↔", out & into), ("→", out - into), ("←", into - out)) if peers]
    refused = any(m == "refuse" for link, m in cuts.items() if n in link)
    return " ".join(parts) + (" (refuse)" if refused else "")


async def watch(directory: str | Path, interval_s: float, count: int | None,
                console: Console) -> int:
    """Refresh until ``count`` tables were shown (None: until Ctrl-C). On a terminal, the
    table is redrawn in place; elsewhere each refresh prints one."""
    w = Watch(directory, interval_s, count)
    if not console.is_terminal:
        async for table in w.tables():
            console.print(table)
        return 0
    with Live(console=console, auto_refresh=False) as live:
        async for table in w.tables():
            live.update(table, refresh=True)
    return 0
