"""The generic dataclass <-> protobuf converter round-trips without hand-written codecs."""

from __future__ import annotations

import enum
import importlib.util
import subprocess
import sys
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols._pb import admin_pb2, raft_pb2
from protocols.common.errors import InvalidRequest
from protocols.common.ids import NodeId
from protocols.raft.messages import AppendEntries, Entry, EntryKind, RequestVote
from protocols.runtime import codec
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


# ----------------------------------------------------------------------------- shapes
# Maps, deep nesting and enums need protobuf types the real protos do not have: this
# .proto is compiled into the test's tmp dir (own package and file name, so it cannot
# clash with anything in the default descriptor pool).

SHAPES_PROTO = """
syntax = "proto3";
package protocols_codec_test.v1;

enum Status {
  STATUS_ALIVE = 0;
  STATUS_SUSPECT = 1;
  STATUS_DEAD = 2;
}

message Address {
  string host = 1;
  uint32 port = 2;
}

message Member {
  string node_id = 1;
  uint64 incarnation = 2;
  Status status = 3;
  Address address = 4;
  optional string zone = 5;
  repeated string tags = 6;
  string role = 7;
}

message Membership {
  map<string, Member> members = 1;
  map<string, uint64> clock = 2;
  map<uint32, string> slots = 3;
  map<string, Status> statuses = 4;
  optional uint64 epoch = 5;
  Member leader = 6;
  repeated Member history = 7;
  bytes digest = 8;
  repeated Status seen = 9;
}

message VectorClock {
  map<string, uint64> clock = 1;
}

message Tree {
  string label = 1;
  repeated Tree children = 2;
}
"""
SHAPES_MODULE = "protocols_codec_test_shapes_pb2"


