"""``python -m cluster causal``: causal broadcast from the shell (its ``Broadcaster``
service).

    python -m cluster causal send MSG           broadcast MSG from a member: its origin
                                                and sequence number
    python -m cluster causal deliveries         what a member delivered, in its order:
                                                index, origin, seq, message

A message is sent from the first member that answers, or ``--node N``; every member
delivers it once, after every message it causally depends on (what its sender had
delivered when sending it). ``deliveries --since I`` starts at the I-th delivery.
"""

from __future__ import annotations

import argparse

from rich.console import Console

from cluster.ctl.common import CAUSAL, Target, add_verb, ask, service_parser
from protocols.causal.client import BroadcastClient
from protocols.common.errors import ConfigError

__all__ = ["add_parser"]

console = Console(highlight=False, soft_wrap=True, markup=False)  # user text is printed as is


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    verbs = service_parser(sub, CAUSAL, "causal broadcast: send, deliveries", __doc__ or "")
    add_verb(verbs, "send", "broadcast a message", cmd_send).add_argument("message")
    deliveries = add_verb(verbs, "deliveries", "what a member delivered, in order",
                          cmd_deliveries)
    deliveries.add_argument("--since", type=int, default=0, metavar="I",
                            help="from the I-th delivery on (from 0)")


def client(target: Target) -> BroadcastClient:
    return BroadcastClient(target.addresses, target.timeout_s, tls=target.tls)


async def cmd_send(args: argparse.Namespace, target: Target) -> int:
    async with client(target) as c:
        _, (origin, seq) = await ask(target, c, lambda n: c.send(n, args.message.encode()))
    console.print(f"sent: {origin} {seq}")
    return 0


async def cmd_deliveries(args: argparse.Namespace, target: Target) -> int:
    if args.since < 0:
        raise ConfigError(f"causal deliveries: --since must be 0 or more, not {args.since}")
    async with client(target) as c:
        _, log = await ask(target, c, lambda n: c.delivery_log(n, args.since))
    for d in log:
        print(f"{d.index} {d.origin} {d.seq} {d.payload.decode(errors='backslashreplace')}")
    return 0
