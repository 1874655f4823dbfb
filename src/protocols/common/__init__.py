"""Pieces every protocol shares: node ids, the error hierarchy, file systems, the WAL.
(The core/driver contract is ``protocols.contract``.)"""

from __future__ import annotations

from protocols.common.errors import (
    ConfigError,
    CorruptLogError,
    NotLeader,
    ProtocolError,
    Unavailable,
    UnknownNode,
)
from protocols.common.ids import NodeId, validate_node_id

__all__ = [
    "ConfigError",
    "CorruptLogError",
    "NodeId",
    "NotLeader",
    "ProtocolError",
    "Unavailable",
    "UnknownNode",
    "validate_node_id",
]
