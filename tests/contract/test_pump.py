"""The contract's Pump, rule by rule, on a scripted core: the order persist -> send ->
apply -> answer, messages sent ahead of a write, replies held until durable, group
commit, on_persisted, deferred replies. Each test fails if its rule is removed."""

from __future__ import annotations

from typing import Any

import pytest

from protocols.common.ids import NodeId
from protocols.contract import (
    Answer,
    Arrival,
    Core,
    Deferred,
    Envelope,
    Inbox,
    MessageTable,
    NodeStatus,
    OneWay,
    Pump,
    PumpActions,
    Ready,
    Reply,
    Rpc,
)


class Scripted(Core):
    """A core whose next Readies the test writes by hand."""

    def __init__(self) -> None:
        self.node_id = NodeId("n1")
        self.queue: list[Ready] = []
        self.persisted = 0

    def ready(self) -> Ready:
        return self.queue.pop(0) if self.queue else Ready()

    def on_persisted(self) -> None:
        self.persisted += 1

    def status(self) -> NodeStatus:
        return NodeStatus()


def pump_with_log(core: Scripted) -> tuple[Pump, list[str]]:
    log: list[str] = []
    pump = Pump(core, PumpActions(
        send=lambda e: log.append(f"send {e.msg}"),
        reply=lambda r: log.append(f"reply {r.msg}"),
        apply=lambda x: log.append(f"apply {x}"),
        answer=lambda a: log.append(f"answer {a.result}"),
        trace=lambda t: log.append(f"trace {t}")))
    return pump, log


def test_one_ready_is_acted_on_in_the_only_safe_order() -> None:
    core = Scripted()
    d = Deferred()
    core.queue.append(Ready(persist=["rec"], messages=[Envelope(NodeId("n2"), "m")],
                            replies=[Reply(d, "r")], applied=["e"],
                            answers=[Answer(1, "a")], trace=["t"]))
    pump, log = pump_with_log(core)
    pump.note_input()
    written: list[Any] = []

    def save(records: Any) -> None:
        written.append(list(records))
        log.append("persist")

    pump.run_sync(save)
    assert written == [["rec"]]
    assert log == ["persist", "send m", "reply r", "apply e", "answer a", "trace t"]
    assert core.persisted == 1


def test_nothing_but_ahead_of_persist_messages_leaves_during_a_write() -> None:
    core = Scripted()
    core.queue.append(Ready(persist=["rec"], messages=[
        Envelope(NodeId("n2"), "ahead", ahead_of_persist=True), Envelope(NodeId("n2"), "after")],
        answers=[Answer(1, "a")]))
    pump, log = pump_with_log(core)
    pump.note_input()
    write = pump.step()
    assert write is not None and write.records == ["rec"]
    assert log == ["send ahead"]  # the rest waits for the disk
    assert not pump.needs_step  # one write at a time
    with pytest.raises(AssertionError, match="while a write is in flight"):
        pump.step()
    pump.write_done()
    assert log == ["send ahead", "send after", "answer a"]  # "ahead" is not sent twice


def test_a_reply_is_held_until_the_input_that_produced_it_is_durable() -> None:
    core = Scripted()
    pump, log = pump_with_log(core)
    core.queue.append(Ready(persist=["vote"]))
    seq = pump.note_input()
    pump.after_durable(seq, lambda: log.append("reply leaves"))
    write = pump.step()
    assert write is not None and log == []  # still writing: the reply waits
    pump.write_done()
    assert log == ["reply leaves"]
    pump.after_durable(seq, lambda: log.append("at once"))  # durable already: no wait
    assert log[-1] == "at once"


def test_inputs_arriving_during_a_write_share_the_next_one() -> None:
    core = Scripted()
    pump, log = pump_with_log(core)
    core.queue.append(Ready(persist=["a"]))
    first = pump.note_input()
    write = pump.step()
    assert write is not None
    # two more inputs while the disk is busy: their output goes in one later write
    core.queue.append(Ready(persist=["b", "c"]))
    second, third = pump.note_input(), pump.note_input()
    pump.after_durable(third, lambda: log.append("third durable"))
    assert not pump.needs_step
    pump.write_done()
    assert pump.durable == first and log == []
    write = pump.step()
    assert write is not None and write.records == ["b", "c"]
    pump.write_done()
    assert pump.durable >= third > second and log == ["third durable"]
    assert core.persisted == 2


def test_on_persisted_output_is_drained_after_the_write() -> None:
    class CommitsOnPersist(Scripted):
        def on_persisted(self) -> None:
            super().on_persisted()
            self.queue.append(Ready(answers=[Answer(7, "committed")]))

    core = CommitsOnPersist()
    core.queue.append(Ready(persist=["entry"]))
    pump, log = pump_with_log(core)
    pump.note_input()
    pump.run_sync(lambda records: None)
    assert log == ["answer committed"]


def test_write_done_without_a_write_is_a_bug() -> None:
    pump, _ = pump_with_log(Scripted())
    with pytest.raises(AssertionError, match="no write in flight"):
        pump.write_done()


def test_a_deferred_reply_waits_for_the_persist_of_its_ready() -> None:
    """A deferred reply speaks like any message: it leaves only once what the same
    Ready persisted is durable (the toy's primary answers a forwarded write this way)."""
    core = Scripted()
    d = Deferred("forward 1")
    core.queue.append(Ready(persist=["commit record"], replies=[Reply(d, "result")]))
    pump, log = pump_with_log(core)
    pump.note_input()
    assert pump.step() is not None and log == []
    pump.write_done()
    assert log == ["reply result"]


# ---------------------------------------------------------------------- the inbox
class Request:
    pass


class Note:
    pass


class Answers(Scripted):
    """A core whose answer to the next peer message the test sets."""

    def __init__(self, answer: Any) -> None:
        super().__init__()
        self.answer = answer

    def on_message(self, src: NodeId, msg: Any) -> Any:
        return self.answer


def inbox_of(core: Scripted) -> tuple[Inbox, Pump, list[str]]:
    pump, log = pump_with_log(core)
    return Inbox(MessageTable([Rpc(Request, str), OneWay(Note)])), pump, log


def test_a_one_way_message_that_is_answered_is_a_bug_in_the_core() -> None:
    inbox, pump, _ = inbox_of(Answers("a reply nobody waits for"))
    with pytest.raises(AssertionError, match="replied to the one-way Note"):
        inbox.receive(pump, NodeId("n2"), Note(), lambda reply: None)
    inbox, pump, _ = inbox_of(Answers(None))
    assert inbox.receive(pump, NodeId("n2"), Note(), lambda reply: None) is Arrival.ONE_WAY


def test_a_deferred_reply_let_go_at_its_deadline_is_never_sent() -> None:
    """The sender stopped waiting (``expire``, at its deadline): when the core answers
    later, nothing leaves; a deferred reply still owed leaves as usual."""
    late, owed = Deferred("late"), Deferred("owed")
    sent: list[Any] = []
    inbox, pump, _ = inbox_of(Answers(late))
    assert inbox.receive(pump, NodeId("n2"), Request(), sent.append) is late
    pump.core.answer = owed  # type: ignore[attr-defined]
    assert inbox.receive(pump, NodeId("n3"), Request(), sent.append) is owed
    assert inbox.waiting == 2
    inbox.expire(late)
    assert inbox.waiting == 1
    inbox.release(Reply(late, "too late"))
    inbox.release(Reply(owed, "in time"))
    assert sent == ["in time"] and inbox.waiting == 0
