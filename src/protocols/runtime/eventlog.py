"""A node's event log, for space-time diagrams (``protocols.check.spacetime``, ShiViz).

With the cluster's ``event_log`` on, the shared shell stamps every peer message it sends
with the node's vector clock (Fidge/Mattern: tick, then send; on receipt, merge, then
tick) and a message id, and writes one JSON line per event to ``events.<node>.jsonl``:
``send`` and ``recv`` (paired by ``mid``), ``state`` (role or epoch changed), ``start``
and ``stop``, and ``note`` (a line of the core's trace: what a checker on processes
reads, e.g. txnkv's record transitions). Times are wall-clock seconds (``time.time()``),
the clock the nemesis log and client histories use on the same machine. Lines are
buffered and flushed every ``flush_s`` and on close, so the cost per message is a dict
and a ``json.dumps``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import IO, Any

__all__ = ["EventLog"]


class EventLog:
    def __init__(self, node: str, path: str, flush_s: float = 0.2) -> None:
        self.node = node
        self.clock: dict[str, int] = {}
        self.sent = 0
        # message ids must not repeat across the node's lives (a restart starts at 0)
        self.life = f"{int(time.time() * 1000) % 10**10:x}"
        self.flush_s = flush_s
        self._file: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115 (kept open)
        self._lines: list[str] = []
        self._flushed_at = time.monotonic()
        self._state: tuple[str, int] | None = None
        self._write({"kind": "start"})

    def _tick(self) -> dict[str, int]:
        self.clock[self.node] = self.clock.get(self.node, 0) + 1
        return dict(self.clock)

    def _write(self, event: dict[str, Any]) -> None:
        event["t"] = time.time()
        event["node"] = self.node
        self._lines.append(json.dumps(event, separators=(",", ":")))

    def send(self, peer: str, msg: str) -> tuple[str, dict[str, int]]:
        """A message leaves for ``peer``: its id and the clock to stamp it with."""
        self.sent += 1
        mid = f"{self.node}.{self.life}:{self.sent}"
        clock = self._tick()
        self._write({"kind": "send", "peer": peer, "msg": msg, "mid": mid, "vc": clock})
        return mid, clock

    def recv(self, peer: str, msg: str, mid: str, clock: Mapping[str, int]) -> None:
        """A stamped message from ``peer`` arrived (unstamped ones are not logged)."""
        if not mid:
            return
        for node, count in clock.items():
            if count > self.clock.get(node, 0):
                self.clock[node] = count
        self._write({"kind": "recv", "peer": peer, "msg": msg, "mid": mid,
                     "vc": self._tick()})

    def state(self, role: str, epoch: int) -> None:
        """Log the node's role and epoch when they changed."""
        if self._state != (role, epoch):
            self._state = (role, epoch)
            self._write({"kind": "state", "role": role, "epoch": epoch})

    def note(self, text: str) -> None:
        """A line of the core's trace (``Ready.trace``)."""
        self._write({"kind": "note", "text": text})

    def maybe_flush(self) -> None:
        if time.monotonic() - self._flushed_at >= self.flush_s:
            self.flush()

    def flush(self) -> None:
        if self._lines:
            self._file.write("\n".join(self._lines) + "\n")
            self._lines.clear()
            self._file.flush()
        self._flushed_at = time.monotonic()

    def close(self) -> None:
        self._write({"kind": "stop"})
        self.flush()
        self._file.close()
