"""Commands of the replicated KV store and their results.

A command travels inside a log entry as bytes (``encode``/``decode``: a compact,
deterministic binary form, encoded once and stored as is), so every replica applies
exactly the same thing. ``client_id`` and ``seq`` identify the client's session and
request (Raft thesis §6.3): the state machine applies each (client, seq) at most once. A
client opens its session with ``register`` before its first write.

A ``txn`` command carries a list of micro-ops over many keys, as in Jepsen's Elle
workloads: ``("r", k, None)`` reads k, ``("append", k, v)`` appends v to the list k
holds, ``("w", k, v)`` writes the register k. The state machine applies them all at
one point of the log, in order, or none of them (``KvStateMachine``), so on Raft and
Multi-Paxos transactions are strictly serializable.

Limits (each refused with InvalidRequest, nothing changed): keys up to
``MAX_KEY_BYTES``, values up to ``MAX_VALUE_BYTES``, client ids up to
``MAX_CLIENT_ID_BYTES``, all as UTF-8; so an encoded command is at most
``MAX_COMMAND_BYTES``, far below the WAL's record limit and gRPC's message limit: no
client input can stop a node. A transaction holds 1 to ``MAX_TXN_OPS`` micro-ops,
encoded in at most ``MAX_VALUE_BYTES``.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Literal

from protocols.common.errors import InvalidRequest

__all__ = ["MAX_COMMAND_BYTES", "MAX_KEY_BYTES", "MAX_TXN_OPS", "MAX_VALUE_BYTES",
           "MICRO_OPS", "KvCommand", "KvResult", "MicroOp", "Op", "ReadValue"]

Op = Literal["get", "put", "cas", "delete", "register", "txn"]
_OPS: tuple[Op, ...] = ("get", "put", "cas", "delete", "register", "txn")  # append only:
# an op is stored as its index in this tuple

MICRO_OPS = ("r", "append", "w")
MAX_TXN_OPS = 64
MicroOp = tuple[str, str, str | None]  # (f, key, value): a read's value is None
# what a read returns: None (the key is absent), a register's string or a list's items
ReadValue = str | tuple[str, ...] | None

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
    ops: tuple[MicroOp, ...] = ()  # txn: its micro-ops, in order

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise InvalidRequest(f"unknown KV operation {self.op!r}; use one of {_OPS}")
        if self.op == "register":
            if not self.client_id:
                raise InvalidRequest("client_id: register needs a non-empty client_id")
        elif self.op == "txn":
            object.__setattr__(self, "ops", _checked_ops(self.ops))
            if self.key or self.value or self.expected is not None:
                raise InvalidRequest("key: a txn names its keys in its ops, not in key, "
                                     "value or expected")
        elif self.ops:
            raise InvalidRequest(f"ops: only a txn has micro-ops, not a {self.op}")
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
        key, value = self.key.encode(), (_encode_ops(self.ops) if self.op == "txn"
                                         else self.value.encode())
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
        if _OPS[op] == "txn":
            return cls("txn", key, "", None, client, seq, _decode_ops(value))
        return cls(_OPS[op], key, value, expected if has_expected else None, client, seq)


def _encode_ops(ops: tuple[MicroOp, ...]) -> bytes:
    """Deterministic JSON: every replica stores and applies the same bytes."""
    return json.dumps(ops, ensure_ascii=False, separators=(",", ":")).encode()


def _decode_ops(text: str) -> tuple[MicroOp, ...]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"not a KV txn: {e}") from None
    if not isinstance(raw, list):
        raise ValueError("not a KV txn: its ops are not a list")
    return tuple(tuple(op) for op in raw)


def _checked_ops(ops: object) -> tuple[MicroOp, ...]:
    """The micro-ops as a tuple of tuples, or InvalidRequest naming the one at fault."""
    if not isinstance(ops, list | tuple):
        raise InvalidRequest(f"ops: a txn's ops are a list of micro-ops, not "
                             f"{type(ops).__name__}")
    if not ops:
        raise InvalidRequest("ops: a txn needs at least one micro-op")
    if len(ops) > MAX_TXN_OPS:
        raise InvalidRequest(f"ops: a txn holds at most {MAX_TXN_OPS} micro-ops, not "
                             f"{len(ops)}")
    checked = tuple(_checked_op(i, op) for i, op in enumerate(ops))
    size = len(_encode_ops(checked))
    if size > MAX_VALUE_BYTES:
        raise InvalidRequest(f"ops: the txn is {size} bytes encoded; the limit is "
                             f"{MAX_VALUE_BYTES}")
    return checked


def _checked_op(i: int, op: object) -> MicroOp:
    field = f"ops[{i}]"
    if not isinstance(op, list | tuple) or len(op) != 3:
        raise InvalidRequest(f"{field}: a micro-op is [f, key, value], not {op!r:.80}")
    f, key, value = op
    if f not in MICRO_OPS:
        raise InvalidRequest(f"{field}: unknown micro-op {f!r:.40}; use one of {MICRO_OPS}")
    if not isinstance(key, str) or not key:
        raise InvalidRequest(f"{field}.key: must be a non-empty string")
    _check_size(f"{field}.key", key, MAX_KEY_BYTES, "key")
    if f == "r" and value is not None:
        raise InvalidRequest(f"{field}.value: a read takes no value (None), not {value!r:.40}")
    if f != "r":
        if not isinstance(value, str):
            raise InvalidRequest(f"{field}.value: {f} needs a string value, not "
                                 f"{type(value).__name__}")
        _check_size(f"{field}.value", value, MAX_VALUE_BYTES, "value")
    return (f, key, value)


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
    """get: found/value; put: -; cas: ok (and the value before); delete: found (existed);
    txn: ``txn`` holds its micro-ops with each read's value filled in, or ``ok`` is False
    and ``value`` says why it was aborted (nothing of it was applied)."""

    found: bool = False
    value: str = ""
    ok: bool = True
    txn: tuple[tuple[str, str, ReadValue], ...] = ()
