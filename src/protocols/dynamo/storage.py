"""Dynamo's durable state is the versioned KV's (``protocols.vkv.storage.VkvStorage``,
reused as it is): a write-ahead log of one record per key write, recovery keeping each
key's last version, and this disk's replica id. A stand-in's hinted versions (§4.6) are
records of that log under their own keys, ``"\\0owner\\0key"`` (``core.hinted_key``; no
client key starts with a NUL), so they are never read back as the node's own keys."""

from __future__ import annotations

from protocols.vkv.storage import VkvStorage

__all__ = ["DynamoStorage"]

DynamoStorage = VkvStorage
