"""Operate a running Raft cluster: membership change and leadership transfer.

    python -m protocols.raft add n4          # learner, catch up, promote (thesis §4.2.1)
    python -m protocols.raft add-learner n4  # only the first step
    python -m protocols.raft promote n4
    python -m protocols.raft remove n2
    python -m protocols.raft transfer n3     # leadership transfer (thesis §3.10)

The cluster is found through its cluster file (``--config``; default: the one
``python -m cluster up`` wrote in ``$PROTOCOLS_CLUSTER_DIR`` or /tmp/protocols-cluster).
Start a cluster with spare nodes with e.g.
``python -m cluster up raft -n 4 -o 'initial_voters=["n1","n2","n3"]'``.
A cluster with mutual TLS (``up --tls``) is reached with the client certificate beside
its CA (``DIR/tls/client.pem`` and ``client.key``), or the one ``--cert``/``--key`` name.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile

from protocols.common.errors import ProtocolError
from protocols.raft.admin_client import RaftAdminClient
from protocols.runtime.config import load_cluster_config
from protocols.runtime.tls import TlsFiles


def _default_config() -> str:
    directory = os.environ.get("PROTOCOLS_CLUSTER_DIR",
                               os.path.join(tempfile.gettempdir(), "protocols-cluster"))
    return os.path.join(directory, "cluster.json")


async def _run(args: argparse.Namespace) -> str:
    config = load_cluster_config(args.config)
    if config.protocol != "raft":
        raise ProtocolError(f"{args.config} describes a {config.protocol} cluster, not raft")
    addresses = {str(n): config.addresses[n] for n in config.node_ids}
    tls = None
    if config.tls:  # the cluster's CA, and a client certificate it signed
        ca = next(iter(config.tls.values())).ca
        tls = TlsFiles(ca, args.cert or os.path.join(os.path.dirname(ca), "client.pem"),
                       args.key or os.path.join(os.path.dirname(ca), "client.key"),
                       ).load("python -m protocols.raft")
    async with RaftAdminClient(addresses, deadline_s=args.deadline_s, tls=tls) as admin:
        if args.action == "transfer":
            return f"leadership transferred to {await admin.transfer_leadership(args.node)}"
        change = {"add": admin.add_node, "add-learner": admin.add_learner,
                  "promote": admin.promote, "remove": admin.remove}[args.action]
        membership = await change(args.node)
        return f"committed: {membership.describe()}"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m protocols.raft", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("action", choices=["add", "add-learner", "promote", "remove", "transfer"])
    p.add_argument("node")
    p.add_argument("--config", default=_default_config(), help="the cluster file")
    p.add_argument("--deadline-s", type=float, default=30.0)
    p.add_argument("--cert", help="client certificate (TLS cluster; default: beside its CA)")
    p.add_argument("--key", help="its private key")
    args = p.parse_args(argv)
    try:
        print(asyncio.run(_run(args)))
    except (ProtocolError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
