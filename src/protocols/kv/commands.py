"""Commands of the replicated KV store and their results.

A command travels inside a log entry as bytes (``encode``/``decode``: a compact,
deterministic binary form, encoded once and stored as is), so every replica applies
exactly the same thing. ``client_id`` and ``seq`` identify the client's session and
request (Raft thesis §6.3): the state machine applies each (client, seq) at most once. A
client opens its session with ``register`` before its first write.

Limits (each refused with InvalidRequest, nothing changed): keys up to
``MAX_KEY_BYTES``, values up to ``MAX_VALUE_BYTES``, client ids up to
``MAX_CLIENT_ID_BYTES``, all as UTF-8; so an encoded command is at most
``MAX_COMMAND_BYTES``, far below the WAL's record limit and gRPC's message limit: no
client input can stop a node.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Literal

from protocols.common.errors import InvalidRequest

__all__ = ["MAX_COMMAND_BYTES", "MAX_KEY_BYTES", "MAX_VALUE_BYTES", "KvCommand", "KvResult",
           "Op"]

Op = Literal["get", "put", "cas", "delete", "register"]
_OPS: tuple[Op, ...] = ("get", "put", "cas", "delete", "register")

MAX_KEY_BYTES = 1024
MAX_VALUE_BYTES = 1 << 20  # 1 MiB, as etcd's default request limit is 1.5 MiB
MAX_CLIENT_ID_BYTES = 256
_HEADER = struct.Struct(">2sBBQIII")  # magic, op, has expected, seq, 3 lengths ...
_MAGIC = b"K1"
MAX_COMMAND_BYTES = (_HEADER.size + 4 + MAX_KEY_BYTES + 2 * MAX_VALUE_BYTES
                     + MAX_CLIENT_ID_BYTES)


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
        if self.op == "register":
            if not self.client_id:
                raise InvalidRequest("client_id: register needs a non-empty client_id")
        elif not isinstance(self.key, str) or not self.key:
            raise InvalidRequest("key: a KV key must be a non-empty string")
        if not isinstance(self.seq, int) or not 0 <= self.seq < 1 << 64:
            raise InvalidRequest(f"seq: must be an integer in [0, 2**64), got {self.seq}")
        _check_size("key", self.key, MAX_KEY_BYTES)
        _check_size("value", self.value, MAX_VALUE_BYTES)
        if self.expected is not None:
            _check_size("expected", self.expected, MAX_VALUE_BYTES, "expected value")
        _check_size("client_id", self.client_id, MAX_CLIENT_ID_BYTES)

    @property
    def is_read(self) -> bool:
        return self.op == "get"

    def encode(self) -> bytes:
        key, value = self.key.encode(), self.value.encode()
        expected, client = (self.expected or "").encode(), self.client_id.encode()
        return b"".join((
            _HEADER.pack(_MAGIC, _OPS.index(self.op), self.expected is not None, self.seq,
                         len(key), len(value), len(expected)),
            struct.pack(">I", len(client)), key, value, expected, client))

    @classmethod
    def decode(cls, data: bytes) -> KvCommand:
        """ValueError if ``data`` is not an encoded command."""
        try:
            magic, op, has_expected, seq, nk, nv, ne = _HEADER.unpack_from(data)
            (nc,) = struct.unpack_from(">I", data, _HEADER.size)
        except struct.error as e:
            raise ValueError(f"not a KV command: {e}") from None
        at = _HEADER.size + 4
        if magic != _MAGIC or op >= len(_OPS) or len(data) != at + nk + nv + ne + nc:
            raise ValueError("not a KV command (bad magic, op or length)")
        fields = []
        for n in (nk, nv, ne, nc):
            fields.append(data[at:at + n].decode())
            at += n
        key, value, expected, client = fields
        return cls(_OPS[op], key, value, expected if has_expected else None, client, seq)


def _check_size(field: str, text: str, limit: int, what: str = "") -> None:
    """``field`` is the request's field name, which the error starts with."""
    if not isinstance(text, str):
        raise InvalidRequest(f"{field}: must be a string")
    size = len(text.encode())
    if size > limit:
        raise InvalidRequest(f"{field}: the {what or field} is {size} bytes; the limit is "
                             f"{limit}")


@dataclass(frozen=True, slots=True)
class KvResult:
    """get: found/value; put: -; cas: ok (and the value before); delete: found (existed)."""

    found: bool = False
    value: str = ""
    ok: bool = True
