"""A simulated disk: the ``FileSystem`` interface in memory, with fsync boundaries.

Each file keeps the bytes that are *durable* (fsynced) apart from those only written.
A running process sees both. ``crash()`` — a power cut — throws away every byte that
was not fsynced, optionally keeping a prefix of them (a torn write: a random one, or one
of a chosen length), exactly the fault that ``protocols.common.wal`` must survive. While
``fsyncs_held()`` is in force an fsync makes nothing durable: a write whose fsync had not
returned when the power went, so a crash then may keep any prefix of a whole batch (the
WAL keeps every complete record of it). Storage code runs unchanged on this and on
``OsFileSystem``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field

__all__ = ["SimFile", "SimFileSystem"]


@dataclass(slots=True)
class SimFile:
    durable: bytearray = field(default_factory=bytearray)
    pending: bytearray = field(default_factory=bytearray)  # written, not yet fsynced

    def content(self) -> bytes:
        return bytes(self.durable + self.pending)


class _Handle:
    def __init__(self, fs: SimFileSystem, path: str) -> None:
        self._fs = fs
        self._path = path
        self._closed = False

    def _file(self) -> SimFile:
        if self._closed:
            raise ValueError(f"{self._path}: write to a closed file")
        f = self._fs.files.get(self._path)
        if f is None:
            f = self._fs.files[self._path] = SimFile()
        return f

    def write(self, data: bytes) -> None:
        self._file().pending += data
        self._fs.writes += 1

    def fsync(self) -> None:
        f = self._file()
        self._fs.fsyncs += 1
        if self._fs.held:
            return  # under way when the power goes: nothing is durable yet
        f.durable += f.pending
        f.pending.clear()

    def truncate(self, size: int) -> None:
        f = self._file()
        whole = f.content()[:size]
        f.durable, f.pending = bytearray(whole), bytearray()

    def size(self) -> int:
        return len(self._file().content())

    def close(self) -> None:
        self._closed = True


class SimFileSystem:
    """One node's disk. Paths are keys; directories are implicit."""

    def __init__(self) -> None:
        self.files: dict[str, SimFile] = {}
        self.writes = 0
        self.fsyncs = 0
        self.held = False  # fsyncs make nothing durable (see fsyncs_held)

    @contextmanager
    def fsyncs_held(self) -> Iterator[None]:
        """Writes made inside reach the page cache only: their fsyncs have not returned
        when the next ``crash()`` comes (a write in flight at a power cut)."""
        self.held = True
        try:
            yield
        finally:
            self.held = False

    def exists(self, path: str) -> bool:
        return path in self.files or any(p.startswith(path.rstrip("/") + "/")
                                         for p in self.files)

    def read(self, path: str) -> bytes:
        f = self.files.get(path)
        if f is None:
            raise FileNotFoundError(path)
        return f.content()

    def open_append(self, path: str) -> _Handle:
        self.files.setdefault(path, SimFile())
        return _Handle(self, path)

    def write_atomic(self, path: str, data: bytes) -> None:
        self.files[path] = SimFile(bytearray(data))  # temp + fsync + rename + dir fsync

    def remove(self, path: str) -> None:
        self.files.pop(path, None)

    def makedirs(self, path: str) -> None:
        return None

    def listdir(self, path: str) -> list[str]:
        prefix = path.rstrip("/") + "/"
        return sorted({p[len(prefix):].split("/")[0] for p in self.files if p.startswith(prefix)})

    def crash(self, rng: random.Random | None = None, torn: bool = False,
              keep: Mapping[str, int] | None = None) -> int:
        """Lose every unsynced byte: keep a random prefix of them if ``torn``, or the
        first ``keep[path]`` of a file's. Returns how many bytes were lost."""
        lost = 0
        for path in sorted(self.files):
            f = self.files[path]
            if keep is not None and path in keep:
                if not 0 <= keep[path] <= len(f.pending):
                    raise ValueError(f"{path}: cannot keep {keep[path]} of "
                                     f"{len(f.pending)} unsynced bytes")
                kept = keep[path]
            else:
                kept = rng.randrange(len(f.pending) + 1) if torn and rng and f.pending else 0
            lost += len(f.pending) - kept
            f.durable += f.pending[:kept]
            f.pending.clear()
        return lost
