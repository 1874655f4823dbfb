"""What a 2PC node forces to disk, and what it recovers (BHG §7.3's log records).

A participant forces ``Prepared`` (its after-images: the values its writes will install,
and who decides) before it votes YES, so a crash cannot break the promise; ``Committed``
installs them, ``Aborted`` drops them; 3PC adds ``PreCommitted`` (Skeen 1981: forced
before a PRECOMMIT is acknowledged; an in-doubt transaction recovers PRECOMMITTED, which
the termination protocol counts as proof that every vote was YES). A single-shard
transaction commits in one write (``OnePhase``). A coordinator writes ``Started`` once per
life (its transaction ids carry it, so a restarted coordinator never reuses one),
``Collecting`` before asking for votes when it presumes commit, ``Decided`` (forced
before any decision leaves) and ``End`` once every acknowledgement is in.

JSON records on a ``WriteAheadLog``, rewritten to what recovery needs (a ``Snapshot`` of
the committed data and the transactions not yet finished) when it grows.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from protocols.common.errors import StorageError
from protocols.common.fs import FileSystem
from protocols.common.wal import SyncPolicy, WriteAheadLog
from protocols.contract import Storage

__all__ = ["Aborted", "Collecting", "Committed", "Decided", "End", "InDoubt", "OnePhase",
           "PreCommitted", "Prepared", "Recovered", "Snapshot", "Started", "TwoPcStorage",
           "Value"]

Value = int | tuple[int, ...]  # a register's value, or a list's elements
COMPACT_AFTER = 4096


@dataclass(frozen=True, slots=True)
class Prepared:
    txn: str
    coordinator: str
    participants: tuple[str, ...]
    writes: tuple[tuple[str, Value], ...]  # after-images, installed on commit
    reads: tuple[str, ...] = ()  # keys it read (their locks are retaken on recovery)
    ts: int = 0  # its age, for wait-die


@dataclass(frozen=True, slots=True)
class PreCommitted:
    txn: str


@dataclass(frozen=True, slots=True)
class Committed:
    txn: str


@dataclass(frozen=True, slots=True)
class Aborted:
    txn: str


@dataclass(frozen=True, slots=True)
class OnePhase:
    txn: str
    writes: tuple[tuple[str, Value], ...]


@dataclass(frozen=True, slots=True)
class Started:
    life: int


@dataclass(frozen=True, slots=True)
class Collecting:
    txn: str
    participants: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Decided:
    txn: str
    commit: bool
    participants: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class End:
    txn: str


@dataclass(frozen=True, slots=True)
class Snapshot:
    data: tuple[tuple[str, Value], ...]
    # every outcome this participant reached: a peer may still ask (cooperative
    # termination), and one with no record of a transaction would answer "aborted"
    finished: tuple[tuple[str, bool], ...] = ()


@dataclass(slots=True)
class InDoubt:
    """A participant's prepared transaction with no outcome on disk yet."""

    prepared: Prepared
    precommitted: bool = False


@dataclass(slots=True)
class Recovered:
    data: dict[str, Value] = field(default_factory=dict)
    in_doubt: dict[str, InDoubt] = field(default_factory=dict)
    life: int = 0
    collecting: dict[str, tuple[str, ...]] = field(default_factory=dict)  # undecided (PC)
    decided: dict[str, Decided] = field(default_factory=dict)  # not ended
    finished: dict[str, bool] = field(default_factory=dict)  # participant outcomes known

    def apply(self, r: Any) -> None:
        if isinstance(r, Prepared):
            self.in_doubt[r.txn] = InDoubt(r)
        elif isinstance(r, PreCommitted):
            if r.txn in self.in_doubt:
                self.in_doubt[r.txn].precommitted = True
        elif isinstance(r, Committed):
            doubt = self.in_doubt.pop(r.txn, None)
            if doubt is not None:
                self.data.update(doubt.prepared.writes)
            self.finished[r.txn] = True
        elif isinstance(r, Aborted):
            self.in_doubt.pop(r.txn, None)
            self.finished[r.txn] = False
        elif isinstance(r, OnePhase):
            self.data.update(r.writes)
            self.finished[r.txn] = True
        elif isinstance(r, Started):
            self.life = max(self.life, r.life)
        elif isinstance(r, Collecting):
            self.collecting[r.txn] = r.participants
        elif isinstance(r, Decided):
            self.collecting.pop(r.txn, None)
            self.decided[r.txn] = r
        elif isinstance(r, End):
            self.decided.pop(r.txn, None)
        elif isinstance(r, Snapshot):
            self.data = dict(r.data)
            self.finished = dict(r.finished)
        else:
            raise TypeError(f"not a 2PC record: {r!r}")


