"""The write-ahead log on the real disk: round trip, torn tails truncated, corruption
refused (file untouched), fsync really called, rewrite atomic, failures fail-stop."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.common.errors import CorruptLogError, StorageError
from protocols.common.fs import FileSystem, OsFileSystem, WritableFile
from protocols.common.wal import MAGIC, SyncPolicy, UnreadableLogError, WriteAheadLog

FS = OsFileSystem()
RECORDS = [b"first", b"", b"x" * 70_000, b"\x00\xff" * 10, b"last record"]


def open_log(path: Path, sync: SyncPolicy = SyncPolicy.ALWAYS, max_record_bytes: int = 64 << 20,
             fs: FileSystem = FS) -> tuple[WriteAheadLog, list[bytes]]:
    return WriteAheadLog.open(fs, str(path), sync=sync, max_record_bytes=max_record_bytes)


def frame(payload: bytes) -> bytes:
    return struct.pack("<II", len(payload), zlib.crc32(payload)) + payload


def test_round_trip_and_append_after_reopen(tmp_path: Path) -> None:
    path = tmp_path / "wal"
    wal, records = open_log(path)
    assert records == [] and path.read_bytes() == MAGIC
    wal.append(RECORDS[:2])
    wal.append(RECORDS[2:])
    assert wal.size_bytes == path.stat().st_size == len(MAGIC) + sum(8 + len(r) for r in RECORDS)
    wal.close()
    wal, records = open_log(path)
    assert records == RECORDS and wal.recovery.truncated_bytes == 0
    assert wal.recovery.records == len(RECORDS)
    wal.append([b"more"])
    wal.close()
    assert open_log(path)[1] == [*RECORDS, b"more"]


def test_append_around_keeps_the_cores_order_and_fsyncs_once_per_run(tmp_path: Path) -> None:
    """Records before a snapshot are durable before it is written, and those after it
    only after: one write and one fsync per run between snapshots."""
    path = tmp_path / "wal"
    wal, _ = open_log(path)
    seen: list[tuple[int, int, int]] = []

    def aside(snapshot: int) -> None:  # what is on disk when the snapshot is written
        seen.append((snapshot, wal.fsyncs, path.stat().st_size - len(MAGIC)))

    wal.append_around([b"a", b"b", 1, b"c", 2, 3], bytes, int, aside)
    assert seen == [(1, 1, 2 * 9), (2, 2, 3 * 9), (3, 2, 3 * 9)]  # 9 bytes a framed record
    wal.close()
    assert wal.fsyncs == 2 and open_log(path)[1] == [b"a", b"b", b"c"]


def test_many_records_and_the_on_disk_format(tmp_path: Path) -> None:
    path = tmp_path / "wal"
    many = [i.to_bytes(4, "little") * (i % 7) for i in range(2_000)]
    wal, _ = open_log(path)
    wal.append(many[:1_000])
    wal.append(many[1_000:])
    wal.close()
    assert path.read_bytes() == MAGIC + b"".join(frame(r) for r in many)
    assert open_log(path)[1] == many


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
        assert path.stat().st_size == good_size, f"torn tail not cut at {cut}"
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
    wal, records = open_log(path)
    assert records == [b"keep"] and wal.recovery.truncated_bytes == 8 + 5


def test_zero_filled_tail_is_truncated(tmp_path: Path) -> None:
    """A crash can leave zeroed blocks after the last write (allocated, never written)."""
    path = tmp_path / "wal"
    wal, _ = open_log(path)
    wal.append([b"keep"])
    wal.close()
    with path.open("ab") as f:
        f.write(b"\x07\x00\x00\x00" + b"\x00" * 4096)  # a frame header, then zeros
    assert open_log(path)[1] == [b"keep"]


def corrupt_second_of_three(path: Path, at: int) -> tuple[int, bytes]:
    wal, _ = open_log(path)
    wal.append([b"one", b"two-two-two", b"three"])
    wal.close()
    data = bytearray(path.read_bytes())
    second = len(MAGIC) + 8 + 3  # offset of the second frame
    data[second + at] ^= 0x01
    path.write_bytes(bytes(data))
    return second, bytes(data)


@pytest.mark.parametrize("at", [0, 3, 4, 8 + 2], ids=["length", "length-high", "crc", "payload"])
def test_corrupt_middle_record_is_refused_and_file_untouched(tmp_path: Path, at: int) -> None:
    path = tmp_path / "wal"
    second, data = corrupt_second_of_three(path, at)
    with pytest.raises(CorruptLogError) as err:
        open_log(path)
    assert err.value.offset == second and err.value.path == str(path)
    assert "valid record follows" in str(err.value) and "Refusing to start" in str(err.value)
    assert path.read_bytes() == data, "a refused log must not be modified"


def test_log_torn_while_being_created_starts_afresh(tmp_path: Path) -> None:
    path = tmp_path / "wal"
    path.write_bytes(MAGIC[:3])
    wal, records = open_log(path)
    assert records == [] and wal.recovery.truncated_bytes == 3
    wal.append([b"x"])
    wal.close()
    assert open_log(path)[1] == [b"x"]


@pytest.mark.parametrize("content, reason", [
    (b"hello, I am a text file\n", "not a write-ahead log"),
    (MAGIC[:4] + b"\x07\x00\r\n" + frame(b"r"), "format version 7, this code reads version 1"),
    (b"PWAX", "not a write-ahead log"),  # short, and not a prefix of the header
])
def test_wrong_header_is_refused(tmp_path: Path, content: bytes, reason: str) -> None:
    path = tmp_path / "wal"
    path.write_bytes(content)
    with pytest.raises(UnreadableLogError, match="bad header") as err:
        open_log(path)
    assert reason in str(err.value) and str(path) in str(err.value)
    assert isinstance(err.value, StorageError)
    assert path.read_bytes() == content


def test_record_over_the_limit(tmp_path: Path) -> None:
    path = tmp_path / "wal"
    wal, _ = open_log(path, max_record_bytes=100)
    wal.append([b"ok"])
    with pytest.raises(StorageError, match="exceeds the limit"):
        wal.append([b"fine", b"y" * 101])
    wal.append([b"y" * 100])  # nothing of the refused batch was written
    wal.close()
    assert open_log(path)[1] == [b"ok", b"y" * 100]
    # a complete, checksummed record is never cut off as "torn" for being over the limit
    before = path.read_bytes()
    with pytest.raises(UnreadableLogError, match="max_record_bytes=50"):
        open_log(path, max_record_bytes=50)
    assert path.read_bytes() == before


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
    assert len(calls) == 2 and wal.fsyncs == 2
    wal.append([])  # nothing to make durable
    assert len(calls) == 2
    wal.close()
    unsafe, _ = open_log(tmp_path / "nosync", sync=SyncPolicy.NEVER)
    before = len(calls)
    unsafe.append([b"a"] * 10)
    unsafe.append([b"b"])
    assert len(calls) == before
    unsafe.close()


def test_rewrite_is_atomic_durable_and_a_leftover_tmp_is_harmless(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "wal"
    wal, _ = open_log(path)
    wal.append([b"old1", b"old2", b"old3"])
    synced_dirs: list[bool] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced_dirs.append(os.path.isdir(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    wal.rewrite([b"snapshot-base"])
    assert synced_dirs == [False, True], "rewrite must fsync the new file, then the directory"
    monkeypatch.undo()
    assert wal.size_bytes == path.stat().st_size
    wal.append([b"new"])  # goes to the new file, not the replaced inode
    wal.close()
    assert sorted(os.listdir(tmp_path)) == ["wal"]
    (tmp_path / "wal.tmp").write_bytes(b"half a rewrite from a crash")
    wal, records = open_log(path)
    assert records == [b"snapshot-base", b"new"]
    wal.rewrite([])
    wal.close()
    assert open_log(path)[1] == []


class FailingFile:
    """Fault injection: writes half of the data, then fails like a full disk."""

    def __init__(self, inner: WritableFile) -> None:
        self.inner = inner

    def write(self, data: bytes) -> None:
        self.inner.write(data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    def fsync(self) -> None:
        self.inner.fsync()

    def truncate(self, size: int) -> None:
        self.inner.truncate(size)

    def size(self) -> int:
        return self.inner.size()

    def close(self) -> None:
        self.inner.close()


class FullDisk(OsFileSystem):
    def __init__(self) -> None:
        self.full = False

    def open_append(self, path: str) -> WritableFile:
        inner = super().open_append(path)
        return FailingFile(inner) if self.full else inner


def test_failed_write_stops_the_log_and_reopen_recovers(tmp_path: Path) -> None:
    path, fs = tmp_path / "wal", FullDisk()
    wal, _ = open_log(path, fs=fs)
    wal.append([b"durable"])
    wal.close()
    fs.full = True
    wal, _ = open_log(path, fs=fs)
    with pytest.raises(OSError, match="No space"):
        wal.append([b"half-written"])
    with pytest.raises(StorageError, match="failed earlier"):  # never write after garbage
        wal.append([b"next"])
    fs.full = False
    wal, records = open_log(path, fs=fs)
    assert records == [b"durable"] and wal.recovery.truncated_bytes > 0
    wal.close()


def test_pathological_tail_scan_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every 4th offset of this tail reads as a 64 KiB length that fits: unbounded, deciding
    "torn or corrupt" would CRC ~16 GB. The scan gives up (refusing, file untouched)."""
    path = tmp_path / "wal"
    content = MAGIC + frame(b"ok") + b"\x00\x00\x01\x00" * (1 << 18)
    path.write_bytes(content)
    crc_bytes = 0
    real_crc32 = zlib.crc32

    def counting_crc32(data: bytes, value: int = 0) -> int:
        nonlocal crc_bytes
        crc_bytes += len(data)
        return real_crc32(data, value)

    monkeypatch.setattr(zlib, "crc32", counting_crc32)
    with pytest.raises(UnreadableLogError, match="scan budget"):
        open_log(path)
    assert crc_bytes <= (64 << 20) + (1 << 17), crc_bytes
    assert path.read_bytes() == content


@settings(max_examples=60, deadline=None, print_blob=True)
@given(records=st.lists(st.binary(max_size=300), max_size=12), cut=st.integers(min_value=0))
def test_any_truncation_recovers_exactly_the_complete_records(
        tmp_path_factory: pytest.TempPathFactory, records: list[bytes], cut: int) -> None:
    """Hypothesis prints the failing example; replay with --hypothesis-seed."""
    path = tmp_path_factory.mktemp("wal") / "wal"
    wal, _ = open_log(path)
    wal.append(records)
    wal.close()
    full = path.read_bytes()
    cut %= len(full) + 1
    path.write_bytes(full[:cut])
    ends = [len(MAGIC) + sum(8 + len(r) for r in records[: i + 1]) for i in range(len(records))]
    complete = sum(1 for end in ends if end <= cut)
    wal, recovered = open_log(path)
    assert recovered == records[:complete]
    wal.append([b"after"])
    wal.close()
    assert open_log(path)[1] == [*records[:complete], b"after"]
