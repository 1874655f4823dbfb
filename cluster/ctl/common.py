"""What every shell client shares: ``python -m cluster SERVICE [OPTIONS] VERB ...``.

Each service's command (``kv``, ``swim``, ``causal``, ``vkv``, ``dynamo``, ``txn``)
takes the same options, finds its servers the same way and fails the same way:

* where: by default every node of the cluster in ``--dir`` (its ``state.json``), the
  client choosing whom to ask (the leader, a coordinator, the first that answers);
  ``--node N`` that node only; ``--endpoint HOST:PORT`` the server at that address, with
  no cluster directory (plaintext);
* ``--timeout S``: seconds to wait for an answer;
* exit codes: 0 done; 1 answered "no" (no such key, compare failed, aborted); 2 failed,
  with one line saying why: bad arguments, an unknown node, a cluster or a server of
  another protocol, nothing listening, no answer in time (a change's outcome unknown).

The options may come before or after the verb (``swim --node n2 members`` or ``swim
members --node n2``).
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import grpc.aio

from cluster.runner import LocalCluster
from protocols.common.errors import (
    ConfigError,
    ProtocolError,
    Timeout,
    Unavailable,
    Unimplemented,
)
from protocols.runtime.channels import NodeChannels
from protocols.runtime.config import parse_address
from protocols.runtime.errors import error_of
from protocols.runtime.tls import TlsMaterial

__all__ = ["CAUSAL", "DYNAMO", "KV", "SERVICES", "SWIM", "TXN", "VKV", "Handler", "Service",
           "Target", "add_verb", "ask", "connect_failed", "resolve", "run",
           "service_parser"]

T = TypeVar("T")
Handler = Callable[[argparse.Namespace, "Target"], Awaitable[int]]  # a verb's: exit code

EXIT_CODES = """exit codes:
  0  done
  1  answered "no" (no such key, compare failed, transaction aborted)
  2  failed, in one line: bad arguments, unknown node, another protocol's cluster or
     server, nothing listening, no answer in time (then a change's outcome is unknown)"""


@dataclass(frozen=True, slots=True)
class Service:
    """A shell command and what serves it."""

    command: str
    protocols: tuple[str, ...]  # the clusters that serve it (``cluster up PROTOCOL``)
    grpc_service: str

    @property
    def kind(self) -> str:
        return " or ".join(self.protocols)


KV = Service("kv", ("raft", "paxos"), "protocols.kv.v1.Kv")
SWIM = Service("swim", ("swim",), "protocols.swim.v1.Membership")
CAUSAL = Service("causal", ("causal",), "protocols.causal.v1.Broadcaster")
VKV = Service("vkv", ("vkv",), "protocols.vkv.v1.VersionedKv")
DYNAMO = Service("dynamo", ("dynamo",), "protocols.dynamo.v1.DynamoKv")
TXN = Service("txn", ("twopc", "txnkv"), "protocols.twopc.v1.Transactions")
SERVICES = (KV, SWIM, CAUSAL, VKV, DYNAMO, TXN)


@dataclass(frozen=True, slots=True)
class Target:
    """The servers one command talks to, and how to name them in an error."""

    service: Service
    addresses: dict[str, str]  # node -> client address (an endpoint: itself -> itself)
    tls: TlsMaterial | None
    pinned: str | None  # the one node to ask (--node, --endpoint); None: any
    timeout_s: float
    label: str  # the cluster or the endpoint, for errors

    def where(self, node: str | None = None) -> str:
        node = node or self.pinned
        if node is None:
            return self.label
        address = self.addresses[node]
        return address if address == node else f"node {node} ({address})"

    def not_served(self, node: str | None = None) -> ConfigError:
        return ConfigError(f"{self.where(node)} is not a {self.service.kind} node: it does "
                           f"not serve {self.service.grpc_service}")

    async def failure(self, channels: NodeChannels[Any], node: str,
                      e: grpc.aio.AioRpcError) -> ProtocolError:
        """A failed call to ``node`` as one line naming it."""
        refusal = await channels.refusal(node, e, min(1.0, self.timeout_s))
        if refusal is not None:  # a TLS handshake refused: the line says which and why
            return Unavailable(refusal, refused=True)
        if unreached(e):
            return self.nothing_answers(node)
        error = error_of(e)
        if isinstance(error, Unimplemented):
            return self.not_served(node)
        if isinstance(error, Timeout):
            return Timeout(f"{self.where(node)}: no answer within {self.timeout_s:g}s (a "
                           "change asked for may or may not be done)")
        error.args = (f"{self.where(node)}: {error}",)
        return error

    def nothing_answers(self, node: str | None = None) -> Unavailable:
        return _Unreached(f"{self.where(node)}: nothing answers there (down, or not "
                          "listening)", refused=True)


class _Unreached(Unavailable):
    """No connection: nothing happened there, another node may be asked instead."""


def unreached(e: grpc.aio.AioRpcError) -> bool:
    """The call never reached a server (no connection): nothing happened."""
    return (e.code() == grpc.StatusCode.UNAVAILABLE
            and "failed to connect" in (e.details() or "").lower())


def connect_failed(error: ProtocolError) -> bool:
    """A client's error for a call that found no server (as ``unreached``, once a client
    turned the gRPC error into ours): nothing was sent."""
    return "failed to connect" in str(error).lower()


def resolve(args: argparse.Namespace, service: Service) -> Target:
    """The servers the command's options name; ConfigError (before anything is sent) for
    an unknown node, a cluster of another protocol, a malformed endpoint."""
    if not (math.isfinite(args.timeout) and args.timeout > 0):
        raise ConfigError(f"--timeout must be a positive number of seconds, not "
                          f"{args.timeout:g}")
    if args.endpoint:
        if args.node:
            raise ConfigError("give --node or --endpoint, not both")
        parse_address(args.endpoint, "--endpoint")
        return Target(service, {args.endpoint: args.endpoint}, None, args.endpoint,
                      args.timeout, args.endpoint)
    c = LocalCluster.attach(args.dir)
    if c.protocol not in service.protocols:
        right = [s.command for s in SERVICES if c.protocol in s.protocols]
        raise ConfigError(f"the cluster in {c.dir} runs {c.protocol}; `{service.command}` "
                          f"talks to a {service.kind} cluster"
                          + (f" (try `{right[0]}`)" if right else ""))
    addresses = c.client_addresses
    if args.node and args.node not in addresses:
        raise ConfigError(f"no node {args.node!r} in this cluster "
                          f"({', '.join(sorted(addresses))})")
    return Target(service, addresses, c.client_tls, args.node or None, args.timeout,
                  f"the {c.protocol} cluster in {c.dir}")


async def ask(target: Target, channels: NodeChannels[Any],
              call: Callable[[str], Awaitable[T]]) -> tuple[str, T]:
    """``call(node)`` on the pinned node, else on each node in turn, moving on only from a
    node that could not be reached (nothing happened there): (who answered, its answer)."""
    nodes = [target.pinned] if target.pinned else list(target.addresses)
    for node in nodes:
        try:
            return node, await call(node)
        except grpc.aio.AioRpcError as e:
            error = await target.failure(channels, node, e)
            if not isinstance(error, _Unreached) or len(nodes) == 1:
                raise error from None
    raise target.nothing_answers()  # no node of the cluster could be reached


async def run(args: argparse.Namespace) -> int:
    """The verb's handler on the target the options name. A client that turns gRPC errors
    into ours itself (kv, dynamo, txn) gets the same one-line words for another
    protocol's server and for nothing listening."""
    target = resolve(args, args.service)
    try:
        code: int = await args.handler(args, target)
    except Unimplemented:
        raise target.not_served() from None
    except Unavailable as e:  # the one server never answered (another may have, else)
        if target.pinned is None or not connect_failed(e):
            raise
        raise target.nothing_answers() from None
    return code


def service_parser(sub: argparse._SubParsersAction,  # type: ignore[type-arg]
                   service: Service, help: str, description: str
                   ) -> argparse._SubParsersAction:  # type: ignore[type-arg]
    """The service's parser, with the target options; returns where its verbs go."""
    p = sub.add_parser(service.command, help=help, description=description,
                       epilog=EXIT_CODES, formatter_class=argparse.RawDescriptionHelpFormatter)
    _target_options(p, None)
    p.set_defaults(service=service)
    verbs: argparse._SubParsersAction = p.add_subparsers(  # type: ignore[type-arg]
        dest="verb", required=True, metavar="VERB")
    return verbs


def add_verb(verbs: argparse._SubParsersAction,  # type: ignore[type-arg]
             name: str, help: str, handler: Handler,
             aliases: tuple[str, ...] = ()) -> argparse.ArgumentParser:
    """A verb of a service, run by ``handler(args, target)``; it takes the target options
    too, after it (their defaults stay the service's)."""
    v: argparse.ArgumentParser = verbs.add_parser(
        name, help=help, description=help, aliases=list(aliases), epilog=EXIT_CODES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    _target_options(v, argparse.SUPPRESS)
    v.set_defaults(handler=handler)
    return v


def _target_options(p: argparse.ArgumentParser, suppress: str | None) -> None:
    """--node, --endpoint, --timeout; ``suppress``: no defaults (a verb's copy, which
    must not overwrite what was given before the verb)."""
    def default(value: object) -> object:
        return value if suppress is None else suppress

    p.add_argument("--node", default=default(None),
                   help="ask this node only (default: the client picks)")
    p.add_argument("--endpoint", default=default(None), metavar="HOST:PORT",
                   help="ask the server at this address (no cluster directory)")
    p.add_argument("--timeout", type=float, default=default(10.0), metavar="S",
                   help="seconds to wait for an answer (default 10)")