class TwoPcStorage(Storage):
    def __init__(self, fs: FileSystem, data_dir: str, sync: SyncPolicy) -> None:
        fs.makedirs(data_dir)
        self.path = f"{data_dir}/twopc.wal"
        self.wal, raw = WriteAheadLog.open(fs, self.path, sync=sync)
        self.state = Recovered()
        try:
            for r in raw:
                self.state.apply(decode(r))
        except (ValueError, KeyError, TypeError) as e:
            raise StorageError(f"{self.path}: not a 2PC log ({e}); refusing to start, the "
                               "file was left untouched") from None
        self.records = len(raw)
        self.recovered = Recovered(dict(self.state.data), dict(self.state.in_doubt),
                                   self.state.life, dict(self.state.collecting),
                                   dict(self.state.decided), dict(self.state.finished))

    def save(self, records: Sequence[Any]) -> None:
        for r in records:
            self.state.apply(r)
        self.wal.append([encode(r) for r in records])
        self.records += len(records)
        if self.records > COMPACT_AFTER:
            self._compact()

    def _compact(self) -> None:
        s = self.state
        keep: list[Any] = [Started(s.life), Snapshot(tuple(sorted(s.data.items())),
                                                     tuple(sorted(s.finished.items())))]
        for d in s.in_doubt.values():
            keep.append(d.prepared)
            if d.precommitted:
                keep.append(PreCommitted(d.prepared.txn))
        keep += [Collecting(t, p) for t, p in s.collecting.items()]
        keep += list(s.decided.values())
        self.wal.rewrite([encode(r) for r in keep])
        self.records = len(keep)

    def close(self) -> None:
        self.wal.close()


_TYPES: dict[str, type] = {c.__name__: c for c in (
    Prepared, PreCommitted, Committed, Aborted, OnePhase, Started, Collecting, Decided, End,
    Snapshot)}


def _value(v: Any) -> Value:
    if isinstance(v, bool) or not isinstance(v, (int, list)):
        raise ValueError(f"a value must be an integer or a list of them, got {v!r}")
    return v if isinstance(v, int) else tuple(int(x) for x in v)


def _pairs(raw: Any) -> tuple[tuple[str, Value], ...]:
    return tuple((str(k), _value(v)) for k, v in raw)


def encode(r: Any) -> bytes:
    doc: dict[str, Any] = {"k": type(r).__name__}
    for name in r.__dataclass_fields__:
        v = getattr(r, name)
        doc[name] = [[k, list(x) if isinstance(x, tuple) else x] for k, x in v] \
            if name in ("writes", "data") else list(v) if isinstance(v, tuple) else v
    return json.dumps(doc, sort_keys=True).encode()


def decode(raw: bytes) -> Any:
    doc = json.loads(raw)
    cls = _TYPES[doc.pop("k")]
    for name in ("writes", "data"):
        if name in doc:
            doc[name] = _pairs(doc[name])
    if "finished" in doc:
        doc["finished"] = tuple((str(t), bool(c)) for t, c in doc["finished"])
    for name in ("participants", "reads"):
        if name in doc:
            doc[name] = tuple(str(x) for x in doc[name])
    return cls(**doc)
