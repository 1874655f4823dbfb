"""Multi-Paxos durable state: what the acceptor must never forget (its ballot and the
pvalues it accepted), the replica's decisions, and a snapshot of the state machine for
garbage collection. One WAL record per change, fsynced once per batch before the node
speaks of it (the pump's rule).

Records (a kind byte, fixed fields, raw bytes): ``B`` ballot, ``A`` accepted pvalue,
``D`` decision, ``G`` "every slot below is compacted", ``R`` the highest round this
node's leader used. Accepting a pvalue adopts its ballot (PMMC's acceptor), so replay
raises the acceptor's ballot to every accepted one too. A snapshot is written atomically
to ``snapshot.bin`` (magic, CRC, slot, state), *then* the WAL is rewritten to what is
left; a crash between the two is recovered by dropping what the snapshot covers.

The Synod (``synod.py``) keeps far less: ``SynodStorage`` below.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Sequence
from typing import Any

from protocols.common.errors import StorageError
from protocols.common.fs import FileSystem
from protocols.common.wal import SyncPolicy, WriteAheadLog
from protocols.contract import Storage
from protocols.paxos.acceptor import Acceptor
from protocols.paxos.core import (
    AcceptRecord,
    BallotRecord,
    DecisionRecord,
    Recovered,
    RoundRecord,
    SnapshotRecord,
)
from protocols.paxos.messages import Ballot, PValue
from protocols.paxos.synod import Acceptor as SynodAcceptor

__all__ = ["PaxosStorage", "SynodStorage"]

_U64 = struct.Struct(">Q")
_MAGIC = b"PAXSNP01"


def _ballot(b: Ballot) -> bytes:
    leader = b.leader_id.encode()
    return _U64.pack(b.round) + struct.pack(">H", len(leader)) + leader


def _read_ballot(raw: bytes, at: int) -> tuple[Ballot, int]:
    (rnd,) = _U64.unpack_from(raw, at)
    (n,) = struct.unpack_from(">H", raw, at + 8)
    return Ballot(rnd, raw[at + 10: at + 10 + n].decode()), at + 10 + n


def _encode(record: Any) -> bytes:
    match record:
        case BallotRecord(b):
            return b"B" + _ballot(b)
        case AcceptRecord(pv):
            return b"A" + _ballot(pv.ballot) + _U64.pack(pv.slot) + pv.command
        case RoundRecord(rnd):
            return b"R" + _U64.pack(rnd)
        case DecisionRecord(slot, command):
            return b"D" + _U64.pack(slot) + command
        case int() as gc_slot:
            return b"G" + _U64.pack(gc_slot)
    raise AssertionError(f"unknown Paxos record {record!r}")


def _replay(records: Sequence[bytes], state: Recovered) -> None:
    a = state.acceptor
    for raw in records:
        kind = raw[:1]
        if kind == b"B":
            a.ballot_number, _ = _read_ballot(raw, 1)
        elif kind == b"A":
            ballot, at = _read_ballot(raw, 1)
            (slot,) = _U64.unpack_from(raw, at)
            a.accepted[slot] = PValue(ballot, slot, raw[at + 8:])
            a.ballot_number = max(a.ballot_number, ballot)  # accepting adopted it
        elif kind == b"D":
            (slot,) = _U64.unpack_from(raw, 1)
            state.decisions[slot] = raw[9:]
        elif kind == b"R":
            state.round = max(state.round, _U64.unpack_from(raw, 1)[0])
        elif kind == b"G":
            _compacted(state, _U64.unpack_from(raw, 1)[0])
        else:
            raise ValueError(f"unknown record kind {kind!r}")


def _compacted(state: Recovered, slot: int) -> None:
    state.acceptor.collect(slot)
    state.decisions = {s: c for s, c in state.decisions.items() if s >= slot}


class PaxosStorage(Storage):
    def __init__(self, fs: FileSystem, data_dir: str, sync: SyncPolicy = SyncPolicy.ALWAYS
                 ) -> None:
        fs.makedirs(data_dir)
        self.fs = fs
        self.path = f"{data_dir}/paxos.wal"
        self.snapshot_path = f"{data_dir}/snapshot.bin"
        self.wal, records = WriteAheadLog.open(fs, self.path, sync=sync)
        self.recovered = Recovered(Acceptor(), {})
        try:
            _replay(records, self.recovered)
        except (struct.error, ValueError, UnicodeDecodeError) as e:
            raise StorageError(f"{self.path}: not a Paxos log ({e}); refusing to start, the "
                               f"file was left untouched") from None
        if fs.exists(self.snapshot_path):
            slot, blob = self._read_snapshot()
            _compacted(self.recovered, slot)
            self.recovered.snapshot_slot, self.recovered.snapshot = slot, blob
        elif self.recovered.acceptor.decided_upto > 1:
            raise StorageError(f"{self.path} is compacted below slot "
                               f"{self.recovered.acceptor.decided_upto}, but the snapshot "
                               f"holding those slots ({self.snapshot_path}) is missing")

    def _read_snapshot(self) -> tuple[int, bytes]:
        raw = self.fs.read(self.snapshot_path)
        body = raw[12:]
        if raw[:8] != _MAGIC or int.from_bytes(raw[8:12], "big") != zlib.crc32(body):
            raise StorageError(f"{self.snapshot_path}: corrupt (bad magic or checksum); it "
                               f"was written atomically, so this is damage: refusing to "
                               f"start, the file was left untouched")
        return _U64.unpack_from(body)[0], bytes(body[8:])

    def save(self, records: Sequence[Any]) -> None:
        self.wal.append_around(records, _encode, SnapshotRecord, self._save_snapshot)

    def _save_snapshot(self, r: SnapshotRecord) -> None:
        body = _U64.pack(r.slot) + r.state
        self.fs.write_atomic(self.snapshot_path,
                             _MAGIC + zlib.crc32(body).to_bytes(4, "big") + body)
        self.wal.rewrite([_encode(BallotRecord(r.ballot)), _encode(RoundRecord(r.round)),
                          _encode(r.slot),
                          *(_encode(AcceptRecord(pv)) for pv in r.accepted),
                          *(_encode(DecisionRecord(s, c)) for s, c in r.decisions)])

    def close(self) -> None:
        self.wal.close()


# ====================================================================== the Synod
class SynodStorage(Storage):
    """The Synod's acceptor state and its proposer's highest round, one JSON WAL record
    per change; the newest one counts ("Paxos Made Simple" §2.3: an acceptor remembers
    its promise and what it accepted across failures). ``recovered`` is what it held."""

    def __init__(self, fs: FileSystem, data_dir: str, sync: SyncPolicy) -> None:
        fs.makedirs(data_dir)
        self.path = f"{data_dir}/acceptor.wal"
        self.wal, records = WriteAheadLog.open(fs, self.path, sync=sync)
        self.acceptor, self.highest_round = SynodAcceptor(), 0
        if records:
            try:
                pr, pl, br, bl, value, *rest = json.loads(records[-1])
                self.acceptor = SynodAcceptor(Ballot(pr, pl), Ballot(br, bl), value)
            except (ValueError, TypeError) as e:
                raise StorageError(f"{self.path}: not a Synod acceptor log ({e}); refusing "
                                   f"to start, the file was left untouched") from None
            self.highest_round = rest[0] if rest else 0  # a log written before rounds were

    def save(self, records: Sequence[tuple[Ballot, Ballot, str, int]]) -> None:
        self.wal.append([json.dumps([p.round, p.leader_id, b.round, b.leader_id, v, r]).encode()
                         for p, b, v, r in records])

    def close(self) -> None:
        self.wal.close()
