"""Sending and receiving a snapshot in chunks (Raft §7, Figure 13, InstallSnapshot).

The leader sends ``Snapshot.encode()`` in ``snapshot_chunk_bytes`` pieces, one in
flight at a time; the follower gathers them in memory and replies with the byte offset
it expects next, so a lost or repeated chunk is asked for again, never appended twice.
The last chunk (``done``) completes it; the core then installs it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from protocols.common.errors import InvalidRequest
from protocols.raft.messages import InstallSnapshot, Snapshot

__all__ = ["SnapshotReceiver", "SnapshotSender"]


@dataclass(slots=True)
class SnapshotSender:
    """The leader's side of one transfer, to one follower."""

    snapshot: Snapshot
    blob: bytes = b""  # Snapshot.encode()
    offset: int = 0  # the next byte the follower expects

    def __post_init__(self) -> None:
        self.blob = self.blob or self.snapshot.encode()

    def chunk(self, term: int, leader_id: str, chunk_bytes: int) -> InstallSnapshot:
        """The next chunk (Figure 13's arguments)."""
        end = self.offset + chunk_bytes
        snap = self.snapshot
        return InstallSnapshot(term, leader_id, snap.last_included_index,
                               snap.last_included_term, self.offset,
                               self.blob[self.offset:end], end >= len(self.blob))


@dataclass(slots=True)
class SnapshotReceiver:
    """The follower's side: at most one snapshot being received."""

    key: tuple[int, int] | None = None  # (last included index, term) of the one in progress
    buffer: bytearray = field(default_factory=bytearray)

    def receive(self, src: str, m: InstallSnapshot) -> tuple[int, Snapshot | None]:
        """Figure 13 steps 2-4: returns (the offset expected next, the whole snapshot once
        its last chunk arrived). A snapshot that does not decode is InvalidRequest, and
        nothing was installed."""
        key = (m.last_included_index, m.last_included_term)
        if m.offset == 0 and self.key != key:  # 2. create a new snapshot if first chunk
            self.key, self.buffer = key, bytearray()
        if self.key != key:
            return 0, None  # a chunk of a snapshot we are not receiving: start over
        if m.offset != len(self.buffer):  # a lost or repeated chunk: ask for the right one
            return len(self.buffer), None
        self.buffer += m.data  # 3. write data into the snapshot file at the given offset
        if not m.done:  # 4. reply and wait for more data chunks
            return len(self.buffer), None
        blob, self.key, self.buffer = bytes(self.buffer), None, bytearray()
        try:
            snap = Snapshot.decode(blob)
        except (ValueError, KeyError, TypeError) as e:
            raise InvalidRequest(f"snapshot at {m.last_included_index} from {src} does not "
                                 f"decode: {e}") from None
        if (snap.last_included_index, snap.last_included_term) != key:
            raise InvalidRequest(f"snapshot from {src} says index {snap.last_included_index} "
                                 f"term {snap.last_included_term}, the request {key}")
        return len(blob), snap
