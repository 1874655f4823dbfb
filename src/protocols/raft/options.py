"""Raft's options, with their defaults and ranges (``protocols.common.options`` parses
them). Timing is in ticks: the shell's tick is ``tick_ms``, 10 ms by default."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from protocols.common.errors import ConfigError
from protocols.common.options import Options, option
from protocols.kv.state_machine import DEFAULT_MAX_SESSIONS

__all__ = ["RaftOptions", "ReadMode"]


class ReadMode(enum.StrEnum):
    """How a leader serves a read (thesis §6.4, ``reads.py``)."""

    READ_INDEX = "read_index"  # confirm leadership with a heartbeat round first
    LEASE = "lease"  # answer alone while a lease holds (assumes bounded clock drift)
    # UNSAFE, for experiments only: answer from the local state machine at once. A leader
    # deposed without knowing it serves stale reads (``scripts/experiment stale-read``)
    LOCAL = "local"


@dataclass(frozen=True, slots=True)
class RaftOptions(Options):
    protocol = "Raft"

    election_timeout_min_ticks: int = option(30, "a follower waits at least this long", min=1)
    election_timeout_max_ticks: int = option(60, "... and less than this", min=1)
    heartbeat_interval_ticks: int = option(10, "a leader's heartbeat period", min=1)
    pre_vote: bool = option(True, "ask before standing for election (thesis §9.6)")
    check_quorum: bool = option(True, "a leader cut off from a majority steps down "
                                "(thesis §6.2)")
    max_inflight_append: int = option(16, "pipelined AppendEntries in flight per follower",
                                      min=1)
    max_batch_entries: int = option(256, "entries per AppendEntries", min=1)
    max_batch_bytes: int = option(1 << 20, "their bytes (at least one entry: etcd's "
                                  "MaxSizePerMsg)", min=1)
    max_inflight_bytes: int = option(16 << 20, "bytes in flight per follower", min=1)
    max_sessions: int = option(DEFAULT_MAX_SESSIONS, "client sessions kept (thesis §6.3)",
                               min=1)
    read_mode: ReadMode = option(ReadMode.READ_INDEX, "how a leader serves reads")
    snapshot_threshold: int = option(10_000, "snapshot once this many entries applied since "
                                     "(0: never)", min=0)
    snapshot_chunk_bytes: int = option(64 * 1024, "InstallSnapshot chunk size (Figure 13)",
                                       min=1)
    initial_voters: tuple[str, ...] = option((), "the first configuration (empty: every "
                                             "node)")
    fsync: bool = option(True, "fsync every write (false: faster, and not durable)")

    def validate(self, members: tuple[str, ...]) -> None:
        if self.election_timeout_max_ticks <= self.election_timeout_min_ticks:
            raise ConfigError("election_timeout_max_ticks must exceed "
                              "election_timeout_min_ticks")
        if self.heartbeat_interval_ticks >= self.election_timeout_min_ticks:
            raise ConfigError("heartbeat_interval_ticks must be below the election timeout")
        unknown = sorted(set(self.initial_voters) - set(members)) if members else []
        if unknown:
            raise ConfigError(f"initial_voters name unknown node(s): {unknown}")
        if self.read_mode == ReadMode.LEASE and not self.check_quorum:
            raise ConfigError("read_mode='lease' needs check_quorum=True: the lease rests on "
                              "followers refusing votes while they hear from the leader")
