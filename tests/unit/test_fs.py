"""OsFileSystem's durability promises: write_atomic fsyncs the file, then the directory."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from protocols.common.fs import OsFileSystem


def test_write_atomic_replaces_fsyncs_file_then_directory(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "state"
    path.write_bytes(b"old")
    (tmp_path / "state.tmp").write_bytes(b"leftover from a crash mid-rewrite")
    synced: list[str] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    OsFileSystem().write_atomic(str(path), b"new contents")
    assert synced == [str(tmp_path / "state.tmp"), str(tmp_path)]
    assert path.read_bytes() == b"new contents"
    assert sorted(os.listdir(tmp_path)) == ["state"], "the temp file is renamed, not left"


def test_truncate_fsyncs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "log"
    f = OsFileSystem().open_append(str(path))
    f.write(b"0123456789")
    calls: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        calls.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    f.truncate(4)
    assert calls and f.size() == 4 and path.read_bytes() == b"0123"
    f.write(b"ab")  # O_APPEND writes at the new end
    f.close()
    assert path.read_bytes() == b"0123ab"


def test_makedirs_fsyncs_every_new_directory_in_its_parent(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue #19: the data directory is made durable; a crash right after start cannot
    lose the directory the WAL lives in."""
    synced: list[str] = []
    real_fsync, real_open = os.fsync, os.open
    opened: dict[int, str] = {}

    def track_open(path: str, flags: int, *args: int) -> int:
        fd = real_open(path, flags, *args)
        opened[fd] = str(path)
        return fd

    def track_fsync(fd: int) -> None:
        synced.append(opened.get(fd, "?"))
        real_fsync(fd)

    monkeypatch.setattr(os, "open", track_open)
    monkeypatch.setattr(os, "fsync", track_fsync)
    OsFileSystem().makedirs(str(tmp_path / "a" / "b"))
    assert (tmp_path / "a" / "b").is_dir()
    assert synced == [str(tmp_path), str(tmp_path / "a")]
    synced.clear()
    OsFileSystem().makedirs(str(tmp_path / "a" / "b"))  # already there: nothing to do
    assert synced == []
