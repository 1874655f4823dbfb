"""The generic dataclass <-> protobuf converter round-trips without hand-written codecs."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from protocols._pb import admin_pb2
from protocols.common.errors import InvalidRequest
from protocols.runtime.codec import from_proto, to_proto


@dataclass(frozen=True, slots=True)
class Probe:
    peer: str
    sent: int
    ok: int
    failed: int
    last_error: str
    mean_rtt_ms: float


@dataclass(frozen=True, slots=True)
class Reply:
    peers: tuple[Probe, ...]


@dataclass(frozen=True, slots=True)
class Ping:
    from_id: str
    seq: int
    payload: bytes


def test_nested_repeated_messages_round_trip() -> None:
    reply = Reply((Probe("n2", 3, 2, 1, "timeout", 1.5), Probe("n3", 1, 1, 0, "", 0.25)))
    pb = to_proto(reply, admin_pb2.ProbeReply)
    assert isinstance(pb, admin_pb2.ProbeReply) and pb.peers[0].last_error == "timeout"
    assert from_proto(admin_pb2.ProbeReply.FromString(pb.SerializeToString()), Reply) == reply


def test_bytes_and_ints_round_trip() -> None:
    ping = Ping("n1", 2**40, b"\x00\xff" * 10)
    assert from_proto(to_proto(ping, admin_pb2.PingRequest), Ping) == ping


def test_a_dataclass_field_missing_from_the_message_is_a_type_error() -> None:
    @dataclass(frozen=True)
    class Wrong:
        nonsense: int

    with pytest.raises(TypeError, match="has no field 'nonsense'"):
        to_proto(Wrong(1), admin_pb2.PingRequest)


def test_a_message_that_does_not_fit_is_an_invalid_request() -> None:
    @dataclass(frozen=True)
    class Strict:
        from_id: str
        seq: int
        payload: bytes

        def __post_init__(self) -> None:
            if self.seq > 10:
                raise ValueError(f"seq {self.seq} out of range")

    with pytest.raises(InvalidRequest, match="malformed PingRequest: seq 11 out of range"):
        from_proto(admin_pb2.PingRequest(seq=11), Strict)
