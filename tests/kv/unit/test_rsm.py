"""The replicated state machine's bookkeeping (protocols.kv.rsm): who waits on which
slot, and what gets applied there."""

from __future__ import annotations

from protocols.common.errors import Unavailable
from protocols.contract import Answer
from protocols.kv.commands import KvCommand, KvResult
from protocols.kv.rsm import ReplicatedKv


def test_the_decided_bytes_win_when_another_proposal_filled_the_slot() -> None:
    """A leader proposed A at slot 1 in term 1, lost leadership, and the next leader
    decided B there in term 2: B is applied (not the A this node still holds decoded),
    and A's client hears it was not decided here."""
    kv = ReplicatedKv()
    a = KvCommand("put", "k", "A", None, "", 0)
    b = KvCommand("put", "k", "B", None, "", 0)
    kv.propose(1, 1, "request-a", decoded=a)
    answers: list[Answer] = []
    kv.apply(1, 2, b.encode(), answers)
    assert kv.read("k").value == "B"
    assert len(answers) == 1 and isinstance(answers[0].error, Unavailable)


def test_our_own_proposal_is_applied_and_answered() -> None:
    kv = ReplicatedKv()
    a = KvCommand("put", "k", "A", None, "", 0)
    kv.propose(1, 1, "request-a", decoded=a)
    answers: list[Answer] = []
    kv.apply(1, 1, a.encode(), answers)
    assert kv.read("k").value == "A"
    assert answers == [Answer("request-a", KvResult())]
