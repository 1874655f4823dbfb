"""Each part of the contract the toy uses, shown working on the core and by hand (the
same parts on both drivers: tests/toy/sim/test_contract.py and
tests/toy/integration/test_contract.py): ``ahead_of_persist`` with ``on_persisted``,
trace lines, its options through ``check_options``, ``message_size``."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from protocols.common.errors import ConfigError
from protocols.common.ids import NodeId
from protocols.kv.commands import KvCommand
from tests.support.by_hand import ByHand, InFlight
from tests.toy.protocol import SPEC
from tests.toy.protocol.core import ToyCore, ToyOptions
from tests.toy.protocol.messages import Ack, Committed, Forward, Forwarded, Replicate

PUT = KvCommand("put", "k", "v")


def replicate_to(dst: str) -> Callable[[InFlight], bool]:
    return lambda m: not m.is_reply and isinstance(m.msg, Replicate) and m.dst == dst


def test_replicate_leaves_before_the_primarys_own_write_which_counts_once_durable() -> None:
    """Raft thesis §10.2.1's parallel write: the primary's Replicate is ahead_of_persist,
    so it is in flight while the primary's disk is still writing; the primary's own copy
    joins a majority only when on_persisted says it is on disk."""
    h = ByHand(SPEC, 3)
    h.hold_writes("n1")  # n1's disk is slow
    h.submit("n1", "w", PUT)
    assert h.find(replicate_to("n2")) and h.find(replicate_to("n3"))  # sent already
    h.drop(replicate_to("n3"))
    h.deliver(replicate_to("n2"))
    h.deliver(lambda m: m.is_reply and isinstance(m.reply, Ack))
    primary = h.core("n1")
    assert isinstance(primary, ToyCore)
    # n2 holds the entry, n1's own write is not done: one of three, no majority yet
    assert primary.durable == 0 and primary.commit_index == 0 and "w" not in h.answers
    h.complete_write("n1")
    assert primary.durable == 1 and primary.commit_index == 1
    assert h.answers["w"].error is None


def test_commits_are_traced() -> None:
    core = ToyCore(NodeId("n1"), [], [])
    core.submit("w", PUT)
    first = core.ready()
    assert first.persist and not first.trace  # nothing commits before it is durable
    core.on_persisted()
    second = core.ready()
    assert second.trace == ["commit 1..1"] and [a.request_id for a in second.answers] == ["w"]


def test_resends_follow_the_resend_ticks_option() -> None:
    core = ToyCore(NodeId("n1"), [NodeId("n2")], [PUT.encode()],
                   ToyOptions.from_mapping({"resend_ticks": 3}))
    core.ready()
    for _ in range(2):
        core.tick()
        assert core.ready().messages == []
    core.tick()
    sent = [e.msg for e in core.ready().messages]
    assert sent == [Replicate(1, PUT.encode()), Committed(1)]


@pytest.mark.parametrize(("options", "error"), [
    ({"resend_ticks": 0}, r"toy option resend_ticks must be an integer >= 1 .*got 0"),
    ({"fsync": "no"}, r"toy option fsync must be true or false .*got 'no'"),
    ({"resend": 5}, r"unknown toy option\(s\) resend; known: fsync, resend_max, "
                    r"resend_ticks"),
])
def test_bad_options_are_refused_before_anything_starts(options: dict[str, object],
                                                        error: str) -> None:
    with pytest.raises(ConfigError, match=error):
        SPEC.check_options(options, 3)


def test_message_size_counts_the_commands_carried() -> None:
    command = KvCommand("put", "k", "v" * 100).encode()
    assert SPEC.message_size(Replicate(1, command)) == 12 + len(command)
    assert SPEC.message_size(Forward(1, command)) == 12 + len(command)
    assert SPEC.message_size(Forwarded(value="abc")) == 11
    assert SPEC.message_size(Committed(4)) == SPEC.message_size(Ack(4)) == 8
