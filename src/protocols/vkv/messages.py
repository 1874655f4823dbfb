"""The versioned KV's replica messages (DeCandia et al., "Dynamo", SOSP 2007, §4.4 data
versioning, §4.7 anti-entropy; course chapter 48). Each travels as the protobuf message of
the same name (protos/vkv.proto). A key's state travels encoded by ``vkv.state``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["Digest", "DigestReply", "Replicate"]


@dataclass(frozen=True, slots=True)
class Replicate:
    """One-way: the sender's state of ``key`` (siblings and clock); the receiver syncs."""

    key: str
    state: bytes


@dataclass(frozen=True, slots=True)
class Digest:
    """Anti-entropy, step 1: a short hash of every key's state at the sender."""

    hashes: Mapping[str, bytes]


@dataclass(frozen=True, slots=True)
class DigestReply:
    """Step 2: the answerer's states of the keys that differ; the keys it wants back."""

    states: Mapping[str, bytes]
    wanted: tuple[str, ...]
