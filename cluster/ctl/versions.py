"""``python -m cluster vkv`` and ``python -m cluster dynamo``: the multi-version stores
from the shell, where concurrent writes become siblings and a write names, by a context,
the versions it replaces.

    python -m cluster vkv get K                 the siblings, one a line, then the
                                                context: "context: n1:2,n2:1"
    python -m cluster vkv put K V [--context C] write V over what C covers (no context: a
                                                blind write, beside every sibling); prints
                                                the key as the write left it, like get
    python -m cluster dynamo get K [--r R]      the same on a Dynamo ring: R replies (0 or
    python -m cluster dynamo put K V [--context C] [--w W]       none: the cluster's R, W)

To replace what a read showed, hand its context back: ``--context "$(python -m cluster
vkv get K | tail -n 1 | cut -d' ' -f2)"``. ``vget``/``vput`` are ``get``/``put``. A
versioned KV's replica answers for itself (the first that answers, or ``--node N``);
Dynamo's client sends to any node (each coordinates, §4.5) and moves on from one it
cannot reach.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from rich.console import Console

from cluster.ctl.common import DYNAMO, VKV, Handler, Target, add_verb, ask, service_parser
from protocols.common.errors import ConfigError
from protocols.dynamo.client import DynamoClient
from protocols.vkv.client import VersionedKvClient

__all__ = ["add_parsers", "format_context", "parse_context"]

console = Console(highlight=False, soft_wrap=True, markup=False)  # user text is printed as is


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    vkv = service_parser(sub, VKV, "the versioned KV: get (siblings and context), put "
                         "with a context", __doc__ or "")
    _verbs(vkv, vkv_get, vkv_put)
    dynamo = service_parser(sub, DYNAMO, "Dynamo: get (siblings and context), put with a "
                            "context, with R/W per request", __doc__ or "")
    get, put = _verbs(dynamo, dynamo_get, dynamo_put)
    get.add_argument("--r", type=int, default=0, help="replies to wait for (0: the R of "
                     "the cluster)")
    put.add_argument("--w", type=int, default=0, help="acks to wait for (0: the W of "
                     "the cluster)")


def _verbs(verbs: argparse._SubParsersAction,  # type: ignore[type-arg]
           get: Handler, put: Handler) -> tuple[argparse.ArgumentParser,
                                                argparse.ArgumentParser]:
    g = add_verb(verbs, "get", "a key's siblings and their context", get, aliases=("vget",))
    g.add_argument("key")
    p = add_verb(verbs, "put", "write a value over what a context covers", put,
                 aliases=("vput",))
    p.add_argument("key")
    p.add_argument("value")
    p.add_argument("--context", default="", metavar="CTX",
                   help="what a get printed after 'context:' (default: none, a blind "
                        "write)")
    return g, p


def parse_context(raw: str) -> dict[str, int]:
    """``n1:2,n2:1`` (as ``get`` prints it) -> {"n1": 2, "n2": 1}; "" -> {}."""
    out: dict[str, int] = {}
    for part in filter(None, (p.strip() for p in raw.split(","))):
        node, sep, counter = part.rpartition(":")
        if not sep or not node or not counter.isdigit():
            raise ConfigError(f"--context wants NODE:COUNTER,... as get prints it "
                              f"(e.g. n1:2,n2:1), not {raw!r}")
        if node in out:
            raise ConfigError(f"--context names {node} twice: {raw!r}")
        out[node] = int(counter)
    return out


def format_context(context: Mapping[str, int]) -> str:
    return ",".join(f"{node}:{counter}" for node, counter in sorted(context.items()))


def show(key: str, siblings: list[str], context: Mapping[str, int], read: bool) -> int:
    """The siblings one a line, then the context; exit 1 for a read of no such key."""
    if read and not siblings:
        console.print(f"{key}: no such key", style="yellow")
        return 1
    for value in siblings:
        print(value)
    print(f"context: {format_context(context)}")
    return 0


async def vkv_get(args: argparse.Namespace, target: Target) -> int:
    async with VersionedKvClient(target.addresses, target.timeout_s, tls=target.tls) as c:
        _, (siblings, context) = await ask(target, c, lambda n: c.get(n, args.key))
    return show(args.key, siblings, context, read=True)


async def vkv_put(args: argparse.Namespace, target: Target) -> int:
    context = parse_context(args.context)
    async with VersionedKvClient(target.addresses, target.timeout_s, tls=target.tls) as c:
        _, (siblings, left) = await ask(target, c,
                                        lambda n: c.put(n, args.key, args.value, context))
    return show(args.key, siblings, left, read=False)


async def dynamo_get(args: argparse.Namespace, target: Target) -> int:
    async with DynamoClient(target.addresses, target.timeout_s, tls=target.tls) as c:
        siblings, context = await c.get(args.key, _quorum(args.r, "--r"), node=target.pinned)
    return show(args.key, siblings, context, read=True)


async def dynamo_put(args: argparse.Namespace, target: Target) -> int:
    context = parse_context(args.context)
    async with DynamoClient(target.addresses, target.timeout_s, tls=target.tls) as c:
        siblings, left = await c.put(args.key, args.value, context, _quorum(args.w, "--w"),
                                     node=target.pinned)
    return show(args.key, siblings, left, read=False)


def _quorum(value: int, option: str) -> int:
    if value < 0:
        raise ConfigError(f"{option} must be 0 (the cluster's) or more, not {value}")
    return value
