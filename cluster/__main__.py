"""``python -m cluster``: drive a local cluster from any shell.

    python -m cluster up raft -n 5          start it (detached) and print its table
    python -m cluster up raft --tls         ... with mutual TLS (certificates in DIR/tls)
    python -m cluster status                live role / epoch / leader of every node
    python -m cluster status --watch        ... as a table refreshed in place, with ops/s
    python -m cluster partition n1,n2 n3,n4,n5 [--mode blackhole|refuse]
    python -m cluster heal
    python -m cluster kill n3 | restart n3 | pause n3 | resume n3
    python -m cluster add-node [--role R] | remove-node n4   nodes that come and go
    python -m cluster up raft --group r2=raft   many cores per process (groups)
    python -m cluster create-group r3 raft [--members n1,n2,n3] | remove-group r3
    python -m cluster crash-at n2 after_persist:AppendEntry   targeted faults
    python -m cluster pause-disk n2 5000
    python -m cluster logs n3 [-f]
    python -m cluster draw                  the run as a space-time diagram (up --event-log)
    python -m cluster ring                  dynamo: each node's share of the ring and keys
    python -m cluster kv put K V | get K | cas K OLD NEW | del K   the KV from the shell
    python -m cluster swim members | counter [add N] | event NAME [PAYLOAD] | events | meta
    python -m cluster causal send MSG | deliveries
    python -m cluster vkv get K | put K V --context CTX    (dynamo: the same, --r/--w)
    python -m cluster txn run -w a=1 -r b | routing       twopc, txnkv
      each: [--node N | --endpoint HOST:PORT] [--timeout S]; exit 1 "no", 2 failed
      (docs/cli.md)
    python -m cluster down                  stop everything (even after a crashed `up`)

The cluster lives in ``--dir`` (default ``$PROTOCOLS_CLUSTER_DIR`` or
``$TMPDIR/protocols-cluster``); its ``state.json`` is how every command finds it, and
for a cluster started with ``--tls`` the client certificate every command shows.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console, ConsoleOptions, RenderableType
from rich.table import Table
from rich.text import Text

from cluster.ctl import COMMANDS as CLIENT_COMMANDS
from cluster.ctl import add_parsers as add_client_parsers
from cluster.membership import MEMBER_KEY, membership_matrix, views_of
from cluster.nemesis import CUT_MODES
from cluster.procs import kill_group, wait_gone
from cluster.ring import ownerships, ring_table
from cluster.runner import STATE_FILE, LocalCluster, cluster_processes
from cluster.watch import watch
from protocols._pb import admin_pb2
from protocols.common.errors import ConfigError, ProtocolError
from protocols.common.ids import node_ids
from protocols.common.options import option_pairs
from protocols.registry import PROTOCOLS

console = Console()


def parse_roles(pairs: list[str]) -> dict[str, str]:
    """``NODE=ROLE`` pairs (``--role n1=primary``)."""
    roles: dict[str, str] = {}
    for pair in pairs:
        node, sep, role = pair.partition("=")
        if not sep or not node or not role:
            raise ConfigError(f"--role wants NODE=ROLE, not {pair!r}")
        if node in roles:
            raise ConfigError(f"--role: node {node} is given two roles")
        roles[node] = role
    return roles


def parse_node_options(pairs: list[str]) -> dict[str, dict[str, object]]:
    """``NODE:KEY=JSON`` pairs (``--node-option n2:fsync=false``)."""
    table: dict[str, dict[str, object]] = {}
    for pair in pairs:
        node, sep, option = pair.partition(":")
        if not sep or not node:
            raise ConfigError(f"--node-option wants NODE:KEY=JSON, not {pair!r}")
        table.setdefault(node, {}).update(option_pairs([option], "--node-option"))
    return table


def default_dir() -> str:
    return os.environ.get("PROTOCOLS_CLUSTER_DIR",
                          os.path.join(tempfile.gettempdir(), "protocols-cluster"))


def node_table(c: LocalCluster) -> Table:
    tls = f" (mutual TLS: CA {c.client_tls.files.ca})" if c.client_tls else ""
    table = Table(title=f"{c.protocol} cluster in {c.dir}{tls}")
    client = "client (direct)" if c.direct else "client (via proxy)"
    for col in ("node", "pid", "admin (direct)", client, "data dir"):
        table.add_column(col)
    for n, info in sorted(c.nodes.items()):
        table.add_row(n, str(info.pid), info.address, info.client_address, info.data_dir)
    return table


def link_table(c: LocalCluster) -> Table:
    table = Table(title=f"proxies on {c.toxiproxy_url}")
    table.add_column("link")
    table.add_column("proxy listens on")
    for (src, dst), address in sorted(c.links.items()):
        table.add_row(f"{src} -> {dst}", address)
    return table


async def cmd_up(args: argparse.Namespace) -> int:
    directory = Path(args.dir)
    if cluster_processes(directory):
        console.print(f"[red]a cluster is already running in {directory}; "
                      "run `python -m cluster down` first[/red]")
        return 2
    options = option_pairs(args.option, "--option")
    roles, per_node = parse_roles(args.role), parse_node_options(args.node_option)
    LocalCluster.check_protocol(args.protocol, options, args.nodes, roles,
                                per_node)  # before anything
    groups = LocalCluster.check_groups(parse_groups_arg(args.group), node_ids(args.nodes))
    shutil.rmtree(directory, ignore_errors=True)
    c = LocalCluster(args.protocol, args.nodes, data_dir=directory, owned=False,
                     toxiproxy_url=args.toxiproxy_url, tick_ms=args.tick_ms,
                     direct=args.direct, event_log=args.event_log, tls=args.tls,
                     rpc_deadline_ms=args.rpc_deadline_ms, seed=args.seed,
                     options=options, roles=roles, node_options=per_node, groups=groups)
    try:
        await c.start()
    except BaseException:
        await c.stop()
        raise
    console.print(node_table(c))
    if not c.direct:
        console.print(link_table(c))
    console.print(f"state: {c.dir / STATE_FILE}   stop with: python -m cluster down "
                  f"--dir {c.dir}")
    return 0


def parse_groups_arg(raw: list[str]) -> dict[str, dict[str, Any]]:
    """``NAME=PROTOCOL`` or ``NAME=PROTOCOL@n1,n2,n3`` (members; default every node)."""
    groups: dict[str, dict[str, Any]] = {}
    for item in raw:
        name, sep, spec = item.partition("=")
        protocol, _, members = spec.partition("@")
        if not sep or not name or not protocol:
            raise ConfigError(f"--group {item!r}: expected NAME=PROTOCOL[@n1,n2,...]")
        groups[name] = {"protocol": protocol,
                        "members": members.split(",") if members else None}
    return groups


async def cmd_group(args: argparse.Namespace) -> int:
    c = LocalCluster.attach(args.dir)
    if args.command == "create-group":
        members = args.members.split(",") if args.members else None
        options = option_pairs(args.option, "--option")
        await c.create_group(args.name, args.protocol, members, options)
        console.print(f"group {args.name} ({args.protocol}) created")
    else:
        await c.remove_group(args.name)
        console.print(f"group {args.name} removed")
    return 0


async def cmd_targeted(args: argparse.Namespace) -> int:
    c = LocalCluster.attach(args.dir)
    if args.command == "crash-at":
        await c.crash_at(args.node, *args.points, group=args.group)
        console.print(f"{args.node} exits the moment it reaches {', '.join(args.points)}")
    else:
        await c.pause_disk(args.node, args.ms)
        console.print(f"{args.node}'s disk " + (f"paused for {args.ms} ms" if args.ms
                                                 else "resumed"))
    return 0


async def cmd_status(args: argparse.Namespace) -> int:
    if args.watch:
        return await watch(args.dir, args.interval, args.count, console)
    c = LocalCluster.attach(args.dir)
    statuses = await c.statuses(timeout_s=2.0)
    for part in status_report(c.protocol, statuses, {n: c.node(n).pid for n in c.ids},
                              args.details):
        console.print(part)
    return 0


def status_report(protocol: str, statuses: Mapping[str, admin_pb2.NodeStatus | None],
                  pids: Mapping[str, int], everything: bool) -> list[RenderableType]:
    """The status table, and the membership matrix when the protocol reports one. Nothing
    is cut at the terminal's width: details wrap (a long value folds), the matrix pages
    its columns, and where even the table's fixed columns do not fit, each node is one
    wrapped paragraph instead."""
    rows: list[tuple[str, str, str, str, str, Text]] = []
    for n, st in statuses.items():
        if st is None:
            rows.append((n, str(pids.get(n, "")), "no answer", "", "", Text()))
        else:
            role = f"{st.role} [{st.configured_role}]" if st.configured_role else st.role
            rows.append((n, str(st.pid), role, str(st.epoch), st.leader_id,
                         _summary({k: v for k, v in st.details.items()
                                   if not k.startswith(MEMBER_KEY)}, everything)))
    parts: list[RenderableType] = [_StatusTable(f"{protocol} cluster status", rows)]
    grouped = [(f"{n} {g.group}", g.protocol, g.role, str(g.epoch), g.leader_id,
                _summary(dict(g.details), everything))
               for n, st in statuses.items() if st is not None for g in st.groups]
    if grouped:  # the other cores the processes host (one row per node and group)
        parts.append(_StatusTable("groups", sorted(grouped, key=lambda r: r[0].split()[::-1]),
                                  columns=("node group", "protocol", "role", "epoch",
                                           "leader")))
    views = views_of({n: st.details for n, st in statuses.items() if st is not None})
    if any(views.values()):
        parts.append(membership_matrix(views))
    return parts


class _StatusTable:
    """One row per node; below the width its fixed columns and 12 characters of details
    need, one paragraph per node."""

    COLUMNS = ("node", "pid", "role", "epoch", "leader")

    def __init__(self, title: str, rows: list[tuple[str, str, str, str, str, Text]],
                 columns: tuple[str, ...] = COLUMNS) -> None:
        self.title = title
        self.rows = rows
        self.columns = columns

    def __rich_console__(self, console: Console, options: ConsoleOptions
                         ) -> Iterator[RenderableType]:
        if self._table(probe=True).__rich_measure__(console, options).maximum \
                <= options.max_width:
            yield self._table(probe=False)
            return
        yield Text(self.title, style="bold", justify="center")
        for *fixed, details in self.rows:
            line = Text(f"{fixed[0]}: ", style="bold")
            line.append(" ".join(f"{k}={v}" for k, v in zip(self.columns[1:], fixed[1:],
                                                             strict=True) if v))
            if details:
                line.append(" ")
                line.append_text(details)
            line.overflow = "fold"
            yield line

    def _table(self, probe: bool) -> Table:
        """The table; ``probe``: with 12 characters of details, to measure what the fixed
        columns need (rich would squash them to fit, cutting pids and roles)."""
        table = Table(title=self.title)
        for col in self.columns:
            table.add_column(col, no_wrap=True)
        table.add_column("details", overflow="fold", ratio=1, min_width=12)
        for *fixed, details in self.rows:
            style = "red" if fixed[2] == "no answer" else ""
            table.add_row(*fixed[:2], Text(fixed[2], style=style), *fixed[3:],
                          "x" * 12 if probe else details)
        return table


def _summary(details: dict[str, str], everything: bool) -> Text:
    """The protocol's details, the most telling first: those without a per-peer dot; the
    per-peer ones too with ``--details`` (else how many there are)."""
    keys = sorted(details, key=lambda k: ("." in k, k))
    shown = [k for k in keys if details[k] and (everything or "." not in k)]
    text = Text(" ".join(f"{k}={details[k]}" for k in shown))
    hidden = sum(1 for k in keys if details[k] and k not in shown)
    if hidden:
        text.append(f" (+{hidden} per-peer: --details)", style="dim")
    return text


async def cmd_ring(args: argparse.Namespace) -> int:
    c = LocalCluster.attach(args.dir)
    console.print(ring_table(await ownerships(c)))
    return 0


async def cmd_partition(args: argparse.Namespace) -> int:
    c = LocalCluster.attach(args.dir)
    groups = [g.split(",") for g in args.groups]
    await c.nemesis.partition(groups, args.mode)
    _save_cuts(c)
    console.print(f"partitioned ({args.mode}): " + " | ".join(",".join(g) for g in groups))
    return 0


def _save_cuts(c: LocalCluster) -> None:
    (c.dir / "cuts.json").write_text(json.dumps([[s, d, m] for (s, d), m in
                                                 sorted(c.nemesis._cut.items())]))


def _load_cuts(c: LocalCluster) -> None:
    path = c.dir / "cuts.json"
    if path.exists():
        c.nemesis._cut = {(s, d): m for s, d, m in json.loads(path.read_text())}


async def cmd_heal(args: argparse.Namespace) -> int:
    c = LocalCluster.attach(args.dir)
    _load_cuts(c)
    await c.nemesis.heal()
    _save_cuts(c)
    console.print("healed")
    return 0


async def cmd_process(args: argparse.Namespace) -> int:
    c = LocalCluster.attach(args.dir)
    c.node(args.node)  # a clear error for an unknown node
    if args.command == "kill":
        await c.kill(args.node)
    elif args.command == "restart":
        await c.restart(args.node)
    elif args.command == "pause":
        c.pause(args.node)
    else:
        c.resume(args.node)
    console.print(f"{args.command} {args.node}: done (pid {c.node(args.node).pid})")
    return 0


async def cmd_add_node(args: argparse.Namespace) -> int:
    c = LocalCluster.attach(args.dir)
    n = await c.add_node(args.id, args.role, option_pairs(args.option, "--option"))
    info = c.node(n)
    console.print(f"add-node {n}: serving on {info.address} (client {info.client_address}, "
                  f"pid {info.pid})")
    return 0


async def cmd_remove_node(args: argparse.Namespace) -> int:
    c = LocalCluster.attach(args.dir)
    _load_cuts(c)
    await c.remove_node(args.node)
    _save_cuts(c)
    console.print(f"remove-node {args.node}: stopped, its links and data gone")
    return 0


async def cmd_logs(args: argparse.Namespace) -> int:
    c = LocalCluster.attach(args.dir)
    path = c.node(args.node).log_path
    if args.follow:
        return subprocess.call(["tail", "-n", "50", "-F", path])
    sys.stdout.write(Path(path).read_text(errors="replace"))
    return 0


async def cmd_draw(args: argparse.Namespace) -> int:
    """The run so far as a space-time diagram (a cluster started with --event-log)."""
    from cluster.diagrams import write_diagrams

    c = LocalCluster.attach(args.dir)
    log = c.dir / "nemesis.jsonl"
    if log.exists():
        c.nemesis.events = [json.loads(line) for line in log.read_text().splitlines()
                            if line.strip()]
    drawn = write_diagrams(c.dir, faults=c.nemesis.intervals(),
                           title=f"{c.protocol}: {len(c.ids)} nodes")
    if drawn is None:
        console.print("[red]no event logs[/red]: start the cluster with `up --event-log`")
        return 1
    console.print(f"space-time diagram: {drawn[0]}\nShiViz log: {drawn[1]}")
    return 0


async def cmd_down(args: argparse.Namespace) -> int:
    """Stop every node and proxy-server process of the cluster dir, even after a crashed
    `up`: SIGTERM, then SIGKILL whatever is left after 10 s."""
    directory = Path(args.dir).resolve()
    # found through the OS, not the state file: a crashed `up` may not have written it,
    # and a recorded pid may since belong to someone else
    pids = cluster_processes(directory)
    for pid in pids:
        kill_group(pid, signal.SIGCONT)
        kill_group(pid, signal.SIGTERM)
    left = wait_gone(pids, 10)
    for pid in left:
        kill_group(pid, signal.SIGKILL)
    wait_gone(left, 5)
    remaining = cluster_processes(directory)
    console.print(f"down: stopped {len(pids)} process(es) of {directory}"
                  + (f"; [red]still running: {remaining}[/red]" if remaining else ""))
    return 1 if remaining else 0


class _Parser(argparse.ArgumentParser):
    """Bad arguments: one line naming the command and where its usage is; exit 2. (Every
    subcommand's parser is one too: argparse makes them of the parent's class.)"""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (usage: {self.prog} --help)\n")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m cluster", description=__doc__,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--dir", default=default_dir(), help="the cluster's directory")
    sub = p.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start a cluster (detached)")
    up.add_argument("protocol", help=f"one of {', '.join(sorted(PROTOCOLS))}")
    up.add_argument("-n", "--nodes", type=int, default=3)
    up.add_argument("--toxiproxy-url", help="use this Toxiproxy instead of the embedded one")
    up.add_argument("--direct", action="store_true",
                    help="no proxies: peers and clients connect straight to the nodes "
                         "(benchmarks; no connection faults)")
    up.add_argument("--event-log", action="store_true",
                    help="nodes stamp messages with vector clocks and write events.<node>"
                         ".jsonl; `cluster draw` turns them into a space-time diagram")
    up.add_argument("--tls", action="store_true",
                    help="mutual TLS: a CA and certificates in DIR/tls; nodes, clients and "
                         "the CLI show a certificate the CA signed, others are refused")
    up.add_argument("--tick-ms", type=float, default=10.0)
    up.add_argument("--rpc-deadline-ms", type=float, default=500.0)
    up.add_argument("--seed", type=int, default=0)
    up.add_argument("-o", "--option", action="append", default=[], metavar="KEY=JSON",
                    help="a protocol option, e.g. snapshot_threshold=100 (repeatable)")
    up.add_argument("--role", action="append", default=[], metavar="NODE=ROLE",
                    help="a node's role, e.g. n2=primary (repeatable; the protocol says "
                         "which roles it takes)")
    up.add_argument("--node-option", action="append", default=[], metavar="NODE:KEY=JSON",
                    help="an option of one node, over the cluster's, e.g. n3:fsync=false "
                         "(repeatable)")
    up.add_argument("--group", action="append", default=[],
                    metavar="NAME=PROTOCOL[@n1,n2,...]",
                    help="another protocol's cores beside the cluster's own, one on each "
                         "member (default every node), e.g. r2=raft (repeatable)")
    cg = sub.add_parser("create-group", help="start a group of cores while the cluster runs")
    cg.add_argument("name")
    cg.add_argument("protocol")
    cg.add_argument("--members", help="n1,n2,... (default: every node)")
    cg.add_argument("-o", "--option", action="append", default=[], metavar="KEY=JSON")
    sub.add_parser("remove-group", help="stop a group and destroy its state"
                   ).add_argument("name")
    crash = sub.add_parser("crash-at", help="a node exits the moment it reaches a point, "
                                            "e.g. after_persist:LogEntry, before_send:Ack")
    crash.add_argument("node")
    crash.add_argument("points", nargs="+")
    crash.add_argument("--group", help="only in this group's core (default: any)")
    disk = sub.add_parser("pause-disk", help="a node's writes wait (0 ms: resume)")
    disk.add_argument("node")
    disk.add_argument("ms", type=int)
    add = sub.add_parser("add-node", help="start a brand-new node while the cluster runs")
    add.add_argument("--id", help="its id (default: the next free nN)")
    add.add_argument("--role", default="", help="its role")
    add.add_argument("-o", "--option", action="append", default=[], metavar="KEY=JSON",
                     help="an option of this node, over the cluster's (repeatable)")
    sub.add_parser("remove-node", help="stop a node for good: its links and data go too"
                   ).add_argument("node")
    status = sub.add_parser("status", help="live status of every node")
    status.add_argument("--details", action="store_true",
                        help="every detail, the per-peer ones too")
    status.add_argument("--watch", action="store_true",
                        help="one table refreshed in place until Ctrl-C: role, epoch, "
                             "leader, commit/applied, membership, cut links, ops/s")
    status.add_argument("--interval", type=float, metavar="S",
                        help="--watch: seconds between refreshes (default 1.0)")
    status.add_argument("--count", type=int, metavar="N",
                        help="--watch: stop after N refreshes (default: at Ctrl-C)")
    sub.add_parser("ring", help="dynamo: each node's share of the key space (first owner, "
                   "one of N), its keys, hinted versions and keys still moving")
    part = sub.add_parser("partition", help="split into groups, e.g. n1,n2 n3,n4,n5")
    part.add_argument("groups", nargs="+")
    part.add_argument("--mode", choices=CUT_MODES, default="blackhole")
    sub.add_parser("heal", help="undo partitions")
    for name in ("kill", "restart", "pause", "resume"):
        sub.add_parser(name, help=f"{name} a node").add_argument("node")
    logs = sub.add_parser("logs", help="a node's log")
    logs.add_argument("node")
    logs.add_argument("-f", "--follow", action="store_true")
    sub.add_parser("draw", help="the run so far as a space-time diagram (with --event-log)")
    sub.add_parser("down", help="stop everything")
    add_client_parsers(sub)
    return p


COMMANDS = {"up": cmd_up, "status": cmd_status, "partition": cmd_partition, "heal": cmd_heal,
            "kill": cmd_process, "restart": cmd_process, "pause": cmd_process,
            "resume": cmd_process, "add-node": cmd_add_node, "remove-node": cmd_remove_node,
            "logs": cmd_logs, "draw": cmd_draw, "down": cmd_down,
            "create-group": cmd_group, "remove-group": cmd_group, "crash-at": cmd_targeted,
            "pause-disk": cmd_targeted, "ring": cmd_ring, **CLIENT_COMMANDS}


def check_watch(args: argparse.Namespace) -> None:
    """``status``'s --interval and --count: with --watch, and in range."""
    if args.command != "status":
        return
    if not args.watch and (args.interval is not None or args.count is not None):
        raise ConfigError("--interval and --count go with --watch")
    if args.interval is None:
        args.interval = 1.0
    if not (math.isfinite(args.interval) and args.interval > 0):
        raise ConfigError(f"--interval must be more than 0 seconds, not {args.interval:g}")
    if args.count is not None and args.count < 1:
        raise ConfigError(f"--count must be at least 1, not {args.count}")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    started = time.monotonic()
    try:
        check_watch(args)
        code = asyncio.run(COMMANDS[args.command](args))
    except (ProtocolError, OSError, RuntimeError) as e:
        # one line whatever the terminal's width, and the message never read as markup
        console.print(Text.assemble(("error:", "red"), f" {e}"), soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        if args.command == "status" and args.watch:
            return 0  # Ctrl-C is how a watch ends
        raise
    if args.command == "up":
        console.print(f"up in {time.monotonic() - started:.1f}s")
    return code


if __name__ == "__main__":
    sys.exit(main())
