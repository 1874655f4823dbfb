"""The KV state machine Raft applies (thesis §6.3 client sessions), and its snapshots."""

from __future__ import annotations

import pytest

from protocols.common.errors import InvalidRequest
from protocols.kv.commands import KvCommand, KvResult
from protocols.kv.state_machine import KvStateMachine


def test_ops_and_exactly_once_sessions() -> None:
    sm = KvStateMachine()
    assert sm.apply(KvCommand("cas", "k", "1", None, "c", 1)) == KvResult(ok=True)
    assert sm.apply(KvCommand("put", "k", "2", client_id="d", seq=1)) == KvResult()
    assert sm.apply(KvCommand("cas", "k", "1", None, "c", 1)) == KvResult(ok=True)  # retry
    assert sm.data == {"k": "2"}
    assert sm.apply(KvCommand("cas", "k", "3", "1", "c", 2)).ok is False
    assert sm.apply(KvCommand("delete", "k", client_id="c", seq=3)) == KvResult(found=True)
    assert sm.apply(KvCommand("get", "k")) == KvResult(found=False)


def test_snapshot_restore_keeps_sessions_and_is_deterministic() -> None:
    a, b = KvStateMachine(), KvStateMachine()
    cmds = [KvCommand("put", f"k{i}", str(i), client_id=f"c{i % 3}", seq=i) for i in range(9)]
    for c in cmds:
        a.apply(c)
    for c in reversed(cmds):  # different insertion order, different sessions
        b.apply(c)
    restored = KvStateMachine.restore(a.snapshot())
    assert restored.snapshot() == a.snapshot()
    assert restored.apply(cmds[4]) == a.sessions["c1"][1]  # a retry stays deduplicated
    assert restored.data == a.data


def test_command_encoding_round_trip_and_validation() -> None:
    cmd = KvCommand("cas", "k", "v", None, "c", 7)
    assert KvCommand.decode(cmd.encode()) == cmd
    with pytest.raises(InvalidRequest):
        KvCommand("incr", "k")  # type: ignore[arg-type]
    with pytest.raises(InvalidRequest):
        KvCommand("put", "")
