"""What travels: the requests a coordinator sends a range's leaseholder, their answers,
and the commands a range's Raft log carries (CockroachDB's ``BatchRequest``,
``BatchResponse`` and ``RaftCommand``, cut down to what this store does).

A ``BatchRequest`` names one range and carries a ``Header`` (the transaction, its read
timestamp, the sender's clock) and a list of operations, evaluated together at the
leaseholder. Reads are answered there; what writes is turned into *effects* (an intent
laid, an intent resolved, a record written) and proposed to the range's Raft group as one
``WriteBatch``, answered once applied: "evaluate at the leaseholder, replicate the
effects" (CockroachDB's proposer-evaluated KV, RFC 20160420).

Raft entries are bytes: ``encode``/``decode`` write the commands as JSON, every dataclass
tagged with its name, so a range's log is readable with ``json.loads``.
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, fields, is_dataclass
from typing import Any, TypeVar

from protocols.clocks.hlc import HLCTimestamp
from protocols.common.errors import InvalidRequest
from protocols.txnkv.mvcc import Intent as MvccIntent
from protocols.txnkv.mvcc import TxnMeta
from protocols.txnkv.ranges import RangeDescriptor
from protocols.txnkv.record import TxnRecord, TxnStatus, Write

__all__ = [
    "BatchRequest", "BatchResponse", "ClockCheck", "ClockCheckReply", "EndTxn", "Err", "Get",
    "Header", "Heartbeat", "Lease", "Push", "Put", "PutIntentEffect", "PutRecordEffect",
    "PutResult", "QueryIntent", "RangeRaft", "RangeRaftReply", "Recover", "RequestLease",
    "Resolve", "ResolveEffect", "Split", "SplitRange", "WriteBatch", "decode", "decode_as",
    "encode", "routing_key",
]


ZERO = HLCTimestamp()  # the clock's origin: no time yet
T = TypeVar("T")

# ============================================================================ requests
@dataclass(frozen=True, slots=True)
class Header:
    """Who asks, and when. ``txn``: the transaction (None for a request made on another
    transaction's behalf: a push, a resolution, a recovery); ``read_ts``: where it reads
    (its writes go at ``txn.write_ts``); ``now``: the sender's HLC, which the receiver's
    clock takes in (or refuses: ``ClockOffsetError``)."""

    now: HLCTimestamp
    txn: TxnMeta | None = None
    read_ts: HLCTimestamp = ZERO


@dataclass(frozen=True, slots=True)
class Get:
    """Read ``key`` at the header's ``read_ts`` (the timestamp cache remembers it)."""

    key: str


@dataclass(frozen=True, slots=True)
class Put:
    """Lay an intent of ``value`` (None: a deletion) on ``key``: the transaction's write
    number ``seq``."""

    key: str
    value: bytes | None
    seq: int


@dataclass(frozen=True, slots=True)
class EndTxn:
    """Write the transaction's record: ``status`` PENDING (the two-round commit's first
    round: the record beside the writes), STAGING with ``in_flight`` (parallel commits),
    COMMITTED or ABORTED (the coordinator finalizes)."""

    txn_id: str
    status: TxnStatus
    epoch: int
    write_ts: HLCTimestamp
    in_flight: tuple[Write, ...] = ()
    anchor: str = ""  # the key whose range holds the record (it moves with it on a split)


@dataclass(frozen=True, slots=True)
class Heartbeat:
    txn_id: str
    anchor: str = ""


@dataclass(frozen=True, slots=True)
class Push:
    """A transaction met ``pushee``'s intent: what is its record? An abandoned one (no
    heartbeat for ``txn_ttl_ms``) is aborted if PENDING or missing; a STAGING one is
    returned for the pusher to recover."""

    pushee: TxnMeta


@dataclass(frozen=True, slots=True)
class QueryIntent:
    """Status resolution: is ``write`` there at (``epoch``, at or below ``ts``)? If not,
    prevent it: the timestamp cache is raised to ``ts`` on its key."""

    txn_id: str
    write: Write
    epoch: int
    ts: HLCTimestamp


@dataclass(frozen=True, slots=True)
class Resolve:
    """Settle ``txn_id``'s intent on ``key`` by its record's final status."""

    key: str
    txn_id: str
    status: TxnStatus
    commit_ts: HLCTimestamp
    epoch: int


@dataclass(frozen=True, slots=True)
class Recover:
    """Finish a status resolution: the record, if still STAGING at (``epoch``, ``ts``),
    becomes COMMITTED (every write found) or ABORTED (one prevented)."""

    txn_id: str
    epoch: int
    ts: HLCTimestamp
    commit: bool
    anchor: str = ""


@dataclass(frozen=True, slots=True)
class Split:
    """An admin request to a range's leaseholder: split the range at ``key`` (``key``
    and above go to a new range with the same replicas). Alone in its batch."""

    key: str


def routing_key(op: Any) -> str:
    """The key that says which range an operation goes to: its key, or, for an
    operation on a transaction record, the record's anchor."""
    match op:
        case Get(key=k) | Put(key=k) | Resolve(key=k) | Split(key=k):
            return k
        case QueryIntent(write=w):
            return w.key
        case Push(pushee=p):
            return p.anchor or ""
        case EndTxn(anchor=a) | Heartbeat(anchor=a) | Recover(anchor=a):
            return a
    raise InvalidRequest(f"unknown operation {type(op).__name__}")


@dataclass(frozen=True, slots=True)
class BatchRequest:
    """Operations on one range, evaluated together at its leaseholder."""

    range_id: str
    header: Header
    ops: tuple[Any, ...]
    rpc: int = 0  # the sender's number for it, to match the response


@dataclass(frozen=True, slots=True)
class Err:
    """Why a batch was refused; nothing of it happened (CockroachDB's error detail).

    ``kind``: not-leaseholder (``hint``: who may be), write-intent (``intents`` met),
    uncertainty (``ts``: the value's, restart above it), clock-offset, txn-aborted (the
    record is ABORTED: ``record``), illegal (a transition the record's rules refuse),
    unavailable (the range could not commit it: it may yet, so the outcome is unknown),
    range-mismatch (a key is not in the range, which split: ``descriptors`` as it knows
    them now; the sender routes again).
    """

    kind: str
    detail: str = ""
    hint: str = ""
    intents: tuple[MvccIntent, ...] = ()
    ts: HLCTimestamp | None = None
    record: TxnRecord | None = None
    # range-mismatch: a key is not in the range (it split): what the range knows now
    descriptors: tuple[RangeDescriptor, ...] = ()


@dataclass(frozen=True, slots=True)
class BatchResponse:
    """One result per operation (a Get: the value; a Put: the timestamp the intent
    landed at and whether a newer committed version pushed it; an EndTxn, Push or
    Recover: the record; a QueryIntent: True if found), or ``error``."""

    results: tuple[Any, ...] = ()
    error: Err | None = None
    now: HLCTimestamp = ZERO


@dataclass(frozen=True, slots=True)
class PutResult:
    ts: HLCTimestamp
    too_old: bool  # a committed version above the transaction's read timestamp: lost update


@dataclass(frozen=True, slots=True)
class ClockCheck:
    """A node's physical clock (ms), sent to every peer now and then; the reply carries
    the peer's, and the time the request left (CockroachDB's RPC heartbeats measure the
    same way): a node whose clock is beyond ``max_offset`` from most of its peers is the
    one out of bounds, and stops serving."""

    physical: int


@dataclass(frozen=True, slots=True)
class ClockCheckReply:
    physical: int
    sent: int  # the request's ``physical``, echoed: the round trip bounds the error


# ============================================================================ Raft
@dataclass(frozen=True, slots=True)
class RangeRaft:
    """A Raft message of one range's group (the range's own RaftCore reads ``msg``)."""

    range_id: str
    msg: Any


@dataclass(frozen=True, slots=True)
class RangeRaftReply:
    range_id: str
    msg: Any


@dataclass(frozen=True, slots=True)
class Lease:
    """A range lease (CockroachDB's expiration-based lease): ``holder`` serves the range
    for reads at timestamps below ``expiration``. ``sequence`` changes when the holder
    does (an extension keeps it); a write evaluated under one sequence is applied only
    while it is still in force, so a deposed holder's writes are refused."""

    holder: str = ""
    start: HLCTimestamp = ZERO
    expiration: HLCTimestamp = ZERO
    sequence: int = 0


@dataclass(frozen=True, slots=True)
class RequestLease:
    """A Raft command: install ``lease``, if the lease in force is still ``prev``'s
    sequence (a request made on stale knowledge is refused at apply)."""

    lease: Lease
    prev_sequence: int

    def encode(self) -> bytes:
        return encode(self)


@dataclass(frozen=True, slots=True)
class PutIntentEffect:
    key: str
    value: bytes | None
    txn: TxnMeta


@dataclass(frozen=True, slots=True)
class ResolveEffect:
    key: str
    txn_id: str
    status: TxnStatus
    commit_ts: HLCTimestamp
    epoch: int


@dataclass(frozen=True, slots=True)
class PutRecordEffect:
    record: TxnRecord
    anchor: str = ""  # its key (the record moves with it when the range splits)


@dataclass(frozen=True, slots=True)
class WriteBatch:
    """A Raft command: the effects of one evaluated batch, applied in order, all or
    nothing, if the lease it was evaluated under (``lease_sequence``) is still in force."""

    lease_sequence: int
    effects: tuple[Any, ...]

    def encode(self) -> bytes:
        return encode(self)

@dataclass(frozen=True, slots=True)
class SplitRange:
    """A Raft command of a range (CockroachDB's split trigger): from ``key`` on, its
    keys, their intents and the records anchored there move to a new range with the same
    replicas and a copy of the lease, if the lease it was evaluated under is still in
    force. Every replica applies it at the same index, so each builds the same new range
    (and names it the same: the name is chosen at apply, from the splits before it)."""

    key: str
    lease_sequence: int

    def encode(self) -> bytes:
        return encode(self)


# ============================================================================ the codec
_TYPES: dict[str, type[Any]] = {t.__name__: t for t in (
    HLCTimestamp, TxnMeta, TxnRecord, Write, MvccIntent, Lease, RequestLease,
    PutIntentEffect, ResolveEffect, PutRecordEffect, WriteBatch, SplitRange,
    RangeDescriptor,
    # what a batch and its response carry between nodes (the wire uses the same codec)
    Header, Get, Put, EndTxn, Heartbeat, Push, QueryIntent, Resolve, Recover, Split,
    BatchRequest, BatchResponse, Err, PutResult)}
_ENUMS: dict[str, type[enum.Enum]] = {"TxnStatus": TxnStatus}


def _to_json(obj: Any) -> Any:
    if isinstance(obj, enum.Enum):
        return {"@e": type(obj).__name__, "v": obj.value}
    if is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, Any] = {"@": type(obj).__name__}
        for f in fields(obj):
            out[f.name] = _to_json(getattr(obj, f.name))
        return out
    if isinstance(obj, bytes):
        return {"@b": obj.decode("utf-8", "surrogateescape")}
    if isinstance(obj, tuple | list):
        return [_to_json(x) for x in obj]
    return obj


