"""Cluster and node configuration: loading and validation with errors a user can act on.

One JSON file describes a cluster; each node process is started with that file and its
own id (``python -m protocols.node --config cluster.json --node-id n1``)::

    {
      "protocol": "raft",
      "nodes": {                         # where each node's gRPC server listens
        "n1": {"address": "127.0.0.1:7001", "data_dir": "/tmp/c/n1"},
        "n2": {"address": "127.0.0.1:7002", "data_dir": "/tmp/c/n2",
               "role": "primary",        # optional: its role (ProtocolSpec.roles)
               "options": {}}            # optional: overlays the cluster's options
      },
      "links": {                         # optional: how node i reaches node j
        "n1": {"n2": "127.0.0.1:9012"}   # (the runner points these at proxies i -> j)
      },
      "tick_ms": 10,                     # one core tick
      "rpc_deadline_ms": 1000,           # deadline of every peer RPC
      "seed": 0,                         # seeds the node's RNG and its fault hook
      "event_log": false,                # write events.<node>.jsonl beside the data dirs
      "tls": {"ca": "/tmp/c/tls/ca.pem",  # optional: mutual TLS (protocols.runtime.tls)
              "nodes": {"n1": {"cert": "/tmp/c/tls/n1.pem", "key": "/tmp/c/tls/n1.key"}}},
      "options": {},                     # protocol options (validated by the protocol)
      "stepped": {"model": "multipaxos",  # optional: step mode (protocols.runtime.stepper):
                  "size": "full",      # nothing happens but what Admin.Step says
                  "hold_writes": ["n1"]}
    }

Admin and health traffic always goes to ``nodes[i].address`` directly; peer traffic
goes through ``links[i][j]`` when given, else straight to ``nodes[j].address``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from protocols.common.errors import ConfigError, UnknownNode
from protocols.common.ids import NodeId, validate_node_id
from protocols.contract import node_options
from protocols.runtime.tls import TlsFiles, cluster_tls_of, cluster_tls_to_json

__all__ = ["ClusterConfig", "GroupConfig", "NodeConfig", "SteppedConfig", "load_cluster_config",
           "parse_address", "parse_groups"]

_KNOWN_KEYS = {"protocol", "nodes", "links", "tick_ms", "rpc_deadline_ms", "seed", "options",
               "event_log", "tls", "groups", "stepped"}


@dataclass(frozen=True, slots=True)
class SteppedConfig:
    """Step mode: the nodes run one explorer model's path (``protocols.runtime.stepper``).
    ``model`` names the model (its commands and what its encoding ignores);
    ``hold_writes``: the nodes whose writes wait for a persist step (the model's
    ``Bounds.persist_moves``); the others write at once, as the model's do."""

    model: str
    size: str = "small"  # the model's size (small | full): its commands may differ
    hold_writes: tuple[NodeId, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"model": self.model, "size": self.size, "hold_writes": list(self.hold_writes)}


@dataclass(frozen=True, slots=True)
class GroupConfig:
    """A group of cores beside the cluster's own protocol: one core of ``protocol`` on
    each of ``members`` (a Raft group of one range, a SWIM membership ...). Its messages
    travel on the processes' peer streams addressed to the group; each member keeps its
    state in ``<data_dir>/groups/<name>``."""

    name: str
    protocol: str
    members: tuple[NodeId, ...]
    options: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "members": list(self.members),
                "options": dict(self.options)}