@pytest.fixture(scope="module")
def pb(tmp_path_factory: pytest.TempPathFactory) -> ModuleType:
    if SHAPES_MODULE in sys.modules:  # the descriptor pool holds it once per process
        return sys.modules[SHAPES_MODULE]
    out = tmp_path_factory.mktemp("codec_proto")
    (out / "protocols_codec_test_shapes.proto").write_text(SHAPES_PROTO)
    done = subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{out}", f"--python_out={out}",
         str(out / "protocols_codec_test_shapes.proto")],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr
    spec = importlib.util.spec_from_file_location(SHAPES_MODULE, out / f"{SHAPES_MODULE}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[SHAPES_MODULE] = module
    return module


class Status(enum.IntEnum):
    ALIVE = 0
    SUSPECT = 1
    DEAD = 2


class Role(enum.StrEnum):
    VOTER = "voter"
    LEARNER = "learner"


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int

    def __post_init__(self) -> None:
        if self.port > 65535:
            raise ValueError(f"port {self.port} out of range")


@dataclass(frozen=True, slots=True)
class Member:
    node_id: str
    incarnation: int
    status: Status
    address: Address
    zone: str | None = None
    tags: frozenset[str] = frozenset()
    role: Role = Role.VOTER


@dataclass(frozen=True, slots=True)
class Membership:
    members: Mapping[str, Member]
    clock: dict[str, int]
    slots: dict[int, str]
    statuses: dict[str, Status]
    epoch: int | None
    leader: Member | None
    history: list[Member]
    digest: bytes
    seen: tuple[Status, ...]


@dataclass(frozen=True, slots=True)
class VectorClock:
    clock: Mapping[NodeId, int]


@dataclass(frozen=True, slots=True)
class RoleCounts:  # VectorClock's wire shape, with enum keys
    clock: dict[Role, int]


@dataclass(frozen=True, slots=True)
class Tree:
    label: str
    children: tuple[Tree, ...] = ()

    def __post_init__(self) -> None:
        if not self.label:
            raise ValueError("a tree node needs a label")


def member(node_id: str = "n1", **kw: Any) -> Member:
    return Member(node_id, kw.pop("incarnation", 3), kw.pop("status", Status.SUSPECT),
                  kw.pop("address", Address(f"{node_id}.local", 7000)), **kw)


def membership(**kw: Any) -> Membership:
    fields: dict[str, Any] = {
        "members": {"n2": member("n2", zone="eu", tags=frozenset({"b", "a"})),
                    "n1": member("n1", role=Role.LEARNER)},
        "clock": {"n2": 2**64 - 1, "n1": 0},
        "slots": {7: "n2", 1: "n1"},
        "statuses": {"n1": Status.DEAD},
        "epoch": None,
        "leader": None,
        "history": [member("n3", status=Status.DEAD)],
        "digest": b"\x00\x01\xfe",
        "seen": (Status.ALIVE, Status.DEAD),
    }
    return Membership(**(fields | kw))


def wire_round_trip(obj: Any, pb_type: type[Any]) -> Any:
    return from_proto(pb_type.FromString(to_proto(obj, pb_type).SerializeToString()), type(obj))


def test_maps_nesting_enums_and_optionals_round_trip(pb: ModuleType) -> None:
    m = membership()
    back = wire_round_trip(m, pb.Membership)
    assert back == m
    assert type(back.members) is dict and type(back.history) is list
    assert type(back.seen) is tuple and type(back.members["n2"].tags) is frozenset
    assert type(back.statuses["n1"]) is Status and type(back.members["n1"].role) is Role
    assert back.epoch is None and back.leader is None and back.members["n1"].zone is None


def test_optional_fields_set_round_trip(pb: ModuleType) -> None:
    m = membership(epoch=0, leader=member("n2", zone=""))
    msg = to_proto(m, pb.Membership)
    assert msg.HasField("epoch") and msg.HasField("leader") and msg.leader.HasField("zone")
    assert wire_round_trip(m, pb.Membership) == m


def test_none_is_unset_on_the_wire(pb: ModuleType) -> None:
    msg = to_proto(membership(), pb.Membership)
    assert not msg.HasField("epoch") and not msg.HasField("leader")
    assert not msg.members["n1"].HasField("zone") and msg.members["n2"].zone == "eu"


def test_enums_travel_as_their_values(pb: ModuleType) -> None:
    msg = to_proto(membership(), pb.Membership)
    assert msg.members["n1"].status == pb.STATUS_SUSPECT == 1
    assert msg.members["n1"].role == "learner" and list(msg.seen) == [0, 2]
    assert dict(msg.statuses) == {"n1": pb.STATUS_DEAD}


def test_a_frozenset_is_sent_sorted(pb: ModuleType) -> None:
    msg = to_proto(member(tags=frozenset({"zeta", "alpha", "mid"})), pb.Member)
    assert list(msg.tags) == ["alpha", "mid", "zeta"]


def test_an_empty_sub_message_is_still_sent(pb: ModuleType) -> None:
    m = member(address=Address("", 0))  # every field at its default: still "set"
    msg = to_proto(m, pb.Member)
    assert msg.HasField("address")
    assert from_proto(pb.Member.FromString(msg.SerializeToString()), Member) == m


def test_recursive_messages_round_trip_at_any_depth(pb: ModuleType) -> None:
    tree = Tree("root")
    for depth in range(30):
        tree = Tree(f"d{depth}", (tree, Tree(f"leaf{depth}")))
    assert wire_round_trip(tree, pb.Tree) == tree


def test_decoded_maps_are_in_sorted_key_order_whatever_the_wire_order(pb: ModuleType) -> None:
    # Concatenated messages merge: the map entries arrive in exactly this order.
    wire = b"".join(pb.Membership(members={k: {"address": {}, "role": "voter"}}, clock={k: i},
                                  slots={i: k}).SerializeToString()
                    for i, k in [(9, "c"), (1, "a"), (5, "b")])
    back = from_proto(pb.Membership.FromString(wire), Membership)
    assert list(back.members) == list(back.clock) == ["a", "b", "c"]
    assert list(back.slots) == [1, 5, 9]


def test_decoding_does_not_depend_on_insertion_order(pb: ModuleType) -> None:
    forward = membership(clock={f"n{i}": i for i in range(20)})
    backward = membership(clock={f"n{i}": i for i in reversed(range(20))})
    a = from_proto(to_proto(forward, pb.Membership), Membership)
    b = from_proto(to_proto(backward, pb.Membership), Membership)
    assert list(a.clock.items()) == list(b.clock.items()) == sorted(forward.clock.items())


def test_enum_map_keys_and_new_type_keys(pb: ModuleType) -> None:
    counts = RoleCounts({Role.VOTER: 3, Role.LEARNER: 1})
    back = wire_round_trip(counts, pb.VectorClock)
    assert back == counts and list(back.clock) == [Role.LEARNER, Role.VOTER]
    assert all(type(k) is Role for k in back.clock)
    clock = VectorClock({NodeId("n2"): 1, NodeId("n1"): 2})
    assert wire_round_trip(clock, pb.VectorClock) == clock


names = st.text(max_size=8)
uint64 = st.integers(0, 2**64 - 1)
addresses = st.builds(Address, names, st.integers(0, 65535))
members = st.builds(Member, names, uint64, st.sampled_from(Status), addresses,
                    st.none() | names, st.frozensets(names, max_size=4), st.sampled_from(Role))


@settings(deadline=None)
@given(clock=st.dictionaries(names.map(NodeId), uint64))
def test_vector_clocks_round_trip(pb: ModuleType, clock: dict[NodeId, int]) -> None:
    back = wire_round_trip(VectorClock(clock), pb.VectorClock)
    assert back == VectorClock(clock) and list(back.clock) == sorted(clock)


@settings(deadline=None, max_examples=50)
@given(table=st.dictionaries(names, members, max_size=6),
       leader=st.none() | members, history=st.lists(members, max_size=3),
       epoch=st.none() | uint64)
def test_membership_tables_round_trip(pb: ModuleType, table: dict[str, Member],
                                      leader: Member | None, history: list[Member],
                                      epoch: int | None) -> None:
    m = membership(members=table, leader=leader, history=history, epoch=epoch)
    back = wire_round_trip(m, pb.Membership)
    assert back == m and list(back.members) == sorted(table)


@settings(deadline=None, max_examples=50)
@given(table=st.dictionaries(names, members, max_size=4))
def test_the_error_path_decodes_like_the_fast_path(pb: ModuleType,
                                                   table: dict[str, Member]) -> None:
    msg = to_proto(membership(members=table), pb.Membership)
    plan = codec._PLANS[(Membership, pb.Membership)]
    assert codec._explain_decode(plan, msg, "") == from_proto(msg, Membership)


def test_raft_append_entries_round_trip() -> None:
    entries = tuple(Entry(4, i, EntryKind(i % 3), bytes([i % 256]) * 100)
                    for i in range(1, 257))
    ae = AppendEntries(4, "n1", 0, 0, entries, 200, read_context=9)
    back = wire_round_trip(ae, raft_pb2.AppendEntries)
    assert back == ae and type(back.entries[2].kind) is EntryKind
    heartbeat = AppendEntries(4, "n1", 256, 4, (), 256)
    assert wire_round_trip(heartbeat, raft_pb2.AppendEntries) == heartbeat


def test_the_plan_is_built_once(monkeypatch: pytest.MonkeyPatch, pb: ModuleType) -> None:
    m = membership(leader=member("n9"))
    wire_round_trip(m, pb.Membership)

    def inspected(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("type hints inspected again")

    monkeypatch.setattr(typing, "get_type_hints", inspected)
    assert wire_round_trip(m, pb.Membership) == m


# ----------------------------------------------------------------------------- bad input

def test_an_enum_number_out_of_range_is_an_invalid_request(pb: ModuleType) -> None:
    # Member: node_id "n1" (field 1), status 7 (field 3, varint), address {} (field 4)
    wire = b"\x0a\x02n1" + b"\x18\x07" + b"\x22\x00"
    with pytest.raises(InvalidRequest,
                       match=r"malformed Member: field status: 7 is not a valid Status"):
        from_proto(pb.Member.FromString(wire), Member)


def test_a_raft_entry_kind_out_of_range_names_the_entry() -> None:
    good = to_proto(AppendEntries(1, "n1", 0, 0, (Entry(1, 1, EntryKind.NOOP, b""),), 0),
                    raft_pb2.AppendEntries).SerializeToString()
    wire = good + b"\x2a\x02\x18\x09"  # entries (field 5): one more Entry with kind 9
    with pytest.raises(InvalidRequest, match=r"malformed AppendEntries: field entries\[1\]"
                                             r"\.kind: 9 is not a valid EntryKind"):
        from_proto(raft_pb2.AppendEntries.FromString(wire), AppendEntries)


def test_bad_enums_deep_inside_maps_and_lists_name_the_path(pb: ModuleType) -> None:
    ok = to_proto(membership(), pb.Membership)
    cases: list[tuple[dict[str, Any], str]] = [
        ({"statuses": {"n1": 5}}, r"field statuses\['n1'\]: 5 is not a valid Status"),
        ({"seen": [9]}, r"field seen\[2\]: 9 is not a valid Status"),  # appended
        ({"members": {"n2": {"status": 4, "address": {}}}},
         r"field members\['n2'\]\.status: 4 is not a valid Status"),
        ({"history": [{"role": "dictator", "address": {}}]},
         r"field history\[1\]\.role: 'dictator' is not a valid Role"),
    ]
    for change, error in cases:
        msg = pb.Membership()
        msg.CopyFrom(ok)
        msg.MergeFrom(pb.Membership(**change))
        with pytest.raises(InvalidRequest, match=f"malformed Membership: {error}"):
            from_proto(pb.Membership.FromString(msg.SerializeToString()), Membership)


def test_a_bad_enum_map_key_is_an_invalid_request(pb: ModuleType) -> None:
    with pytest.raises(InvalidRequest,
                       match=r"field clock key 'admin': 'admin' is not a valid Role"):
        from_proto(pb.VectorClock(clock={"voter": 1, "admin": 2}), RoleCounts)


def test_a_sub_message_its_dataclass_rejects_is_an_invalid_request(pb: ModuleType) -> None:
    msg = to_proto(membership(), pb.Membership)
    msg.members["n2"].address.port = 70000
    with pytest.raises(InvalidRequest, match=r"malformed Membership: field members\['n2'\]\."
                                             r"address \(protocols_codec_test\.v1\.Address\): "
                                             r"port 70000 out of range"):
        from_proto(msg, Membership)


def test_a_deep_recursive_message_its_dataclass_rejects(pb: ModuleType) -> None:
    msg = pb.Tree(label="root", children=[{"label": "a", "children": [{"label": "b"}, {}]}])
    with pytest.raises(InvalidRequest, match=r"malformed Tree: field children\[0\]\."
                                             r"children\[1\] \(.*Tree\): a tree node needs"):
        from_proto(msg, Tree)


def test_an_unset_required_sub_message_is_an_invalid_request(pb: ModuleType) -> None:
    with pytest.raises(InvalidRequest, match=r"malformed Member: field address: required "
                                             r"sub-message .*Address is unset"):
        from_proto(pb.Member(node_id="n1"), Member)
    msg = to_proto(membership(), pb.Membership)
    msg.history.add(node_id="n4")
    with pytest.raises(InvalidRequest, match=r"field history\[1\]\.address: required"):
        from_proto(msg, Membership)


@pytest.mark.parametrize("not_a_message", [b"\x0a\x02n1", None, {"node_id": "n1"}, 3])
def test_something_that_is_not_a_message_is_an_invalid_request(not_a_message: Any) -> None:
    with pytest.raises(InvalidRequest, match="expected a protobuf message to decode Member"):
        from_proto(not_a_message, Member)


# ----------------------------------------------------------------------------- programming errors

@dataclass(frozen=True, slots=True)
class Nonsense:
    from_id: str
    nonsense: int


def test_a_field_the_proto_lacks_is_a_type_error_at_decode_too() -> None:
    with pytest.raises(TypeError, match=r"protocols\.admin\.v1\.PingRequest has no field "
                                        r"'nonsense', which dataclass Nonsense has"):
        from_proto(admin_pb2.PingRequest(), Nonsense)
    with pytest.raises(TypeError, match=r"protocols\.admin\.v1\.PingRequest has no field "
                                        r"'nonsense', which dataclass Nonsense has"):
        to_proto(Nonsense("n1", 1), admin_pb2.PingRequest)


def test_the_wrong_message_type_is_a_type_error_naming_both() -> None:
    with pytest.raises(TypeError, match=r"protocols\.raft\.v1\.RequestVote has no field "
                                        r"'leader_id', which dataclass AppendEntries has"):
        from_proto(raft_pb2.RequestVote(term=1), AppendEntries)
    with pytest.raises(TypeError, match="has no field 'candidate_id'"):
        to_proto(RequestVote(1, "n1", 0, 0), raft_pb2.AppendEntries)


@dataclass(frozen=True)
class OptionalPort:
    host: str
    port: int | None


@dataclass(frozen=True)
class IntHost:
    host: int
    port: int


@dataclass(frozen=True)
class ListClock:
    clock: tuple[int, ...]


@dataclass(frozen=True)
class StrStatus:
    node_id: str
    status: Role


@dataclass(frozen=True)
class FlatTree:
    label: str
    children: tuple[str, ...]


@dataclass(frozen=True)
class ObjectKeys:
    clock: dict[float, int]


@pytest.mark.parametrize(("cls", "pb_name", "error"), [
    (OptionalPort, "Address", r"OptionalPort\.port \(.*\) does not fit protocols_codec_test"
                              r"\.v1\.Address\.port \(uint32\): None needs a field with "
                              r"presence"),
    (IntHost, "Address", r"IntHost\.host \(int\) does not fit .*Address\.host \(string\): "
                         r"int needs a field of type"),
    (ListClock, "VectorClock", r"ListClock\.clock .*\(map<string, uint64>\): a map field needs "
                               r"dict\[K, V\] or Mapping\[K, V\]"),
    (StrStatus, "Member", r"StrStatus\.status .* \(protocols_codec_test\.v1\.Status\): Role "
                          r"needs a string field"),
    (FlatTree, "Tree", r"FlatTree\.children .* \(repeated protocols_codec_test\.v1\.Tree\): "
                       r"item: the message .*Tree needs a dataclass"),
    (ObjectKeys, "VectorClock", r"ObjectKeys\.clock .*: map key: float needs a field of type "
                                r"double or float"),
])
def test_a_dataclass_that_does_not_fit_its_proto_is_a_type_error(
        pb: ModuleType, cls: type[Any], pb_name: str, error: str) -> None:
    pb_type = getattr(pb, pb_name)
    with pytest.raises(TypeError, match=error):
        from_proto(pb_type(), cls)
    with pytest.raises(TypeError, match=error):
        to_proto(object.__new__(cls), pb_type)


def test_a_value_that_cannot_be_encoded_names_the_field(pb: ModuleType) -> None:
    bad = membership(members={"n1": member(incarnation="3")})
    with pytest.raises(TypeError, match=r"cannot encode Membership\.members\['n1'\]"
                                        r"\.incarnation as .*Member\.incarnation"):
        to_proto(bad, pb.Membership)
    negative = membership(history=[member(), member(incarnation=-1)])
    with pytest.raises(ValueError, match=r"cannot encode Membership\.history\[1\]"
                                         r"\.incarnation as .*Member\.incarnation"):
        to_proto(negative, pb.Membership)
    with pytest.raises(TypeError, match=r"Membership\.leader as .*Membership\.leader: expected "
                                        r"Member, got str"):
        to_proto(membership(leader="n1"), pb.Membership)


def test_only_dataclasses_are_encoded(pb: ModuleType) -> None:
    with pytest.raises(TypeError, match="dict is not a dataclass"):
        to_proto({"host": "h"}, pb.Address)


@dataclass(frozen=True)
class Unresolvable:
    host: UndefinedName  # type: ignore[name-defined]  # noqa: F821


def test_unresolvable_type_hints_are_a_type_error(pb: ModuleType) -> None:
    with pytest.raises(TypeError, match="cannot resolve the type hints of Unresolvable"):
        from_proto(pb.Address(), Unresolvable)


def test_a_failed_plan_is_not_cached(pb: ModuleType) -> None:
    @dataclass(frozen=True)
    class Half:  # its Address plan would be fine; the whole does not fit
        address: Address
        nonsense: int

    for _ in range(2):
        with pytest.raises(TypeError, match="has no field 'nonsense'"):
            from_proto(pb.Member(), Half)
    assert not any(cls is Half for cls, _ in codec._PLANS)


@dataclass(frozen=True, kw_only=True)
class KeywordAddress:
    port: int = field(default=1)
    host: str


def test_keyword_only_dataclasses_work(pb: ModuleType) -> None:
    a = KeywordAddress(host="h", port=2)
    assert wire_round_trip(a, pb.Address) == a
