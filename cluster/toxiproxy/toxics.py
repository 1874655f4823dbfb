"""Toxics: what a proxy does to the bytes of one direction of a connection.

Toxiproxy (v2.12, toxics/*.go) runs each toxic as a goroutine between channels of
timestamped chunks. Here a toxic is a small synchronous state machine on the same
chunks: ``on_chunk`` turns one chunk into zero or more chunks, each carrying the time
before which it must not be written (``not_before``). The link's writer waits for that
time and writes in order. That keeps Toxiproxy's semantics — latency is
``arrival + latency ± jitter`` and chunks are *pipelined*, so latency does not reduce
bandwidth; chained latencies add up; bandwidth delays grow by ``len/rate`` — without a
task per toxic per connection.

Toxics that end a connection (timeout, reset_peer, limit_data) return an ``Action``.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field
from typing import Any, ClassVar

from cluster.toxiproxy.gojson import Float32

__all__ = [
    "TOXIC_TYPES",
    "Action",
    "Chunk",
    "Toxic",
    "ToxicError",
    "ToxicRuntime",
    "new_runtime",
]


class ToxicError(ValueError):
    """An invalid toxic attribute (a 400 for the API)."""


@dataclass(slots=True)
class Chunk:
    data: bytes
    not_before: float  # loop time before which the writer must not write it


class Action(enum.Enum):
    CLOSE = "close"  # close both sides of the connection (FIN)
    RESET = "reset"  # close both sides with RST where linger 0 was set at accept


@dataclass(slots=True)
class Toxic:
    """A toxic as the API sees it (``stream`` kept exactly as sent, see reference §3)."""

    name: str
    type: str
    stream: str
    toxicity: float
    attributes: dict[str, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "attributes": dict(self.attributes),
            "name": self.name,
            "type": self.type,
            "stream": self.stream,
            "toxicity": Float32(self.toxicity),  # Go's float32: 1 is "1", 0.2 is "0.2"
        }

    @property
    def direction(self) -> str:
        return self.stream.lower()


# type -> (attribute names in echo order)
TOXIC_TYPES: dict[str, tuple[str, ...]] = {
    "noop": (),
    "latency": ("latency", "jitter"),
    "bandwidth": ("rate",),
    "slow_close": ("delay",),
    "timeout": ("timeout",),
    "reset_peer": ("timeout",),
    "slicer": ("average_size", "size_variation", "delay"),
    "limit_data": ("bytes",),
}


def validate_attributes(type_: str, attributes: dict[str, int]) -> None:
    """Reject what crashes the Go server, and negative values (reference §9)."""
    for key, value in attributes.items():
        if value < 0:
            raise ToxicError(f"attribute {key} of a {type_} toxic must be >= 0, got {value}")
    if type_ == "bandwidth" and attributes["rate"] <= 0:
        raise ToxicError("bandwidth rate must be > 0 KB/s (0 would stall the stream forever)")
    if type_ == "slicer":
        avg, var = attributes["average_size"], attributes["size_variation"]
        if avg < 1:
            raise ToxicError("slicer average_size must be >= 1 byte")
        if var >= avg:
            raise ToxicError("slicer size_variation must be smaller than average_size")


@dataclass(slots=True)
class ToxicRuntime:
    """One toxic running on one link (one connection, one direction)."""

    toxic: Toxic
    active: bool  # the toxicity draw for this link
    kind: ClassVar[str] = "noop"
    rng: random.Random = field(default_factory=random.Random)

    def on_chunk(self, chunk: Chunk, now: float) -> list[Chunk] | Action:
        return [chunk]

    def on_eof(self, now: float) -> tuple[float, Action | None]:
        """Called at EOF of the source: (delay before closing, action)."""
        return 0.0, None

    def restart(self, toxic: Toxic, active: bool) -> None:
        self.toxic, self.active = toxic, active

    def attr(self, name: str) -> int:
        return self.toxic.attributes.get(name, 0)


@dataclass(slots=True)
class LatencyRuntime(ToxicRuntime):
    kind: ClassVar[str] = "latency"

    def on_chunk(self, chunk: Chunk, now: float) -> list[Chunk] | Action:
        jitter = self.attr("jitter")
        delay_ms = self.attr("latency") + (self.rng.uniform(-jitter, jitter) if jitter else 0)
        chunk.not_before += max(0.0, delay_ms) / 1000.0
        return [chunk]


@dataclass(slots=True)
class BandwidthRuntime(ToxicRuntime):
    """rate KB/s, 1 KB = 1000 B; pieces of rate*100 bytes every 100 ms (bandwidth.go)."""

    kind: ClassVar[str] = "bandwidth"
    clock: float = 0.0

    def on_chunk(self, chunk: Chunk, now: float) -> list[Chunk] | Action:
        rate = max(1, self.attr("rate"))
        self.clock = max(self.clock, chunk.not_before, now)
        out: list[Chunk] = []
        piece = rate * 100
        data = chunk.data
        while len(data) > piece:
            self.clock += 0.1
            out.append(Chunk(data[:piece], self.clock))
            data = data[piece:]
        self.clock += len(data) / rate / 1000.0
        out.append(Chunk(data, self.clock))
        return out


@dataclass(slots=True)
class SlicerRuntime(ToxicRuntime):
    kind: ClassVar[str] = "slicer"

    def on_chunk(self, chunk: Chunk, now: float) -> list[Chunk] | Action:
        pieces: list[bytes] = []
        self._split(chunk.data, pieces)
        delay_s = self.attr("delay") / 1_000_000.0
        t = chunk.not_before
        out = []
        for i, piece in enumerate(pieces):
            out.append(Chunk(piece, t + i * delay_s))
        return out

    def _split(self, data: bytes, out: list[bytes]) -> None:
        avg, var = self.attr("average_size"), self.attr("size_variation")
        stack = [data]
        while stack:  # depth-first, left piece first, like the recursive Go version
            part = stack.pop()
            if len(part) <= avg + var:
                out.append(part)
                continue
            mid = len(part) // 2
            if var:
                mid += self.rng.randrange(-var, var)
            mid = min(max(mid, 1), len(part) - 1)
            stack.append(part[mid:])
            stack.append(part[:mid])


@dataclass(slots=True)
class LimitDataRuntime(ToxicRuntime):
    """Forward up to ``bytes`` (counter kept across restarts), then close the link."""

    kind: ClassVar[str] = "limit_data"
    sent: int = 0

    def on_chunk(self, chunk: Chunk, now: float) -> list[Chunk] | Action:
        left = self.attr("bytes") - self.sent
        if left <= 0:
            return Action.CLOSE
        if len(chunk.data) < left:
            self.sent += len(chunk.data)
            return [chunk]
        self.sent += left
        return [Chunk(chunk.data[:left], chunk.not_before), Chunk(b"", -1.0)]  # -1: then close


@dataclass(slots=True)
class SlowCloseRuntime(ToxicRuntime):
    kind: ClassVar[str] = "slow_close"

    def on_eof(self, now: float) -> tuple[float, Action | None]:
        return self.attr("delay") / 1000.0, None


@dataclass(slots=True)
class TimeoutRuntime(ToxicRuntime):
    """Drop everything; the link's watchdog closes the connection after ``timeout`` ms
    without a chunk (0: never)."""

    kind: ClassVar[str] = "timeout"

    def on_chunk(self, chunk: Chunk, now: float) -> list[Chunk] | Action:
        return []


@dataclass(slots=True)
class ResetPeerRuntime(ToxicRuntime):
    """On the first chunk (or EOF): drop it, wait ``timeout`` ms, then reset."""

    kind: ClassVar[str] = "reset_peer"

    def on_chunk(self, chunk: Chunk, now: float) -> list[Chunk] | Action:
        return Action.RESET

    def on_eof(self, now: float) -> tuple[float, Action | None]:
        return 0.0, Action.RESET


_RUNTIMES: dict[str, type[ToxicRuntime]] = {
    "noop": ToxicRuntime,
    "latency": LatencyRuntime,
    "bandwidth": BandwidthRuntime,
    "slicer": SlicerRuntime,
    "limit_data": LimitDataRuntime,
    "slow_close": SlowCloseRuntime,
    "timeout": TimeoutRuntime,
    "reset_peer": ResetPeerRuntime,
}


def new_runtime(toxic: Toxic, rng: random.Random) -> ToxicRuntime:
    """A toxic's per-link runtime, with its toxicity drawn (reference §9, "Toxicity")."""
    active = rng.random() < toxic.toxicity
    return _RUNTIMES[toxic.type](toxic=toxic, active=active, rng=rng)