@dataclass(frozen=True, slots=True)
class NodeConfig:
    """Everything one node process needs: its own address and how to reach each peer."""

    node_id: NodeId
    protocol: str
    address: str
    data_dir: str
    peers: Mapping[NodeId, str]  # peer id -> address this node dials (maybe a proxy)
    tick_ms: float = 10.0
    rpc_deadline_ms: float = 1000.0
    seed: int = 0
    options: Mapping[str, Any] = field(default_factory=dict)
    event_log: bool = False  # stamp messages with vector clocks and log them (spacetime)
    # peer id -> the address it listens on (what ``peers`` dials, before any proxy): the
    # address book a membership protocol starts from and gossips (NodeContext.addresses)
    addresses: Mapping[NodeId, str] = field(default_factory=dict)
    role: str = ""  # its configured role ("": none); ``options`` already overlaid
    roles: Mapping[NodeId, str] = field(default_factory=dict)  # every member's role
    tls: TlsFiles | None = None  # mutual TLS: the CA, this node's certificate and key
    groups: Mapping[str, GroupConfig] = field(default_factory=dict)  # the ones it is in
    stepped: SteppedConfig | None = None  # step mode: a model checker drives the node

    @property
    def event_log_path(self) -> str:
        """Where this node writes its event log: beside its data dir."""
        return os.path.join(os.path.dirname(os.path.abspath(self.data_dir)),
                            f"events.{self.node_id}.jsonl")

    @property
    def tick_s(self) -> float:
        return self.tick_ms / 1000.0

    @property
    def rpc_deadline_s(self) -> float:
        return self.rpc_deadline_ms / 1000.0


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    protocol: str
    addresses: Mapping[NodeId, str]
    data_dirs: Mapping[NodeId, str]
    links: Mapping[NodeId, Mapping[NodeId, str]]
    tick_ms: float
    rpc_deadline_ms: float
    seed: int
    options: Mapping[str, Any]
    event_log: bool = False
    roles: Mapping[NodeId, str] = field(default_factory=dict)  # nodes given a role
    node_options: Mapping[NodeId, Mapping[str, Any]] = field(default_factory=dict)
    tls: Mapping[NodeId, TlsFiles] = field(default_factory=dict)  # empty: plaintext
    groups: Mapping[str, GroupConfig] = field(default_factory=dict)  # more cores per node
    stepped: SteppedConfig | None = None

    @property
    def node_ids(self) -> list[NodeId]:
        return sorted(self.addresses)

    def node(self, node_id: str) -> NodeConfig:
        """The config of one node; UnknownNode if ``node_id`` is not a member."""
        if node_id not in self.addresses:
            raise UnknownNode(node_id, list(self.addresses))
        nid = NodeId(node_id)
        peers = {
            p: self.links.get(nid, {}).get(p, self.addresses[p])
            for p in self.node_ids
            if p != nid
        }
        return NodeConfig(nid, self.protocol, self.addresses[nid], self.data_dirs[nid], peers,
                          self.tick_ms, self.rpc_deadline_ms, self.seed,
                          node_options(self.options, self.node_options.get(nid)),
                          self.event_log,
                          {p: self.addresses[p] for p in self.node_ids if p != nid},
                          self.roles.get(nid, ""), dict(self.roles), tls=self.tls.get(nid),
                          groups={g: c for g, c in self.groups.items() if nid in c.members},
                          stepped=self.stepped)

    def to_json(self) -> dict[str, Any]:
        return {
            "protocol": self.protocol,
            "nodes": {n: {"address": self.addresses[n], "data_dir": self.data_dirs[n],
                          **({"role": self.roles[n]} if n in self.roles else {}),
                          **({"options": dict(self.node_options[n])}
                             if n in self.node_options else {})}
                      for n in self.node_ids},
            "links": {i: dict(sorted(self.links[i].items())) for i in sorted(self.links)},
            "tick_ms": self.tick_ms,
            "rpc_deadline_ms": self.rpc_deadline_ms,
            "seed": self.seed,
            "options": dict(self.options),
            "event_log": self.event_log,
            **({"tls": cluster_tls_to_json(self.tls)} if self.tls else {}),
            **({"groups": {g: c.to_json() for g, c in sorted(self.groups.items())}}
               if self.groups else {}),
            **({"stepped": self.stepped.to_json()} if self.stepped else {}),
        }


def parse_address(raw: object, what: str) -> tuple[str, int]:
    """Split ``host:port``; ConfigError naming ``what`` if it is not one."""
    if not isinstance(raw, str) or ":" not in raw:
        raise ConfigError(f"{what}: expected 'host:port', got {raw!r}")
    host, _, port_s = raw.rpartition(":")
    if not host or not port_s.isdigit() or not 0 < int(port_s) < 65536:
        raise ConfigError(f"{what}: expected 'host:port' with a port in 1..65535, got {raw!r}")
    return host, int(port_s)


