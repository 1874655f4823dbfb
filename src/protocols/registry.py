"""Every protocol by name: one entry each, the only list there is.

An entry names, as ``module:ATTRIBUTE`` strings loaded on first use, the protocol's
``ProtocolSpec`` (cores, message kinds, options), its shell (``node.py``'s ``SHELL``:
the gRPC plumbing) and its simulator adapter (invariants, workloads). ``python -m
cluster up NAME``, ``python -m protocols`` (one node), ``scripts/sim --protocol NAME`` and
the tests all look protocols up here, so adding one is adding one entry.

A protocol that lives outside this package (the toy protocol of the tests) is named by
the ``module:ATTRIBUTE`` of its own ``ProtocolEntry``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from protocols.common.errors import ConfigError

if TYPE_CHECKING:
    from protocols.contract import ProtocolSpec
    from protocols.runtime.shell import ProtocolShell
    from protocols.sim.api import SimAdapter

__all__ = ["PROTOCOLS", "ProtocolEntry", "entry", "load_models", "load_shell", "load_sim",
           "load_spec"]


@dataclass(frozen=True, slots=True)
class ProtocolEntry:
    name: str
    summary: str
    spec: str  # "package.module:ATTRIBUTE" of its ProtocolSpec
    shell: str | None = None  # ... of its ProtocolShell (None: it cannot run as processes)
    sim: str | None = None  # ... of its SimAdapter (None: it has no simulator adapter)
    explore: str | None = None  # ... of its explorer models: {name: factory(size)}


PROTOCOLS: dict[str, ProtocolEntry] = {e.name: e for e in (
    ProtocolEntry("bare", "a node with no algorithm: the runner's own tests use it",
                  spec="protocols.bare:SPEC", shell="protocols.bare.node:SHELL"),
    ProtocolEntry("raft", "Raft: a linearizable replicated KV store (Ongaro & Ousterhout)",
                  spec="protocols.raft:SPEC", shell="protocols.raft.node:SHELL",
                  sim="protocols.raft.sim:ADAPTER", explore="protocols.raft.explore:MODELS"),
    ProtocolEntry("paxos", "Multi-Paxos serving the same KV store (van Renesse, PMMC)",
                  spec="protocols.paxos:SPEC", shell="protocols.paxos.node:SHELL",
                  sim="protocols.paxos.sim:ADAPTER", explore="protocols.paxos.explore:MODELS"),
    ProtocolEntry("swim", "SWIM membership and failure detection with Lifeguard, gossip",
                  spec="protocols.swim:SPEC", shell="protocols.swim.node:SHELL",
                  sim="protocols.swim.sim:ADAPTER", explore="protocols.swim.explore:MODELS"),
    ProtocolEntry("causal", "causal broadcast (Birman, Schiper, Stephenson: the BSS rule)",
                  spec="protocols.causal:SPEC", shell="protocols.causal.node:SHELL",
                  sim="protocols.causal.sim:ADAPTER", explore="protocols.causal.explore:MODELS"),
    ProtocolEntry("vkv", "a Dynamo-style multi-version KV (siblings, dotted version vectors)",
                  spec="protocols.vkv:SPEC", shell="protocols.vkv.node:SHELL",
                  sim="protocols.vkv.sim:ADAPTER", explore="protocols.vkv.explore:MODELS"),
    ProtocolEntry("dynamo", "Dynamo: consistent-hashing ring, N/R/W quorums, sloppy quorum "
                  "and hinted handoff, anti-entropy, SWIM membership (DeCandia et al.)",
                  spec="protocols.dynamo:SPEC", shell="protocols.dynamo.node:SHELL",
                  sim="protocols.dynamo.sim:ADAPTER", explore="protocols.dynamo.explore:MODELS"),
    ProtocolEntry("twopc", "two-phase commit over shards of a KV store (Gray; BHG ch. 7)",
                  spec="protocols.twopc:SPEC", shell="protocols.twopc.node:SHELL",
                  sim="protocols.twopc.sim:ADAPTER",
                  explore="protocols.twopc.explore:MODELS"),
    ProtocolEntry("txnkv", "a CockroachDB-style transactional store: ranges as Raft groups, "
                  "HLC timestamps, MVCC, parallel commits",
                  spec="protocols.txnkv.spec:SPEC", shell="protocols.txnkv.node:SHELL",
                  sim="protocols.txnkv.sim:ADAPTER",
                  explore="protocols.txnkv.explore:MODELS"),
    ProtocolEntry("synod", "single-decree Paxos (Lamport, Paxos Made Simple)",
                  spec="protocols.paxos:SYNOD_SPEC", sim="protocols.paxos.sim:SYNOD",
                  explore="protocols.paxos.explore:SYNOD_MODELS"),
)}


def entry(name: str) -> ProtocolEntry:
    """The entry of protocol ``name``, or of ``module:ATTRIBUTE`` naming a ProtocolEntry;
    ConfigError naming the known protocols otherwise."""
    found = PROTOCOLS.get(name)
    if found is not None:
        return found
    if ":" not in name:
        raise ConfigError(f"unknown protocol {name!r}; known: {', '.join(sorted(PROTOCOLS))} "
                          "(or module:ATTRIBUTE of a ProtocolEntry)")
    loaded = _load(name, name)
    if not isinstance(loaded, ProtocolEntry):
        raise ConfigError(f"{name} is a {type(loaded).__name__}, not a ProtocolEntry")
    return loaded


def load_spec(name: str) -> ProtocolSpec:
    e = entry(name)
    spec: ProtocolSpec = _load(e.spec, e.name)
    return spec


def load_shell(name: str) -> ProtocolShell:
    e = entry(name)
    if e.shell is None:
        raise ConfigError(f"protocol {e.name!r} has no node shell: it runs in the simulator "
                          "only")
    shell: ProtocolShell = _load(e.shell, e.name)
    return shell


def load_sim(name: str) -> SimAdapter:
    e = entry(name)
    if e.sim is None:
        raise ConfigError(f"protocol {e.name!r} has no simulator adapter; protocols with one: "
                          f"{', '.join(sorted(n for n, p in PROTOCOLS.items() if p.sim))}")
    adapter: SimAdapter = _load(e.sim, e.name)
    return adapter


def load_models(name: str) -> dict[str, Any]:
    """The explorer's models of protocol ``name`` (``protocols.explore``): a dict of
    model name -> ``factory(size)`` returning an ``ExploreAdapter``; ``size`` is "small"
    (the default suite's bounds, seconds) or "full" (``scripts/check-models``)."""
    e = entry(name)
    if e.explore is None:
        raise ConfigError(f"protocol {e.name!r} has no explorer models; protocols with some: "
                          f"{', '.join(sorted(n for n, p in PROTOCOLS.items() if p.explore))}")
    models: dict[str, Any] = _load(e.explore, e.name)
    return models


def _load(target: str, name: str) -> Any:
    module, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"protocol {name!r} is not available ({target}): {e}") from None
