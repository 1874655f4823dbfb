"""Last-write-wins by wall-clock timestamp: the contrast to Dynamo's siblings (DeCandia et
al., SOSP 2007, §4.4: "the data store can use simple policies such as 'last write wins'";
Cassandra's default; Kingsbury, "Jepsen: Cassandra", 2013). Course chapters: time and
clocks, replication.

A key holds one ``LwwRegister``: a value, the wall-clock time its coordinator wrote it
and who wrote it. Two replicas' registers merge by keeping the larger ``(ts, writer)``:
no causality is tracked, so a write made *after* another, by a coordinator whose clock
runs behind, loses to it, and is gone once every replica has merged. That is the loss
``tests/dynamo/sim/test_lww.py`` expects and the set-full checker names.

The register has the shape of the sibling store where the core reads it (``values``,
``context``, ``sync``, ``size``), so the coordinator and the replicas run one code path.
A context means nothing here (it is always empty): a write replaces whatever it meets
that is older, read or not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from protocols.clocks import VectorClock

__all__ = ["LwwRegister", "decode_lww", "encode_lww"]


@dataclass(frozen=True, slots=True)
class LwwRegister:
    ts: int  # the coordinator's wall clock, in microseconds, when it wrote
    writer: str  # the coordinator's replica id: breaks ties between equal timestamps
    value: str

    def values(self) -> list[str]:
        return [self.value]

    def context(self) -> VectorClock:
        return VectorClock()

    def size(self) -> int:
        return 1

    def sync(self, other: LwwRegister) -> LwwRegister:
        """The later write wins, by timestamp; whatever the other held is dropped."""
        return max(self, other, key=lambda r: (r.ts, r.writer))


def encode_lww(r: LwwRegister) -> bytes:
    return json.dumps({"lww": [r.ts, r.writer, r.value]}, separators=(",", ":")).encode()


def decode_lww(raw: bytes) -> LwwRegister:
    """ValueError for anything that is not a register (it may come from a peer)."""
    try:
        ts, writer, value = json.loads(raw)["lww"]
    except Exception as e:
        raise ValueError(f"not a last-write-wins register: {type(e).__name__}: {e}") from None
    if isinstance(ts, bool) or not isinstance(ts, int) or not 0 <= ts < 2**62 \
            or not isinstance(writer, str) or not isinstance(value, str):
        raise ValueError("not a last-write-wins register: [ts, writer, value] expected")
    return LwwRegister(ts, writer, value)
