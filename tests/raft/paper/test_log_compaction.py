"""Log compaction (Raft §7, Figures 12-13), rule by rule on a single core, and the
snapshot's durability (atomic file, WAL rewrite, crash between the two)."""

from __future__ import annotations

import random

import pytest

from protocols.common.errors import StorageError
from protocols.common.ids import NodeId
from protocols.kv.commands import KvCommand
from protocols.kv.state_machine import KvStateMachine
from protocols.raft.core import RaftCore, RaftOptions
from protocols.raft.log import CompactedError, RaftLog
from protocols.raft.messages import (
    AppendEntries,
    Entry,
    EntryKind,
    InstallSnapshot,
    Membership,
    Snapshot,
)
from protocols.raft.records import AppendEntry, HardState, SaveSnapshot
from protocols.raft.storage import RaftStorage
from protocols.sim.disk import SimFileSystem


def put(i: int) -> Entry:
    return Entry(1, i, EntryKind.NORMAL, KvCommand("put", f"k{i}", f"v{i}").encode())


def follower(**options: object) -> RaftCore:
    return RaftCore(NodeId("n2"), [NodeId("n1"), NodeId("n3")], random.Random(1),
                    RaftOptions.from_mapping(options))


def snapshot_of(entries: int, term: int = 1) -> Snapshot:
    sm = KvStateMachine()
    for i in range(1, entries + 1):
        sm.apply(KvCommand("put", f"k{i}", f"v{i}"))
    return Snapshot(entries, term, Membership(frozenset({"n1", "n2", "n3"})), sm.snapshot())


def chunks(snap: Snapshot, size: int, term: int = 1) -> list[InstallSnapshot]:
    blob = snap.encode()
    return [InstallSnapshot(term, "n1", snap.last_included_index, snap.last_included_term,
                            off, blob[off:off + size], off + size >= len(blob))
            for off in range(0, len(blob), size)]


def test_log_answers_for_the_last_included_entry_after_compaction() -> None:
    log = RaftLog([put(i) for i in range(1, 11)])
    log.compact(6, 1)
    assert (log.snapshot_index, log.last_index, len(log)) == (6, 10, 4)
    assert log.term_at(6) == 1  # Figure 12: last included term kept for the check
    with pytest.raises(CompactedError):
        log.term_at(5)
    with pytest.raises(CompactedError):
        log.slice(3, 10)
    assert [e.index for e in log.slice(7, 10)] == [7, 8, 9, 10]


def test_a_server_snapshots_its_applied_state_and_discards_the_log() -> None:
    core = follower(snapshot_threshold=5)
    core.on_append_entries("n1", AppendEntries(1, "n1", 0, 0, tuple(put(i) for i in
                                                                    range(1, 8)), 7))
    ready = core.ready()
    assert core.log.snapshot_index == 7 and len(core.log) == 0
    assert core.snapshot is not None and core.snapshot.last_included_term == 1
    assert KvStateMachine.restore(core.snapshot.data).data["k7"] == "v7"
    assert isinstance(ready.persist[-1], SaveSnapshot)


def test_figure13_chunks_are_gathered_in_order_and_a_wrong_offset_is_refused() -> None:
    core = follower()
    parts = chunks(snapshot_of(20), 64)
    assert len(parts) > 3
    assert core.on_install_snapshot("n1", parts[0]).next_offset == 64
    # a lost chunk: the follower asks for the byte it expects
    assert core.on_install_snapshot("n1", parts[2]).next_offset == 64
    # a duplicated chunk is not appended twice
    assert core.on_install_snapshot("n1", parts[1]).next_offset == 128
    assert core.on_install_snapshot("n1", parts[1]).next_offset == 128
    for part in parts[2:-1]:
        assert core.on_install_snapshot("n1", part).match_index == 0
    reply = core.on_install_snapshot("n1", parts[-1])
    assert reply.match_index == 20
    assert (core.commit_index, core.last_applied, core.log.snapshot_index) == (20, 20, 20)
    assert core.state_machine.data["k20"] == "v20"
    assert any(isinstance(r, SaveSnapshot) for r in core.ready().persist)  # before the reply


def test_figure13_step1_a_stale_term_is_refused() -> None:
    core = follower()
    core.current_term = 5
    reply = core.on_install_snapshot("n1", chunks(snapshot_of(3), 10_000)[0])
    assert (reply.term, reply.match_index) == (5, 0)
    assert core.log.snapshot_index == 0


def test_figure13_step6_entries_after_the_snapshot_are_retained() -> None:
    core = follower()
    core.on_append_entries("n1", AppendEntries(1, "n1", 0, 0, tuple(put(i) for i in
                                                                    range(1, 11)), 0))
    core.on_install_snapshot("n1", chunks(snapshot_of(6), 10_000)[0])
    assert (core.log.snapshot_index, core.log.last_index) == (6, 10)