def _from_json(obj: Any) -> Any:
    if isinstance(obj, list):
        return tuple(_from_json(x) for x in obj)
    if not isinstance(obj, dict):
        return obj
    if "@b" in obj:
        return str(obj["@b"]).encode("utf-8", "surrogateescape")
    if "@e" in obj:
        return _ENUMS[obj["@e"]](obj["v"])
    cls = _TYPES.get(obj.get("@", ""))
    if cls is None:
        raise InvalidRequest(f"a txnkv Raft entry names an unknown type {obj.get('@')!r}")
    return cls(**{k: _from_json(v) for k, v in obj.items() if k != "@"})


def encode(obj: Any) -> bytes:
    """A command of the Raft log, or a batch or response for the wire, as JSON."""
    return json.dumps(_to_json(obj), separators=(",", ":")).encode()


def decode_as(raw: bytes, cls: type[T]) -> T:
    """``encode``'s bytes back, which must hold a ``cls``; InvalidRequest otherwise."""
    try:
        obj = _from_json(json.loads(raw))
    except (ValueError, TypeError, KeyError, AttributeError) as e:
        raise InvalidRequest(f"txnkv JSON for {cls.__name__} that does not decode: "
                             f"{e}") from e
    if not isinstance(obj, cls):
        raise InvalidRequest(f"txnkv JSON holds {type(obj).__name__}, not {cls.__name__}")
    return obj


def decode(raw: bytes) -> RequestLease | WriteBatch | SplitRange:
    """A Raft entry's command."""
    command: RequestLease | WriteBatch | SplitRange = decode_as(
        raw, RequestLease | WriteBatch | SplitRange)  # type: ignore[arg-type]
    return command
