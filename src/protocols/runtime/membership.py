"""Nodes that come and go while a node process runs: ``Admin.AddPeer`` / ``RemovePeer``.

The runner (``LocalCluster.add_node`` / ``remove_node``) starts or stops a node and
rewrites the cluster file, so a process started later reads the new membership; a
process already running learns it here:

* its configuration (``NodeHost.config``: peers, their addresses and roles), so the peer
  server takes the newcomer's messages (``PeerServer.sender_of``) and refuses a departed
  node's, unless the protocol's membership is open;
* its transport's address book (through the link's proxy, when the runner made one), and
  the address a membership protocol may learn from gossip is dialed the same way;
* the core of the cluster's own protocol, through ``Core.on_peers_changed`` (an input
  like any other: the pump runs after it). Cores that keep their own configuration
  ignore it (see the contract); the cores of other groups keep their group's members.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING

from protocols.common.errors import ConfigError, InvalidRequest
from protocols.common.ids import NodeId, validate_node_id
from protocols.runtime.config import parse_address

if TYPE_CHECKING:
    from protocols.runtime.host import NodeHost

__all__ = ["add_peer", "remove_peer"]


def add_peer(host: NodeHost, node_id: str, address: str, dial_address: str = "",
             role: str = "") -> list[str]:
    """``node_id`` joined the cluster, listening on ``address`` and reached through
    ``dial_address`` (its link's proxy; "" = ``address``). Returns the peers now.
    InvalidRequest (and nothing changes) for a bad id, this node's own id, or a bad
    address. Adding a peer already known at the same address changes nothing."""
    peer = _peer_id(host, node_id)
    try:
        parse_address(address, f"peer {peer} address")
        if dial_address:
            parse_address(dial_address, f"peer {peer} dial_address")
    except ConfigError as e:
        raise InvalidRequest(str(e)) from None
    dial = dial_address or address
    config = host.config
    host.config = dataclasses.replace(
        config, peers={**config.peers, peer: dial}, addresses={**config.addresses, peer: address},
        roles=_with_role(config.roles, peer, role))
    host.route(address, dial)  # an address gossip names is dialed through the proxy too
    host.transport.set_address(peer, dial)
    _tell_cores(host)
    return sorted(host.config.peers)


def remove_peer(host: NodeHost, node_id: str) -> list[str]:
    """``node_id`` left the cluster for good: forgotten by the configuration, the address
    book and the transport (what waits on it fails), then the cores are told. A peer this
    node does not know is InvalidRequest, naming the ones it knows."""
    peer = _peer_id(host, node_id)
    config = host.config
    if peer not in config.peers:
        raise InvalidRequest(f"node {host.node_id} has no peer {peer!r}; its peers are "
                             f"{', '.join(sorted(config.peers)) or 'none'}")
    address = config.addresses.get(peer)
    host.config = dataclasses.replace(
        config, peers={p: a for p, a in config.peers.items() if p != peer},
        addresses={p: a for p, a in config.addresses.items() if p != peer},
        roles={p: r for p, r in config.roles.items() if p != peer})
    if address is not None:
        host.route(address, None)
    host.transport.forget(peer)
    _tell_cores(host)
    return sorted(host.config.peers)


def _peer_id(host: NodeHost, node_id: str) -> NodeId:
    try:
        peer = validate_node_id(node_id)
    except ConfigError as e:
        raise InvalidRequest(f"node_id: {e}") from None
    if peer == host.node_id:
        raise InvalidRequest(f"node_id {peer!r} is this node itself")
    return peer


def _with_role(roles: Mapping[NodeId, str], peer: NodeId, role: str) -> dict[NodeId, str]:
    table = {p: r for p, r in roles.items() if p != peer}
    if role:
        table[peer] = role
    return table


def _tell_cores(host: NodeHost) -> None:
    """The core of the cluster's own protocol hears the new membership, as an input (its
    pump runs after it). The cores of other groups (``NodeHost.slots``) keep the members
    their group was made with: their membership is their own protocol's business (a Raft
    group of a range changes it by its own configuration change), as in the simulator."""
    peers = tuple(sorted(host.config.peers))
    roles = dict(host.config.roles)
    for group, slot in list(host.slots.items()):
        if slot.halted or group:
            continue
        try:
            slot.core.on_peers_changed(peers, roles)
        except Exception as e:  # a bug in the core: fail-stop, as for any input
            slot.failed(e)
            continue
        slot.input()
        slot.drain()