def test_figure13_step7_a_conflicting_log_is_discarded() -> None:
    core = follower()
    core.on_append_entries("n1", AppendEntries(1, "n1", 0, 0, tuple(put(i) for i in
                                                                    range(1, 11)), 0))
    core.on_install_snapshot("n1", chunks(snapshot_of(6, term=2), 10_000, term=2)[0])
    assert (core.log.snapshot_index, core.log.last_index, core.log.snapshot_term) == (6, 6, 2)


def test_append_entries_overlapping_the_snapshot_skips_the_compacted_prefix() -> None:
    core = follower()
    core.on_install_snapshot("n1", chunks(snapshot_of(6), 10_000)[0])
    reply = core.on_append_entries("n1", AppendEntries(1, "n1", 3, 1, tuple(
        put(i) for i in range(4, 10)), 9))
    assert reply.success and reply.match_index == 9
    assert core.state_machine.data["k9"] == "v9"


# ------------------------------------------------------------------ durability
def test_storage_recovers_snapshot_plus_the_entries_after_it() -> None:
    fs = SimFileSystem()
    st = RaftStorage(fs, "/d")
    st.save([HardState(1, "n1"), *(AppendEntry(put(i)) for i in range(1, 11))])
    snap = snapshot_of(6)
    st.save([SaveSnapshot(snap, HardState(1, "n1"), tuple(put(i) for i in range(7, 11))),
             AppendEntry(put(11))])
    wal_after = len(fs.files["/d/raft.wal"].content())
    st.close()
    fs.crash()
    again = RaftStorage(fs, "/d").recovered
    assert again.snapshot == snap
    assert [e.index for e in again.entries] == [7, 8, 9, 10, 11]
    assert (again.current_term, again.voted_for) == (1, "n1")
    assert wal_after < 600  # the prefix is gone from disk too


def test_crash_between_snapshot_file_and_wal_rewrite() -> None:
    """The snapshot file is in place, the WAL still holds the whole log: recovery drops
    what the snapshot covers (same term at its index) or the whole log (conflict)."""
    fs = SimFileSystem()
    st = RaftStorage(fs, "/d")
    st.save([HardState(1, None), *(AppendEntry(put(i)) for i in range(1, 11))])
    st.close()
    from protocols.raft.storage import _encode_snapshot

    fs.write_atomic("/d/snapshot.bin", _encode_snapshot(snapshot_of(6)))
    rec = RaftStorage(fs, "/d").recovered
    assert [e.index for e in rec.entries] == [7, 8, 9, 10]
    fs.write_atomic("/d/snapshot.bin", _encode_snapshot(snapshot_of(6, term=3)))
    rec = RaftStorage(fs, "/d").recovered
    assert rec.entries == [] and rec.snapshot is not None


def test_a_corrupt_snapshot_file_is_refused_and_left_alone() -> None:
    fs = SimFileSystem()
    RaftStorage(fs, "/d").save([SaveSnapshot(snapshot_of(3), HardState(1, None), ())])
    raw = bytearray(fs.files["/d/snapshot.bin"].content())
    raw[-1] ^= 0xFF
    fs.write_atomic("/d/snapshot.bin", bytes(raw))
    with pytest.raises(StorageError, match="snapshot file is corrupt"):
        RaftStorage(fs, "/d")
    assert fs.files["/d/snapshot.bin"].content() == bytes(raw)


def test_core_restarts_from_snapshot_and_log() -> None:
    fs = SimFileSystem()
    st = RaftStorage(fs, "/d")
    st.save([SaveSnapshot(snapshot_of(6), HardState(2, "n3"), (put(7),))])
    rec = RaftStorage(fs, "/d").recovered
    core = RaftCore(NodeId("n2"), [NodeId("n1"), NodeId("n3")], random.Random(1),
                    RaftOptions(), rec.current_term, rec.voted_for, rec.entries, rec.snapshot)
    assert (core.commit_index, core.last_applied, core.log.last_index) == (6, 6, 7)
    assert core.state_machine.data["k6"] == "v6" and core.current_term == 2


def test_a_snapshot_that_does_not_decode_is_refused_and_changes_nothing() -> None:
    from protocols.common.errors import InvalidRequest

    core = follower()
    core.on_append_entries("n1", AppendEntries(1, "n1", 0, 0, (put(1), put(2)), 1))
    with pytest.raises(InvalidRequest, match="does not decode"):
        core.on_install_snapshot("n1", InstallSnapshot(1, "n1", 9, 1, 0, b"garbage", True))
    assert (core.log.snapshot_index, core.log.last_index, core.commit_index) == (0, 2, 1)
    assert core.state_machine.data == {"k1": "v1"}


def test_a_missing_snapshot_file_is_a_clear_error() -> None:
    fs = SimFileSystem()
    RaftStorage(fs, "/d").save([SaveSnapshot(snapshot_of(3), HardState(1, None), (put(4),))])
    fs.remove("/d/snapshot.bin")
    with pytest.raises(StorageError, match="snapshot .* is missing"):
        RaftStorage(fs, "/d")
