"""Multi-Paxos's durable state (protocols.paxos.storage) on a simulated disk that loses
unsynced bytes on a crash: what the acceptor must never forget (its ballot, its
pvalues), the leader's highest round, the snapshot, and bad files refused untouched."""

from __future__ import annotations

import random

import pytest

from protocols.common.errors import StorageError
from protocols.common.ids import NodeId
from protocols.contract import NodeContext
from protocols.kv.commands import KvCommand
from protocols.paxos import SPEC
from protocols.paxos.core import (
    AcceptRecord,
    BallotRecord,
    PaxosCore,
    RoundRecord,
    SnapshotRecord,
)
from protocols.paxos.messages import Ballot, P1a, P2a, PValue
from protocols.paxos.storage import PaxosStorage
from protocols.sim.disk import SimFileSystem

B34, B36 = Ballot(34, "n4"), Ballot(36, "n1")


def cmd(value: str) -> bytes:
    return KvCommand("put", "k", value).encode()


def node(fs: SimFileSystem) -> PaxosCore:
    parts = SPEC.create_node(NodeContext(NodeId("n2"), (NodeId("n1"), NodeId("n3")), fs,
                                         "/d", random.Random(0), lambda: 0.0))
    assert isinstance(parts.core, PaxosCore)
    return parts.core


def save(fs: SimFileSystem, records: list[object]) -> None:
    storage = PaxosStorage(fs, "/d")
    storage.save(records)
    storage.close()


def test_ballot_pvalues_and_round_survive_a_crash() -> None:
    fs = SimFileSystem()
    save(fs, [BallotRecord(B34), AcceptRecord(PValue(B34, 1, cmd("a"))), RoundRecord(40)])
    fs.crash()
    core = node(fs)
    assert core.acceptor.ballot_number == B34
    assert core.acceptor.accepted == {1: PValue(B34, 1, cmd("a"))}
    assert core.max_round == 40 and core.round_durable == 40


def test_accepting_a_higher_ballot_is_a_promise_that_survives_a_restart() -> None:
    """PMMC's acceptor adopts the ballot of every pvalue it accepts. The repro's n2 had
    promised 34.n4, then accepted pvalues of 36.n1 by P2a alone; restarted, it must
    still refuse 35.x, or a lower ballot could overwrite a chosen value."""
    fs = SimFileSystem()
    save(fs, [BallotRecord(B34), AcceptRecord(PValue(B36, 7, cmd("chosen")))])
    core = node(fs)
    assert core.acceptor.ballot_number == B36
    reply = core.on_message(NodeId("n3"), P2a((PValue(Ballot(35, "n3"), 7, cmd("other")),)))
    assert reply.slots == () and core.acceptor.accepted[7].command == cmd("chosen")


def test_the_next_ballot_is_above_every_round_written_or_accepted() -> None:
    fs = SimFileSystem()
    save(fs, [AcceptRecord(PValue(Ballot(9, "n3"), 1, cmd("a"))), RoundRecord(5)])
    core = node(fs)
    core._start_scout()
    assert core.leader.ballot_number == Ballot(10, "n2")


def test_a_snapshot_keeps_the_ballot_the_round_and_what_is_left() -> None:
    fs = SimFileSystem()
    left = (PValue(B36, 12, cmd("twelve")),)
    save(fs, [BallotRecord(B34), RoundRecord(3),
              *(AcceptRecord(PValue(B34, s, cmd(str(s)))) for s in range(1, 13)),
              SnapshotRecord(11, b"", B36, left, ((11, cmd("eleven")),), round=37)])
    fs.crash()
    storage = PaxosStorage(fs, "/d")
    r = storage.recovered
    assert (r.snapshot_slot, r.round, r.acceptor.ballot_number) == (11, 37, B36)
    assert r.acceptor.accepted == {12: left[0]} and r.decisions == {11: cmd("eleven")}
    assert r.acceptor.decided_upto == 11


def test_a_promise_is_written_before_the_reply_leaves() -> None:
    """The P1b of a new promise comes with the ballot record to persist in the same
    Ready: the pump holds the reply until the record is durable."""
    core = node(SimFileSystem())
    core.ticks = 1000  # long past any quiet period
    reply = core.on_message(NodeId("n1"), P1a(B36, 1))
    ready = core.ready()
    assert reply.ballot == B36 and ready.persist == [BallotRecord(B36)]
    reply = core.on_message(NodeId("n1"), P2a((PValue(B36, 1, cmd("a")),)))
    assert core.ready().persist == [AcceptRecord(PValue(B36, 1, cmd("a")))]


def test_a_scout_writes_its_round_before_its_phase_1_leaves() -> None:
    core = node(SimFileSystem())
    core._start_scout()
    ready = core.ready()
    assert ready.persist == [RoundRecord(core.leader.ballot_number.round)]
    assert ready.messages and not any(e.ahead_of_persist for e in ready.messages)


def test_a_corrupt_log_is_refused_and_left_untouched() -> None:
    fs = SimFileSystem()
    save(fs, [BallotRecord(B34)])
    first_end = len(fs.read("/d/paxos.wal"))
    save(fs, [AcceptRecord(PValue(B34, 1, cmd("a"))), BallotRecord(B36)])
    raw = bytearray(fs.read("/d/paxos.wal"))
    raw[first_end + 10] ^= 0x01  # inside the second of three: a corrupt middle
    fs.files["/d/paxos.wal"].durable = raw
    before = fs.read("/d/paxos.wal")
    with pytest.raises(StorageError):
        PaxosStorage(fs, "/d")
    assert fs.read("/d/paxos.wal") == before


def test_an_unknown_record_kind_is_refused_with_the_file_named() -> None:
    fs = SimFileSystem()
    storage = PaxosStorage(fs, "/d")
    storage.wal.append([b"Zjunk"])
    storage.close()
    with pytest.raises(StorageError, match="paxos.wal"):
        PaxosStorage(fs, "/d")


def test_a_compacted_log_without_its_snapshot_is_refused() -> None:
    fs = SimFileSystem()
    save(fs, [SnapshotRecord(11, b"", B36, (), ())])
    fs.remove("/d/snapshot.bin")
    with pytest.raises(StorageError, match="snapshot"):
        PaxosStorage(fs, "/d")
