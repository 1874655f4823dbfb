"""The KV state machine Raft applies (thesis §6.3 client sessions, bounded), its snapshots,
and the commands' encoding and size limits (issue #19)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.common.errors import InvalidRequest, SessionExpired
from protocols.kv.commands import (
    MAX_COMMAND_BYTES,
    MAX_KEY_BYTES,
    MAX_VALUE_BYTES,
    KvCommand,
    KvResult,
)
from protocols.kv.state_machine import KvStateMachine


def register(sm: KvStateMachine, *clients: str) -> None:
    for c in clients:
        assert sm.apply(KvCommand("register", "", client_id=c)) == KvResult()


def test_ops_and_exactly_once_sessions() -> None:
    sm = KvStateMachine()
    register(sm, "c", "d")
    assert sm.apply(KvCommand("cas", "k", "1", None, "c", 1)) == KvResult(ok=True)
    assert sm.apply(KvCommand("put", "k", "2", client_id="d", seq=1)) == KvResult()
    assert sm.apply(KvCommand("cas", "k", "1", None, "c", 1)) == KvResult(ok=True)  # retry
    assert sm.data == {"k": "2"}
    assert sm.apply(KvCommand("cas", "k", "3", "1", "c", 2)).ok is False  # type: ignore[union-attr]
    assert sm.apply(KvCommand("delete", "k", client_id="c", seq=3)) == KvResult(found=True)
    assert sm.apply(KvCommand("get", "k")) == KvResult(found=False)
    assert sm.apply(KvCommand("put", "s", "x")) == KvResult()  # no session: no dedup


def test_an_unregistered_client_gets_session_expired_and_changes_nothing() -> None:
    sm = KvStateMachine()
    result = sm.apply(KvCommand("put", "k", "v", client_id="stranger", seq=1))
    assert isinstance(result, SessionExpired) and result.refused
    assert sm.data == {}


def test_sessions_are_bounded_and_the_least_recently_used_expires() -> None:
    """Thesis §6.3: a bounded table, expired by a rule every replica applies alike; a
    client whose session expired gets a clear error, not a duplicate."""
    sm = KvStateMachine(max_sessions=2)
    register(sm, "a", "b")
    assert sm.apply(KvCommand("put", "k", "a1", client_id="a", seq=1)) == KvResult()
    register(sm, "c")  # b was used least recently: it expires
    assert list(sm.sessions) == ["a", "c"]
    retry = sm.apply(KvCommand("put", "k", "b1", client_id="b", seq=1))
    assert isinstance(retry, SessionExpired) and sm.data == {"k": "a1"}
    # the same commands on another replica expire the same sessions
    other = KvStateMachine(max_sessions=2)
    register(other, "a", "b")
    other.apply(KvCommand("put", "k", "a1", client_id="a", seq=1))
    register(other, "c")
    assert other.snapshot() == sm.snapshot()


def test_snapshot_restore_keeps_sessions_in_order_and_is_deterministic() -> None:
    a = KvStateMachine()
    register(a, "c0", "c1", "c2")
    cmds = [KvCommand("put", f"k{i}", str(i), client_id=f"c{i % 3}", seq=i) for i in range(9)]
    for c in cmds:
        a.apply(c)
    restored = KvStateMachine.restore(a.snapshot(), max_sessions=3)
    assert restored.snapshot() == a.snapshot() and list(restored.sessions) == list(a.sessions)
    assert restored.apply(cmds[7]) == a.sessions["c1"][1]  # a retry stays deduplicated
    assert restored.data == a.data


def test_command_encoding_round_trip_and_validation() -> None:
    cmd = KvCommand("cas", "k", "v", None, "c", 7)
    assert KvCommand.decode(cmd.encode()) == cmd
    with pytest.raises(InvalidRequest):
        KvCommand("incr", "k")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest):
        KvCommand("put", "")
    with pytest.raises(ValueError):
        KvCommand.decode(b"garbage")


@given(st.sampled_from(["get", "put", "cas", "delete"]), st.text(min_size=1, max_size=20),
       st.text(max_size=50), st.none() | st.text(max_size=20), st.text(max_size=10),
       st.integers(0, 2**64 - 1))
def test_any_command_round_trips(op: str, key: str, value: str, expected: str | None,
                                 client: str, seq: int) -> None:
    cmd = KvCommand(op, key, value, expected, client, seq)  # type: ignore[arg-type]
    assert KvCommand.decode(cmd.encode()) == cmd


def test_sizes_are_limited_and_a_command_is_encoded_once() -> None:
    """Issue #19 bug 5: no size check, and an entry JSON-encoded twice (a quote grew
    fourfold). Keys and values are bounded; a value of quotes costs its own bytes."""
    with pytest.raises(InvalidRequest, match="key is 1025 bytes"):
        KvCommand("put", "k" * (MAX_KEY_BYTES + 1), "v")
    with pytest.raises(InvalidRequest, match="value is"):
        KvCommand("put", "k", '"' * (MAX_VALUE_BYTES + 1))
    with pytest.raises(InvalidRequest, match="expected value is"):
        KvCommand("cas", "k", "v", "é" * MAX_VALUE_BYTES)
    biggest = KvCommand("cas", "k" * MAX_KEY_BYTES, '"' * MAX_VALUE_BYTES,
                        '"' * MAX_VALUE_BYTES, "c" * 256, 1)
    encoded = biggest.encode()
    assert len(encoded) <= MAX_COMMAND_BYTES < 3 * MAX_VALUE_BYTES
