"""``python -m cluster kv``: the replicated KV from the shell, as etcdctl is for etcd.

    python -m cluster kv put K V            write (acknowledged once committed)
    python -m cluster kv get K              print the value (exit 1: no such key)
    python -m cluster kv cas K OLD NEW      write NEW only if K holds OLD (--absent: if
                                            K has no value); exit 1 if it did not
    python -m cluster kv del K              delete (exit 1: no such key)

Any KV cluster (Raft, Multi-Paxos): the client (``protocols.kv.client.KvClient``) finds
the leader by itself, following redirects, so any node will do. ``--node N`` talks to
that node only (its redirects are not followed: a follower answers "not the leader");
``--endpoint HOST:PORT`` to a KV server at that address, without a cluster directory.
Errors are one line and a non-zero exit code: 2 when the request failed (refused, no
leader, timed out: for a write, its outcome is then unknown), 1 when it was answered
"no" (no such key, compare failed).
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping

from rich.console import Console

from cluster.runner import LocalCluster
from protocols.common.errors import ConfigError
from protocols.kv.client import KvClient
from protocols.runtime.tls import TlsMaterial

__all__ = ["add_parser", "cmd_kv"]

console = Console(highlight=False)


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    kv = sub.add_parser("kv", help="the replicated KV from the shell: put, get, cas, del")
    kv.add_argument("--node", help="talk to this node only")
    kv.add_argument("--endpoint", help="HOST:PORT of a KV server (no cluster directory)")
    kv.add_argument("--timeout", type=float, default=10.0, help="seconds per command")
    ops = kv.add_subparsers(dest="kv_op", required=True)
    ops.add_parser("get", help="print a key's value").add_argument("key")
    put = ops.add_parser("put", help="write a value")
    put.add_argument("key")
    put.add_argument("value")
    cas = ops.add_parser("cas", help="compare and set")
    cas.add_argument("key")
    cas.add_argument("old", nargs="?", help="the value the key must hold")
    cas.add_argument("new")
    cas.add_argument("--absent", action="store_true", help="the key must have no value")
    ops.add_parser("del", help="delete a key").add_argument("key")


def _target(args: argparse.Namespace) -> tuple[Mapping[str, str], TlsMaterial | None]:
    if args.endpoint:
        if args.node:
            raise ConfigError("give --node or --endpoint, not both")
        return {args.endpoint: args.endpoint}, None
    c = LocalCluster.attach(args.dir)
    addresses = c.client_addresses
    if args.node:
        if args.node not in addresses:
            raise ConfigError(f"no node {args.node!r} in this cluster "
                              f"({', '.join(sorted(addresses))})")
        addresses = {args.node: addresses[args.node]}
    return addresses, c.client_tls


async def cmd_kv(args: argparse.Namespace) -> int:
    if args.kv_op == "cas" and (args.old is None) != args.absent:
        raise ConfigError("cas: give OLD, or --absent (the key must have no value)")
    addresses, tls = _target(args)
    # one node only: its "not the leader" will not change by asking it again for long
    deadline = min(args.timeout, 2.0) if args.node else args.timeout
    async with KvClient(addresses, deadline_s=deadline, tls=tls) as kv:
        if args.kv_op == "get":
            value = await kv.get(args.key)
            if value is None:
                console.print(f"{args.key}: no such key", style="yellow")
                return 1
            print(value)
        elif args.kv_op == "put":
            await kv.put(args.key, args.value)
            console.print("ok")
        elif args.kv_op == "cas":
            if not await kv.cas(args.key, None if args.absent else args.old, args.new):
                console.print(f"{args.key}: compare failed (it does not hold "
                              f"{'no value' if args.absent else repr(args.old)})",
                              style="yellow")
                return 1
            console.print("ok")
        else:
            if not await kv.delete(args.key):
                console.print(f"{args.key}: no such key", style="yellow")
                return 1
            console.print("deleted")
    return 0
