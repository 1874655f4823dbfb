"""Node identifiers.

A node id is a short printable name (``n1``, ``a``, ``node-3``) used in configs, logs,
traces and proxy names. Ids are compared and sorted as strings; code that iterates over
nodes always uses ``sorted()`` so the order never depends on hash seeds.
"""

from __future__ import annotations

import re
from typing import NewType

from protocols.common.errors import ConfigError

__all__ = ["NodeId", "node_ids", "validate_node_id"]

NodeId = NewType("NodeId", str)

_NODE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")


def validate_node_id(raw: object) -> NodeId:
    """Return ``raw`` as a NodeId, or raise ConfigError saying why it is not one."""
    if not isinstance(raw, str) or not _NODE_ID_RE.match(raw):
        raise ConfigError(
            f"invalid node id {raw!r}: use 1-63 letters, digits, '_', '.', '-' "
            "starting with a letter or digit"
        )
    return NodeId(raw)


def node_ids(n: int, prefix: str = "n") -> list[NodeId]:
    """The conventional ids of an n-node cluster: n1 .. nN."""
    if n < 1:
        raise ConfigError(f"a cluster needs at least one node, got {n}")
    return [NodeId(f"{prefix}{i}") for i in range(1, n + 1)]
