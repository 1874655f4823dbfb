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

from rich.console import Console

from cluster.ctl.common import KV, Target, add_verb, service_parser
from protocols.common.errors import ConfigError
from protocols.kv.client import KvClient

__all__ = ["add_parser"]

console = Console(highlight=False, markup=False)  # user text is printed as is


def add_parser(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    verbs = service_parser(sub, KV, "the replicated KV (raft, paxos): put, get, cas, del",
                           __doc__ or "")
    add_verb(verbs, "get", "print a key's value", cmd_get).add_argument("key")
    put = add_verb(verbs, "put", "write a value", cmd_put)
    put.add_argument("key")
    put.add_argument("value")
    cas = add_verb(verbs, "cas", "compare and set", cmd_cas)
    cas.add_argument("key")
    cas.add_argument("old", nargs="?", help="the value the key must hold")
    cas.add_argument("new")
    cas.add_argument("--absent", action="store_true", help="the key must have no value")
    add_verb(verbs, "del", "delete a key", cmd_del).add_argument("key")


def client(target: Target) -> KvClient:
    # one server only: its "not the leader" will not change by asking it again for long
    deadline = min(target.timeout_s, 2.0) if target.pinned else target.timeout_s
    return KvClient(target.addresses, deadline_s=deadline, tls=target.tls)


async def cmd_get(args: argparse.Namespace, target: Target) -> int:
    async with client(target) as kv:
        value = await kv.get(args.key)
    if value is None:
        console.print(f"{args.key}: no such key", style="yellow")
        return 1
    print(value)
    return 0


async def cmd_put(args: argparse.Namespace, target: Target) -> int:
    async with client(target) as kv:
        await kv.put(args.key, args.value)
    console.print("ok")
    return 0


async def cmd_cas(args: argparse.Namespace, target: Target) -> int:
    if (args.old is None) != args.absent:
        raise ConfigError("cas: give OLD, or --absent (the key must have no value)")
    async with client(target) as kv:
        done = await kv.cas(args.key, None if args.absent else args.old, args.new)
    if not done:
        console.print(f"{args.key}: compare failed (it does not hold "
                      f"{'no value' if args.absent else repr(args.old)})", style="yellow")
        return 1
    console.print("ok")
    return 0


async def cmd_del(args: argparse.Namespace, target: Target) -> int:
    async with client(target) as kv:
        existed = await kv.delete(args.key)
    if not existed:
        console.print(f"{args.key}: no such key", style="yellow")
        return 1
    console.print("deleted")
    return 0
