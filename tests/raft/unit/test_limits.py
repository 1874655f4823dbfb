"""Limits (issue #19 bug 5): AppendEntries are bounded by bytes as well as by entries,
the bytes in flight to one follower are bounded (etcd's MaxSizePerMsg and
MaxInflightBytes), and an entry is encoded once on its way to disk."""

from __future__ import annotations

from protocols.kv.commands import MAX_VALUE_BYTES, KvCommand
from protocols.raft.log import entry_bytes
from protocols.raft.messages import AppendEntries, Entry, EntryKind
from protocols.raft.records import AppendEntry
from protocols.raft.storage import RaftStorage
from protocols.sim.disk import SimFileSystem
from tests.raft.core_harness import Net

BIG = "x" * (300 << 10)  # 300 KiB: 256 of them would pass gRPC's message limit


def appends_to(net: Net, follower: str, start: int) -> list[AppendEntries]:
    return [m for s, d, m in net.sent[start:] if d == follower and isinstance(m, AppendEntries)]


def test_append_entries_are_bounded_by_bytes() -> None:
    net = Net.create(3, max_batch_bytes=1 << 20)
    leader = net.wait_leader()
    follower = next(n for n in sorted(net.cores) if n != leader)
    net.cut |= {(leader, follower), (follower, leader)}
    for i in range(20):
        net.submit(leader, f"w{i}", KvCommand("put", f"k{i}", BIG))
    start = len(net.sent)
    net.heal()
    net.tick(times=40)  # the follower catches up
    batches = appends_to(net, follower, start)
    assert net.cores[follower].log.last_index == net.cores[leader].log.last_index
    assert batches and all(entry_bytes(m.entries) <= 1 << 20 for m in batches)
    assert max(len(m.entries) for m in batches) >= 3  # bounded, not one at a time


def test_an_entry_larger_than_the_batch_still_travels_alone() -> None:
    net = Net.create(3, max_batch_bytes=1024)
    leader = net.wait_leader()
    net.submit(leader, "w", KvCommand("put", "k", BIG))
    net.tick(times=5)
    answer = net.answer(leader, "w")
    assert answer is not None and answer.error is None


def test_bytes_in_flight_to_a_follower_are_bounded() -> None:
    """With the follower silent (its replies lost), the leader stops sending once
    max_inflight_bytes are in flight, whatever the entry-count window allows."""
    net = Net.create(3, max_inflight_bytes=1 << 20, max_inflight_append=64,
                     max_batch_entries=4)  # so one-entry batches are not held back as small
    leader = net.wait_leader()
    follower = next(n for n in sorted(net.cores) if n != leader)
    net.tick(times=12)  # replicating
    net.hold = lambda msg: isinstance(msg, AppendEntries)  # in flight, never answered
    for i in range(30):
        net.submit(leader, f"w{i}", KvCommand("put", f"k{i}", BIG))
    in_flight = [m for s, d, m in net.held if d == follower and m.entries]
    assert entry_bytes(e for m in in_flight for e in m.entries) <= (1 << 20) + len(BIG) + 64
    assert net.cores[leader].progress[follower].inflight_bytes > 0


def test_an_entry_is_written_once_not_escaped() -> None:
    """A value of quotes was JSON-encoded twice on its way to the WAL (four bytes per
    quote); now the record holds the command's own bytes."""
    fs = SimFileSystem()
    storage = RaftStorage(fs, "/d")
    command = KvCommand("put", "k", '"' * MAX_VALUE_BYTES).encode()
    storage.save([AppendEntry(Entry(1, 1, EntryKind.NORMAL, command))])
    assert len(fs.read("/d/raft.wal")) < len(command) + 100
    storage.close()
    assert RaftStorage(fs, "/d").recovered.entries[0].command == command
