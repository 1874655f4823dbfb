"""The leader's view of each follower (Figure 2's nextIndex[] and matchIndex[]), with
etcd's three replication states:

* ``PROBE``: we do not know where the follower's log matches ours; one AppendEntries in
  flight at a time, backing ``next_index`` up on each rejection (§5.3);
* ``REPLICATE``: it matches; AppendEntries are pipelined up to a window, ``next_index``
  moving on optimistically as each leaves;
* ``SNAPSHOT``: what it lacks is compacted, so it gets InstallSnapshot chunks (§7).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from protocols.raft.snapshots import SnapshotSender

__all__ = ["Progress", "ReplicaState"]


class ReplicaState(enum.Enum):
    PROBE = "probe"
    REPLICATE = "replicate"
    SNAPSHOT = "snapshot"


@dataclass(slots=True)
class Progress:
    next_index: int  # the next log entry to send to this follower
    match_index: int = 0  # the highest entry known to be replicated on it
    state: ReplicaState = ReplicaState.PROBE
    inflight: int = 0  # AppendEntries (or one snapshot chunk) awaiting a reply
    inflight_bytes: int = 0  # the bytes of their entries (etcd's MaxInflightBytes)
    recently_active: bool = False  # it answered since the last check-quorum point
    lease_from: float = float("-inf")  # when we sent the newest request it answered (leases)
    snapshot: SnapshotSender | None = None  # in SNAPSHOT state: the transfer

    def window(self, max_inflight: int) -> int:
        """How many AppendEntries may be in flight: one while probing."""
        return max_inflight if self.state is ReplicaState.REPLICATE else 1

    def become_probe(self, next_index: int) -> None:
        self.state, self.inflight, self.next_index = ReplicaState.PROBE, 0, next_index
        self.inflight_bytes = 0

    def become_replicate(self) -> None:
        self.state = ReplicaState.REPLICATE

    def become_snapshot(self, sender: SnapshotSender) -> None:
        self.state, self.inflight, self.snapshot = ReplicaState.SNAPSHOT, 0, sender
        self.inflight_bytes = 0

    def snapshot_done(self, match_index: int) -> None:
        """The follower installed the snapshot: replicate from just after it."""
        self.snapshot = None
        self.match_index = max(self.match_index, match_index)
        self.become_probe(self.match_index + 1)
