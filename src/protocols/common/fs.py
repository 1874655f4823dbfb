"""A tiny file-system interface, so the same storage code runs on a real disk and in the
simulator.

Durable storage (the WAL, snapshots) is written against ``FileSystem``. ``OsFileSystem``
is the real thing: ``os.write`` + ``os.fsync``, directory fsync after a rename.
``protocols.sim.disk.SimFileSystem`` implements the same interface in memory and, on a
simulated crash, throws away every byte that was not fsynced: the fault a real power
cut causes and a real test on a healthy machine never shows.

Paths are plain strings relative to nothing in particular: the OS implementation uses
them as given; the simulator uses them as keys.
"""

from __future__ import annotations

import contextlib
import errno
import os
from typing import Protocol

__all__ = ["FileSystem", "OsFileSystem", "WritableFile"]


class WritableFile(Protocol):
    """An append-only file handle."""

    def write(self, data: bytes) -> None: ...

    def fsync(self) -> None: ...

    def truncate(self, size: int) -> None: ...

    def size(self) -> int: ...

    def close(self) -> None: ...


class FileSystem(Protocol):
    """What storage code may do with files. Nothing else touches the disk."""

    def exists(self, path: str) -> bool: ...

    def read(self, path: str) -> bytes: ...

    def open_append(self, path: str) -> WritableFile: ...

    def write_atomic(self, path: str, data: bytes) -> None:
        """Replace ``path`` with ``data`` durably: temp file, fsync, rename, fsync dir."""
        ...

    def remove(self, path: str) -> None: ...

    def makedirs(self, path: str) -> None: ...

    def listdir(self, path: str) -> list[str]: ...


class _OsFile:
    def __init__(self, path: str) -> None:
        self._path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)

    def write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:  # os.write may write less than asked
            n = os.write(self._fd, view)
            view = view[n:]

    def fsync(self) -> None:
        os.fsync(self._fd)

    def truncate(self, size: int) -> None:
        os.ftruncate(self._fd, size)
        os.fsync(self._fd)

    def size(self) -> int:
        return os.fstat(self._fd).st_size

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class OsFileSystem:
    """The real disk. Every durability promise ends in ``os.fsync``."""

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def read(self, path: str) -> bytes:
        with open(path, "rb") as f:
            return f.read()

    def open_append(self, path: str) -> WritableFile:
        return _OsFile(path)

    def write_atomic(self, path: str, data: bytes) -> None:
        tmp = f"{path}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        _fsync_dir(os.path.dirname(path) or ".")

    def remove(self, path: str) -> None:
        try:
            os.remove(path)
        except FileNotFoundError:
            return
        _fsync_dir(os.path.dirname(path) or ".")

    def makedirs(self, path: str) -> None:
        """Create ``path`` and missing parents durably: each new directory's entry is
        fsynced in its parent, so a crash cannot lose the directory a WAL lives in."""
        missing: list[str] = []
        head = os.path.abspath(path)
        while not os.path.isdir(head):
            missing.append(head)
            head = os.path.dirname(head)
        for directory in reversed(missing):
            with contextlib.suppress(FileExistsError):  # another process made it meanwhile
                os.mkdir(directory)
            _fsync_dir(os.path.dirname(directory))

    def listdir(self, path: str) -> list[str]:
        return sorted(os.listdir(path))


def _fsync_dir(path: str) -> None:
    """Make a rename or unlink in ``path`` durable (POSIX needs the directory fsynced)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    except OSError as e:  # some file systems refuse fsync on directories
        if e.errno not in (errno.EINVAL, errno.EBADF):
            raise
    finally:
        os.close(fd)
