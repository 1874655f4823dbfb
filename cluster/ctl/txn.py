"""``python -m cluster txn``: one multi-key transaction from the shell, on a 2PC cluster
(``twopc``) or the transactional store (``txnkv``), both serving 2PC's ``Transactions``.

    python -m cluster txn run -w a=1 -w b=2 -r c    run micro-ops atomically, in order;
                                                    prints each read, then "committed"
    python -m cluster txn routing                   the shards (who owns which keys) and
                                                    the coordinators

Micro-ops (Jepsen's, on integers), in the order given: ``-r/--read K`` (``--get``)
reads K (a number, a list ``[1, 2]``, or ``none`` if never written; a transaction sees
its own writes); ``-w/--write K=N`` (``--put``) sets it; ``--append K=N`` appends N to
the list K; ``--add K=N`` adds N to the counter K, which may not go below zero.

The transaction goes to a coordinator (``--node N``: that node, which must coordinate).
Exit 1: it aborted (a NO vote, a lock not granted, a counter below zero): it did not
happen, and may be run again. Exit 2 with "outcome unknown": it may have committed.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from rich.console import Console

from cluster.ctl.common import TXN, Target, add_verb, connect_failed, service_parser
from protocols.common.errors import Aborted, ConfigError, Timeout, Unavailable
from protocols.twopc.client import TwoPcClient

__all__ = ["add_parser", "micro_ops_of"]

console = Console(highlight=False, soft_wrap=True, markup=False)  # user text is printed as is


class _MicroOp(argparse.Action):
    """Appends (f, argument) to ``ops``, keeping the order of the command line."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        ops = list(getattr(namespace, "ops", None) or [])
        ops.append((self.const, values))
        namespace.ops = ops


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    verbs = service_parser(sub, TXN, "2PC transactions (twopc, txnkv): run micro-ops "
                           "atomically; the routing table", __doc__ or "")
    run = add_verb(verbs, "run", "run one transaction of micro-ops, in order", cmd_run)
    run.set_defaults(ops=[])
    for flags, f, metavar, help in (
            (("-r", "--read", "--get"), "r", "K", "read K"),
            (("-w", "--write", "--put"), "w", "K=N", "set K to the integer N"),
            (("--append",), "append", "K=N", "append N to the list K"),
            (("--add",), "add", "K=N", "add N to the counter K (not below zero)")):
        run.add_argument(*flags, action=_MicroOp, const=f, metavar=metavar, help=help,
                         dest="ops")
    add_verb(verbs, "routing", "the shards and the coordinators", cmd_routing)


def micro_ops_of(ops: Sequence[tuple[str, str]]) -> list[list[Any]]:
    """The command line's (f, argument) pairs as micro-ops; ConfigError naming the first
    bad one."""
    if not ops:
        raise ConfigError("txn run: give at least one micro-op (-r K, -w K=N, --append "
                          "K=N, --add K=N)")
    out: list[list[Any]] = []
    for f, raw in ops:
        if f == "r":
            out.append(["r", raw, None])
            continue
        key, sep, value = raw.partition("=")
        try:
            number = int(value)
        except ValueError:
            number = None
        if not sep or not key or number is None:
            flag = {"w": "-w", "append": "--append", "add": "--add"}[f]
            raise ConfigError(f"{flag} wants KEY=INTEGER, not {raw!r}")
        out.append([f, key, number])
    return out


def client(target: Target) -> TwoPcClient:
    """All nodes (the routing table from any, the coordinators in turn), or the one
    pinned: the transaction's coordinator, the routing table's source."""
    addresses = ({target.pinned: target.addresses[target.pinned]} if target.pinned
                 else target.addresses)
    return TwoPcClient(addresses, target.timeout_s, coordinator=target.pinned,
                       tls=target.tls)


async def cmd_run(args: argparse.Namespace, target: Target) -> int:
    ops = micro_ops_of(args.ops)
    async with client(target) as c:
        try:
            done = await c.txn(ops)
        except Aborted as e:
            console.print(f"{e} (it did not happen)", style="yellow")
            return 1
        except (Unavailable, Timeout) as e:
            if e.refused or connect_failed(e):  # never sent, or turned down: not done
                raise
            e.args = (f"{e} (the transaction's outcome is unknown: it may have committed)",)
            raise
    for f, key, value in done:
        if f == "r":
            print(f"{key} {'none' if value is None else value}")
    console.print("committed")
    return 0


async def cmd_routing(args: argparse.Namespace, target: Target) -> int:
    async with client(target) as c:
        routing = await c.routing()
    print(f"shards: {' '.join(routing.participants) or '-'}")
    print(f"coordinators: {' '.join(routing.coordinators) or '-'}")
    return 0