def _positive(raw: Any, what: str, default: float) -> float:
    value = default if raw is None else raw
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise ConfigError(f"{what} must be a positive number, got {raw!r}")
    return float(value)


def _parse_roles(raw: Any) -> tuple[dict[NodeId, str], dict[NodeId, dict[str, Any]]]:
    """Each node's ``role`` (a non-empty string) and ``options`` (an object), if given;
    which roles the protocol takes is the protocol's to check (``check_assignment``)."""
    roles: dict[NodeId, str] = {}
    options: dict[NodeId, dict[str, Any]] = {}
    for key in sorted(raw):
        spec = raw[key]
        nid = NodeId(key)
        if "role" in spec:
            role = spec["role"]
            if not isinstance(role, str) or not role:
                raise ConfigError(f"node {nid}: 'role' must be a non-empty string, got {role!r}")
            roles[nid] = role
        if "options" in spec:
            if not isinstance(spec["options"], dict):
                raise ConfigError(f"node {nid}: 'options' must be an object")
            options[nid] = dict(spec["options"])
    return roles, options


def parse_groups(raw: Any, members: Mapping[NodeId, str]) -> dict[str, GroupConfig]:
    """``groups``: name -> {protocol, members, options}; the protocol and its options are
    checked by the caller (it knows the protocols), the rest here."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError("'groups' must be an object: group name -> {protocol, members, "
                          "options}")
    groups: dict[str, GroupConfig] = {}
    for name in sorted(raw):
        spec = raw[name]
        if not isinstance(name, str) or not name.replace("-", "_").isidentifier():
            raise ConfigError(f"groups: {name!r} is not a group name (letters, digits, _ -)")
        if not isinstance(spec, dict) or not isinstance(spec.get("protocol"), str):
            raise ConfigError(f"groups.{name}: expected an object with a 'protocol'")
        unknown = sorted(set(spec) - {"protocol", "members", "options"})
        if unknown:
            raise ConfigError(f"groups.{name}: unknown key(s) {', '.join(unknown)}")
        group_members = spec.get("members", sorted(members))
        if (not isinstance(group_members, list) or not group_members
                or len(set(group_members)) != len(group_members)):
            raise ConfigError(f"groups.{name}: 'members' must be a list of distinct node ids")
        for m in group_members:
            if m not in members:
                raise ConfigError(f"groups.{name}: {UnknownNode(str(m), list(members))}")
        options = spec.get("options", {})
        if not isinstance(options, dict):
            raise ConfigError(f"groups.{name}: 'options' must be an object")
        groups[name] = GroupConfig(name, spec["protocol"],
                                   tuple(sorted(NodeId(m) for m in group_members)), options)
    return groups


def _parse_nodes(raw: Any) -> tuple[dict[NodeId, str], dict[NodeId, str]]:
    if not isinstance(raw, dict) or not raw:
        raise ConfigError("'nodes' must be a non-empty object of node id -> {address, data_dir}")
    addresses: dict[NodeId, str] = {}
    data_dirs: dict[NodeId, str] = {}
    seen: dict[str, NodeId] = {}
    for key in sorted(raw):
        nid = validate_node_id(key)
        spec = raw[key]
        if not isinstance(spec, dict) or "address" not in spec:
            raise ConfigError(f"node {nid}: expected an object with an 'address'")
        address = spec["address"]
        parse_address(address, f"node {nid} address")
        if address in seen:
            raise ConfigError(f"duplicate address {address}: used by nodes {seen[address]} "
                              f"and {nid}")
        seen[address] = nid
        addresses[nid] = address
        data_dir = spec.get("data_dir", "")
        if not isinstance(data_dir, str):
            raise ConfigError(f"node {nid}: 'data_dir' must be a string path")
        data_dirs[nid] = data_dir
    return addresses, data_dirs


def _parse_links(raw: Any, members: Mapping[NodeId, str]) -> dict[NodeId, dict[NodeId, str]]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ConfigError("'links' must be an object: node id -> {peer id -> address}")
    links: dict[NodeId, dict[NodeId, str]] = {}
    for src in sorted(raw):
        if src not in members:
            raise ConfigError(f"links: {UnknownNode(src, list(members))}")
        table = raw[src]
        if not isinstance(table, dict):
            raise ConfigError(f"links.{src}: expected an object of peer id -> address")
        for dst in sorted(table):
            if dst not in members:
                raise ConfigError(f"links.{src}: {UnknownNode(dst, list(members))}")
            if dst == src:
                raise ConfigError(f"links.{src}: a node has no link to itself")
            parse_address(table[dst], f"links.{src}.{dst}")
        missing = sorted(set(members) - set(table) - {src})
        if missing:
            raise ConfigError(f"links.{src}: missing peer(s) {', '.join(missing)} "
                              "(give every peer or omit the node's links entirely)")
        links[NodeId(src)] = {NodeId(d): table[d] for d in sorted(table)}
    return links


def cluster_config_from_dict(raw: Any, source: str = "config") -> ClusterConfig:
    """Validate a parsed JSON config; ConfigError (prefixed by ``source``) if it is wrong."""
    try:
        if not isinstance(raw, dict):
            raise ConfigError("top level must be a JSON object")
        unknown = sorted(set(raw) - _KNOWN_KEYS)
        if unknown:
            raise ConfigError(f"unknown key(s) {', '.join(unknown)}; "
                              f"allowed: {', '.join(sorted(_KNOWN_KEYS))}")
        protocol = raw.get("protocol")
        if not isinstance(protocol, str) or not protocol:
            raise ConfigError("'protocol' must name a protocol, e.g. \"raft\"")
        addresses, data_dirs = _parse_nodes(raw.get("nodes"))
        roles, per_node = _parse_roles(raw["nodes"])
        seed = raw.get("seed", 0)
        if isinstance(seed, bool) or not isinstance(seed, int):
            raise ConfigError(f"'seed' must be an integer, got {seed!r}")
        options = raw.get("options", {})
        if not isinstance(options, dict):
            raise ConfigError("'options' must be an object")
        event_log = raw.get("event_log", False)
        if not isinstance(event_log, bool):
            raise ConfigError(f"'event_log' must be true or false, got {event_log!r}")
        return ClusterConfig(
            protocol=protocol,
            addresses=addresses,
            data_dirs=data_dirs,
            links=_parse_links(raw.get("links"), addresses),
            tick_ms=_positive(raw.get("tick_ms"), "'tick_ms'", 10.0),
            rpc_deadline_ms=_positive(raw.get("rpc_deadline_ms"), "'rpc_deadline_ms'", 1000.0),
            seed=seed,
            options=options,
            event_log=event_log,
            roles=roles,
            node_options=per_node,
            tls=cluster_tls_of(raw.get("tls"), addresses),
            groups=parse_groups(raw.get("groups"), addresses),
            stepped=_parse_stepped(raw.get("stepped"), addresses),
        )
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None


def _parse_stepped(raw: Any, members: Mapping[NodeId, str]) -> SteppedConfig | None:
    if raw is None:
        return None
    if not isinstance(raw, dict) or set(raw) - {"model", "size", "hold_writes"}:
        raise ConfigError("'stepped' must be an object with 'model', 'size' and "
                          f"'hold_writes', got {raw!r}")
    model = raw.get("model")
    if not isinstance(model, str) or not model:
        raise ConfigError("'stepped.model' must name an explorer model (scripts/explore "
                          f"--list), got {model!r}")
    hold = raw.get("hold_writes", [])
    if not isinstance(hold, list) or any(h not in members for h in hold):
        raise ConfigError(f"'stepped.hold_writes' must list nodes of {sorted(members)}, "
                          f"got {hold!r}")
    size = raw.get("size", "small")
    if size not in ("small", "full"):
        raise ConfigError(f"'stepped.size' must be small or full, got {size!r}")
    return SteppedConfig(model, size, tuple(NodeId(h) for h in hold))


def load_cluster_config(path: str) -> ClusterConfig:
    """Read and validate a cluster config file."""
    if not os.path.exists(path):
        raise ConfigError(f"config file {path} does not exist")
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}: not valid JSON: {e}") from None
    return cluster_config_from_dict(raw, path)
