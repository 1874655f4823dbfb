"""``python -m cluster swim``: SWIM's membership from the shell (its ``Membership`` service).

    python -m cluster swim members              the members as one node sees them:
                                                member, state, incarnation, address
    python -m cluster swim counter              the PN-counter's total, as the node sees it
    python -m cluster swim counter add N        add N (may be negative); the new total there
    python -m cluster swim event NAME [PAYLOAD] broadcast a user event through the gossip
    python -m cluster swim events               the recent user events the node delivered:
                                                origin, seq, name, payload
    python -m cluster swim meta                 every member's metadata: member/key=value
    python -m cluster swim meta KEY VALUE       set a key of the node's own metadata
    python -m cluster swim leave --node N       make node N leave the group for good

Every node answers for itself (its view converges by gossip): the first node that
answers, or ``--node N``. A change (counter, event, meta) is made at that node and
spreads from there; a read right after it elsewhere may not show it yet.
"""

from __future__ import annotations

import argparse

from rich.console import Console

from cluster.ctl.common import SWIM, Target, add_verb, ask, service_parser
from protocols.common.errors import ConfigError
from protocols.swim.client import MembershipClient

__all__ = ["add_parser"]

console = Console(highlight=False, soft_wrap=True, markup=False)  # user text is printed as is


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    verbs = service_parser(sub, SWIM, "SWIM membership: members, counter, event(s), meta, "
                           "leave", __doc__ or "")
    add_verb(verbs, "members", "the members as one node sees them", cmd_members)
    counter = add_verb(verbs, "counter", "read the PN-counter, or add N to it", cmd_counter)
    counter.add_argument("add", nargs="?", choices=["add"], help="add to the counter")
    counter.add_argument("delta", nargs="?", type=int, metavar="N", help="what to add")
    event = add_verb(verbs, "event", "broadcast a user event", cmd_event)
    event.add_argument("name")
    event.add_argument("payload", nargs="?", default="")
    add_verb(verbs, "events", "the recent user events a node delivered", cmd_events)
    meta = add_verb(verbs, "meta", "list the metadata, or set a key of a node's own",
                    cmd_meta)
    meta.add_argument("key", nargs="?")
    meta.add_argument("value", nargs="?")
    add_verb(verbs, "leave", "make a node leave (--node or --endpoint)", cmd_leave)


def client(target: Target) -> MembershipClient:
    return MembershipClient(target.addresses, target.timeout_s, tls=target.tls)


async def cmd_members(args: argparse.Namespace, target: Target) -> int:
    async with client(target) as c:
        _, view = await ask(target, c, c.view)
    for member, (state, incarnation) in sorted(view.members.items()):
        print(f"{member} {state} {incarnation} {view.addresses.get(member) or '-'}")
    return 0


async def cmd_counter(args: argparse.Namespace, target: Target) -> int:
    if (args.add is None) != (args.delta is None):
        raise ConfigError("swim counter: read it with no argument, or `counter add N`")
    async with client(target) as c:
        if args.delta is None:
            _, view = await ask(target, c, c.view)
            total = view.counter
        else:
            _, total = await ask(target, c, lambda n: c.incr(n, args.delta))
    print(total)
    return 0


async def cmd_event(args: argparse.Namespace, target: Target) -> int:
    if not args.name:
        raise ConfigError("swim event: the event needs a name")
    async with client(target) as c:
        node, seq = await ask(target, c, lambda n: c.broadcast(n, args.name,
                                                                args.payload.encode()))
    console.print(f"event {args.name!r} sent from {node} (seq {seq})")
    return 0


async def cmd_events(args: argparse.Namespace, target: Target) -> int:
    async with client(target) as c:
        _, view = await ask(target, c, c.view)
    for e in view.events:
        print(f"{e.origin} {e.seq} {e.name} {e.payload.decode(errors='backslashreplace')}")
    return 0


async def cmd_meta(args: argparse.Namespace, target: Target) -> int:
    async with client(target) as c:
        if args.key is None:
            _, view = await ask(target, c, c.view)
            for key, value in sorted(view.meta.items()):
                print(f"{key}={value}")
            return 0
        if args.value is None or not args.key:
            raise ConfigError("swim meta: list it with no argument, or set `meta KEY VALUE`")
        node, _ = await ask(target, c, lambda n: c.set_meta(n, args.key, args.value))
    console.print(f"{node}/{args.key}={args.value}")
    return 0


async def cmd_leave(args: argparse.Namespace, target: Target) -> int:
    if target.pinned is None:
        raise ConfigError("swim leave: say which node leaves (--node N or --endpoint)")
    async with client(target) as c:
        node, _ = await ask(target, c, c.leave)
    console.print(f"{node} left")
    return 0
