"""Pieces every protocol shares: node ids, the error hierarchy, the outbox, storage."""

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
from protocols.common.outbox import Answer, Envelope, Ready

__all__ = [
    "Answer",
    "ConfigError",
    "CorruptLogError",
    "Envelope",
    "NodeId",
    "NotLeader",
    "ProtocolError",
    "Ready",
    "Unavailable",
    "UnknownNode",
    "validate_node_id",
]
