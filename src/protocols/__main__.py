"""Run one node: ``python -m protocols --config cluster.json --node-id n1``.

Exit codes: 0 after a graceful stop (SIGTERM, SIGINT, Admin.Shutdown); 2 for a bad
config or a node that cannot start (port in use, data dir locked, corrupt storage); 3 when
a write to its storage fails while running (fail-stop: nothing unwritten is answered); 4
when the protocol's core fails with anything but bad input (a bug: the node stops rather
than answer from a state it cannot trust) — each with a one-line explanation on stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from protocols.common.errors import ProtocolError
from protocols.common.lifeline import die_with_parent_from_env
from protocols.contract import check_assignment
from protocols.registry import load_shell
from protocols.runtime.config import load_cluster_config
from protocols.runtime.host import NodeHost


def main(argv: list[str] | None = None) -> int:
    die_with_parent_from_env()
    parser = argparse.ArgumentParser(prog="python -m protocols", description=__doc__)
    parser.add_argument("--config", required=True, help="cluster config JSON file")
    parser.add_argument("--node-id", required=True, help="which node of the config to run")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        format=f"%(asctime)s {args.node_id} %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        cluster = load_cluster_config(args.config)
        config = cluster.node(args.node_id)
        shell = load_shell(config.protocol)
        check_assignment(shell.spec, cluster.node_ids, cluster.options, cluster.roles,
                         cluster.node_options)  # a bad role or option: exit 2, saying which
        for group in config.groups.values():  # the other cores it hosts: known protocols
            load_shell(group.protocol).spec.check_options(group.options, len(group.members))
        host = NodeHost(config, shell, shells=load_shell,
                        models=_model if config.stepped is not None else None)
        return asyncio.run(host.run())
    except ProtocolError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _model(protocol: str, name: str, size: str) -> object:
    """An explorer model, for step mode (``protocols.runtime.stepper``)."""
    from protocols.modelcheck import model

    return model(protocol, name, size)[1]


if __name__ == "__main__":
    sys.exit(main())
