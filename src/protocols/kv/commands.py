"""Commands of the replicated KV store and their results.

A command travels inside a log entry as bytes (``encode``/``decode``: compact,
deterministic JSON), so every replica applies exactly the same thing. ``client_id`` and
``seq`` identify the client's session and request (Raft thesis §6.3): the state machine
applies each (client, seq) at most once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from protocols.common.errors import InvalidRequest

__all__ = ["KvCommand", "KvResult", "Op"]

Op = Literal["get", "put", "cas", "delete"]
_OPS = ("get", "put", "cas", "delete")


@dataclass(frozen=True, slots=True)
class KvCommand:
    op: Op
    key: str
    value: str = ""
    expected: str | None = None  # cas: the value required now (None: the key must be absent)
    client_id: str = ""
    seq: int = 0

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise InvalidRequest(f"unknown KV operation {self.op!r}; use one of {_OPS}")
        if not isinstance(self.key, str) or not self.key:
            raise InvalidRequest("a KV key must be a non-empty string")
        if self.seq < 0:
            raise InvalidRequest(f"seq must be >= 0, got {self.seq}")

    @property
    def is_read(self) -> bool:
        return self.op == "get"

    def encode(self) -> bytes:
        return json.dumps([self.op, self.key, self.value, self.expected, self.client_id,
                           self.seq], separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> KvCommand:
        op, key, value, expected, client_id, seq = json.loads(data)
        return cls(op, key, value, expected, client_id, seq)


@dataclass(frozen=True, slots=True)
class KvResult:
    """get: found/value; put: -; cas: ok (and the value before); delete: found (existed)."""

    found: bool = False
    value: str = ""
    ok: bool = True
