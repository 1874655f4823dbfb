"""Causal broadcast's durable state: the member's deliveries and its unstable own
broadcasts, as JSON records on a write-ahead log (``protocols.common.wal``)."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from protocols.causal.core import (
    DeliveredRecord,
    Delivery,
    OwnMessage,
    Recovered,
    Stable,
)
from protocols.causal.messages import CausalMessage
from protocols.common.errors import StorageError
from protocols.common.fs import FileSystem
from protocols.common.latest import COMPACT_AFTER
from protocols.common.wal import SyncPolicy, WriteAheadLog
from protocols.contract import Storage

__all__ = ["CausalStorage"]


class CausalStorage(Storage):
    """The member's deliveries, in order, each write closed by a ``DeliveredRecord`` (its
    sequence number and delivered vector); its own broadcasts until they are ``Stable``.
    JSON records on a WAL, rewritten to what is still needed when it grows: the latest
    record, the deliveries of the write it closed, the unstable own broadcasts."""

    def __init__(self, fs: FileSystem, data_dir: str, sync: SyncPolicy) -> None:
        fs.makedirs(data_dir)
        self.path = f"{data_dir}/causal.wal"
        self.wal, records = WriteAheadLog.open(fs, self.path, sync=sync)
        self.delivered = DeliveredRecord(0, {})
        self.unstable: dict[int, CausalMessage] = {}
        self.since_record: list[CausalMessage] = []  # deliveries no record closed yet
        self.last_write: list[CausalMessage] = []  # the deliveries the latest record closed
        try:
            for raw in records:
                self._apply(_decode(raw))
        except (ValueError, KeyError, TypeError) as e:
            raise StorageError(f"{self.path}: not a causal-broadcast log ({e}); refusing "
                               f"to start, the file was left untouched") from None
        self.records = len(records)
        if self.since_record:  # a write cut short: no record closed its deliveries, so
            self.since_record = []  # they never happened (they come again by resend);
            self._compact()  # drop them, or the next record would close them
        self.recovered = Recovered(self.delivered, list(self.unstable.values()),
                                   list(self.last_write)) if records else None

    def _apply(self, r: Any) -> None:
        if isinstance(r, DeliveredRecord):
            self.delivered, self.last_write, self.since_record = r, self.since_record, []
        elif isinstance(r, OwnMessage):
            self.unstable[r.message.seq] = r.message
            self.since_record.append(r.message)
        elif isinstance(r, Delivery):
            self.since_record.append(r.message)
        elif isinstance(r, _Kept):
            self.unstable[r.message.seq] = r.message
        elif isinstance(r, Stable):
            self.unstable = {s: m for s, m in self.unstable.items() if s > r.upto}

    def save(self, records: Sequence[Any]) -> None:
        for r in records:
            self._apply(r)
        if self.records + len(records) > COMPACT_AFTER + 2 * len(self.unstable) \
                + 2 * len(self.last_write):
            self._compact()
        else:
            self.wal.append([_encode(r) for r in records])
            self.records += len(records)

    def _compact(self) -> None:
        """Rewrite the log to what recovery needs: the last write's deliveries and the
        record that closed them, then our unstable broadcasts."""
        keep = [*(Delivery(m) for m in self.last_write), self.delivered,
                *(_Kept(m) for m in self.unstable.values())]
        self.wal.rewrite([_encode(r) for r in keep])
        self.records = len(keep)

    def close(self) -> None:
        self.wal.close()


@dataclass(frozen=True, slots=True)
class _Kept:
    """An unstable own broadcast as compaction rewrites it: kept, but no write's delivery."""

    message: CausalMessage


_KINDS = {OwnMessage: "m", Delivery: "r", _Kept: "u"}


def _encode(r: Any) -> bytes:
    if isinstance(r, DeliveredRecord):
        doc: dict[str, Any] = {"k": "d", "seq": r.seq, "delivered": dict(r.prefix)}
    elif isinstance(r, (OwnMessage, Delivery, _Kept)):
        m = r.message
        doc = {"k": _KINDS[type(r)], "seq": m.seq,
               "origin": m.origin, "clock": dict(m.clock),
               "payload": base64.b64encode(m.payload).decode()}
    else:
        doc = {"k": "s", "upto": r.upto}
    return json.dumps(doc, sort_keys=True).encode()


def _decode(raw: bytes) -> Any:
    d = json.loads(raw)
    if d["k"] == "d":
        return DeliveredRecord(int(d["seq"]), {str(k): int(v) for k, v in
                                               d["delivered"].items()})
    if d["k"] in ("m", "r", "u"):
        m = CausalMessage(str(d["origin"]), int(d["seq"]),
                          {str(k): int(v) for k, v in d["clock"].items()},
                          base64.b64decode(d["payload"]))
        return {"m": OwnMessage, "r": Delivery, "u": _Kept}[d["k"]](m)
    if d["k"] == "s":
        return Stable(int(d["upto"]))
    raise ValueError(f"unknown record kind {d['k']!r}")
