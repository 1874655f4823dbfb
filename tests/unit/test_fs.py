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
