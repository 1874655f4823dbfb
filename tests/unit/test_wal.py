"""The write-ahead log: round trip, torn tails truncated, corruption refused, fsync real."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.common.errors import CorruptLogError
from protocols.common.fs import OsFileSystem
from protocols.common.wal import MAGIC, SyncPolicy, WriteAheadLog

FS = OsFileSystem()
RECORDS = [b"first", b"", b"x" * 70_000, b"\x00\xff" * 10, b"last record"]


def open_log(path: Path, **kw: object) -> tuple[WriteAheadLog, list[bytes]]:
    return WriteAheadLog.open(FS, str(path), **kw)  # type: ignore[arg-type]


def test_round_trip_and_append_after_reopen(tmp_path: Path) -> None:
    path = tmp_path / "wal"
    wal, records = open_log(path)
    assert records == []
    wal.append(RECORDS[:2])
    wal.append(RECORDS[2:])
    wal.close()
    wal, records = open_log(path)
    assert records == RECORDS and wal.recovery.truncated_bytes == 0
    wal.append([b"more"])
    wal.close()
    assert open_log(path)[1] == [*RECORDS, b"more"]


def test_torn_tail_at_every_offset_is_truncated(tmp_path: Path) -> None:
    path = tmp_path / "wal"
    wal, _ = open_log(path)
    wal.append([b"alpha", b"beta"])
    good_size = wal.size_bytes
    wal.append([b"gamma-the-last-record"])
    wal.close()
    full = path.read_bytes()
    for cut in range(good_size, len(full)):
        path.write_bytes(full[:cut])
        wal, records = open_log(path)
        assert records == [b"alpha", b"beta"], cut
        assert wal.recovery.truncated_bytes == cut - good_size
        wal.append([b"after"])  # the log is usable again after the cut
        wal.close()
        assert open_log(path)[1] == [b"alpha", b"beta", b"after"]
        assert path.stat().st_size == good_size + 8 + len(b"after")


def test_torn_tail_with_bad_checksum_is_truncated(tmp_path: Path) -> None:
    path = tmp_path / "wal"
    wal, _ = open_log(path)
    wal.append([b"keep", b"torn!"])
    wal.close()
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF  # the last record's payload no longer matches its CRC
    path.write_bytes(bytes(data))
    assert open_log(path)[1] == [b"keep"]


def test_corrupt_middle_record_is_refused_and_file_untouched(tmp_path: Path) -> None:
    path = tmp_path / "wal"
    wal, _ = open_log(path)
    wal.append([b"one", b"two-two-two", b"three"])
    wal.close()
    data = bytearray(path.read_bytes())
    second = len(MAGIC) + 8 + 3  # offset of the second frame
    data[second + 8 + 2] ^= 0x01  # flip one bit in "two-two-two"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptLogError) as err:
        open_log(path)
    assert err.value.offset == second and err.value.path == str(path)
    assert "valid record follows" in str(err.value) and "Refusing to start" in str(err.value)
    assert path.read_bytes() == bytes(data), "a refused log must not be modified"


def test_log_torn_while_being_created_starts_afresh(tmp_path: Path) -> None:
    path = tmp_path / "wal"
    path.write_bytes(MAGIC[:3])
    wal, records = open_log(path)
    assert records == []
    wal.append([b"x"])
    wal.close()
    assert open_log(path)[1] == [b"x"]


def test_wrong_header_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "wal"
    path.write_bytes(b"hello, I am a text file\n")
    with pytest.raises(CorruptLogError, match="bad header"):
        open_log(path)


def test_fsync_is_called_once_per_batch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        calls.append(fd)
        real_fsync(fd)

    wal, _ = open_log(tmp_path / "wal")
    monkeypatch.setattr(os, "fsync", counting_fsync)
    wal.append([b"a", b"b", b"c"])
    assert len(calls) == 1
    wal.append([b"d"])
    assert len(calls) == 2
    wal.close()
    unsafe, _ = open_log(tmp_path / "nosync", sync=SyncPolicy.NEVER)
    before = len(calls)
    unsafe.append([b"a"] * 10)
    assert len(calls) == before
    unsafe.close()


def test_rewrite_is_atomic_and_a_leftover_tmp_is_harmless(tmp_path: Path) -> None:
    path = tmp_path / "wal"
    wal, _ = open_log(path)
    wal.append([b"old1", b"old2", b"old3"])
    wal.rewrite([b"snapshot-base"])
    wal.append([b"new"])
    wal.close()
    (tmp_path / "wal.tmp").write_bytes(b"half a rewrite from a crash")
    assert open_log(path)[1] == [b"snapshot-base", b"new"]


@settings(max_examples=60, deadline=None)
@given(records=st.lists(st.binary(max_size=300), max_size=12), cut=st.integers(min_value=0))
def test_any_truncation_recovers_a_prefix(tmp_path_factory: pytest.TempPathFactory,
                                          records: list[bytes], cut: int) -> None:
    path = tmp_path_factory.mktemp("wal") / "wal"
    wal, _ = open_log(path)
    wal.append(records)
    wal.close()
    full = path.read_bytes()
    path.write_bytes(full[: cut % (len(full) + 1)])
    _, recovered = open_log(path)
    assert recovered == records[: len(recovered)]
