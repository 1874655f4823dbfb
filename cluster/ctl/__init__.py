"""The shell clients (issue #37): one command per client-facing service, as etcdctl is
for etcd, all of the shape ``python -m cluster SERVICE [--node N | --endpoint HOST:PORT]
[--timeout S] VERB ...``; docs/cli.md lists them.

    kv      raft, paxos     put, get, cas, del
    swim    swim            members, counter [add N], event, events, meta, leave
    causal  causal          send, deliveries
    vkv     vkv             get, put --context
    dynamo  dynamo          get, put --context
    txn     twopc, txnkv    run (micro-ops), routing

Target options, errors and exit codes are ``cluster.ctl.common``'s, shared by all.
"""

from __future__ import annotations

import argparse

from cluster.ctl import causal, kv, swim, txn, versions
from cluster.ctl.common import SERVICES, run

__all__ = ["COMMANDS", "add_parsers"]

COMMANDS = {s.command: run for s in SERVICES}


def add_parsers(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    kv.add_parser(sub)
    swim.add_parser(sub)
    causal.add_parser(sub)
    versions.add_parsers(sub)
    txn.add_parser(sub)
