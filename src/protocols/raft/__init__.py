"""Raft: a persistent, linearizable replicated KV store.

Read in order: ``messages.py`` (the paper's RPCs) -> ``log.py`` -> ``core.py`` (the
algorithm) -> ``storage.py`` (durable state) -> ``node.py`` (gRPC plumbing) and
``sim.py`` (the simulator adapter and its invariants).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from protocols.common.fs import FileSystem
from protocols.common.ids import NodeId
from protocols.common.wal import SyncPolicy
from protocols.raft.core import RaftCore, RaftOptions
from protocols.raft.storage import RaftStorage
from protocols.runtime.core import NodeParts

__all__ = ["SPEC", "RaftCore", "RaftOptions", "RaftSpec"]

_STORAGE_OPTIONS = ("fsync",)


class RaftSpec:
    name = "raft"

    def create_node(self, node_id: NodeId, peers: Sequence[NodeId], fs: FileSystem,
                    data_dir: str, rng: random.Random, options: Mapping[str, Any]) -> NodeParts:
        core_options = {k: v for k, v in options.items() if k not in _STORAGE_OPTIONS}
        sync = SyncPolicy.ALWAYS if options.get("fsync", True) else SyncPolicy.NEVER
        storage = RaftStorage(fs, data_dir, sync)
        state = storage.recovered
        core = RaftCore(node_id, peers, rng, RaftOptions.from_mapping(core_options),
                        state.current_term, state.voted_for, state.entries, state.snapshot)
        return NodeParts(core, storage)


SPEC = RaftSpec()
