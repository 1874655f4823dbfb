"""Targeted faults in the simulator: crash points, message hooks, a paused disk and
per-message deadlines fire exactly where they say (``World.crash_at``, ``World.hook``,
``World.pause_disk``; ``protocols.common.crashpoints``). The same faults on real
processes: tests/cluster/test_targeted_faults.py.

The toy protocol (primary-backup, tests/toy/protocol) is the subject: n1 is the primary;
a write is persisted by the primary (a ``LogEntry`` record) while ``Replicate`` goes to
each backup, which persists it and answers ``Ack`` once it is durable."""

from __future__ import annotations

from protocols.common.errors import Unavailable
from protocols.common.ids import NodeId
from protocols.kv.commands import KvCommand, KvResult
from protocols.sim import World
from tests.toy.protocol import FORWARD_DEADLINE_MS
from tests.toy.protocol.core import ToyCore
from tests.toy.protocol.sim import ADAPTER


def world(seed: int = 1) -> World:
    w = World(ADAPTER, 3, seed=seed)
    w.trace_lines = []
    return w


def log_of(w: World, n: str) -> list[bytes]:
    core = w.core(n)
    assert isinstance(core, ToyCore)
    return list(core.log)


def match(w: World, backup: str) -> int:
    st = w.status("n1")
    assert st is not None
    return int(st.details[f"match.{backup}"])


def lines(w: World, needle: str) -> list[str]:
    assert w.trace_lines is not None
    return [line for line in w.trace_lines if needle in line]


def put(w: World, value: str, at: str = "n1") -> int:
    rid: int = w.submit(at, KvCommand("put", "k", value))
    return rid


def test_after_persist_the_record_survives_and_its_reply_never_leaves() -> None:
    w = world()
    w.crash_at("n2", "after_persist:LogEntry")
    put(w, "v1")
    w.run_until(lambda: "n2" not in w.up_nodes(), max_ms=1000)
    assert lines(w, "crash point after_persist:LogEntry reached on n2")
    assert not lines(w, "reply n2->n1"), "n2's Ack left although it crashed first"
    assert match(w, "n2") == 0
    w.restart("n2")
    assert len(log_of(w, "n2")) == 1  # the record was durable
    w.run_until(lambda: match(w, "n2") == 1, max_ms=1000)
    put(w, "v2")  # a second LogEntry: the point fired once, it is not armed any more
    w.run_until(lambda: match(w, "n2") == 2, max_ms=1000)
    assert "n2" in w.up_nodes()


def test_before_send_the_reply_never_leaves_and_what_it_waited_for_is_durable() -> None:
    w = world()
    w.crash_at("n2", "before_send:Ack")
    put(w, "v1")
    w.run_until(lambda: "n2" not in w.up_nodes(), max_ms=1000)
    assert not lines(w, "reply n2->n1")
    w.restart("n2")
    assert len(log_of(w, "n2")) == 1  # an Ack leaves only once its entry is durable


def test_before_send_of_a_message_sent_ahead_of_its_persist_loses_both() -> None:
    """The primary sends Replicate ahead of its own write (ahead_of_persist): a crash
    right before it leaves comes before the write too."""
    w = world()
    w.crash_at("n1", "before_send:Replicate")
    rid = put(w, "v1")
    w.run_until(lambda: "n1" not in w.up_nodes(), max_ms=1000)
    assert not lines(w, "send n1->")
    w.restart("n1")
    w.run_for(500)
    assert log_of(w, "n1") == [] and log_of(w, "n2") == [] and rid not in w.answers


def test_a_dropped_message_type_is_dropped_on_its_link_only() -> None:
    w = world()
    w.hook("Replicate", "drop", src="n1", dst="n2")
    rid = put(w, "v1")
    w.run_until(lambda: rid in w.answers, max_ms=1000)  # n1 + n3 are a majority
    w.run_for(500)  # resends keep being dropped
    assert log_of(w, "n2") == [] and len(log_of(w, "n3")) == 1
    w.unhook()
    w.run_until(lambda: len(log_of(w, "n2")) == 1, max_ms=1000)


def test_a_dropped_reply_was_delivered_but_never_heard() -> None:
    w = world()
    w.hook("Replicate", "drop_reply", src="n1", dst="n2")
    put(w, "v1")
    w.run_for(500)
    assert len(log_of(w, "n2")) == 1 and match(w, "n2") == 0
    w.unhook()
    w.run_until(lambda: match(w, "n2") == 1, max_ms=1000)


def test_a_duplicated_message_arrives_twice() -> None:
    w = world()
    w.hook("Replicate", "duplicate", src="n1", dst="n2")
    put(w, "v1")
    w.run_for(50)
    sent = [line for line in lines(w, "send n1->n2") if "Replicate" in line]
    assert sent and all("delays=[" in s and s.count(",") == 1 for s in sent), sent
    assert len(lines(w, "reply n2->n1")) == 2 * len(sent)  # each copy answered
    w.unhook()
    put(w, "v2")
    w.run_for(50)
    assert "delays=[" in lines(w, "send n1->n2")[-2] and lines(w, "send n1->n2")[-2].count(
        ",") == 0, "the hook is gone"


def test_a_delayed_message_type_arrives_that_much_later() -> None:
    w = world()
    w.hook("Replicate", "delay", src="n1", dst="n2", delay_ms=300)
    put(w, "v1")
    w.run_until(lambda: len(log_of(w, "n3")) == 1, max_ms=1000)
    started = w.now
    w.run_until(lambda: len(log_of(w, "n2")) == 1, max_ms=1000)
    assert w.now - started >= 300 - 10  # n3's copy arrived within the network's 1..5 ms


def test_a_paused_disk_holds_the_reply_that_needs_it() -> None:
    w = world()
    w.pause_disk("n2", 400)
    started = w.now
    put(w, "v1")
    w.run_until(lambda: len(log_of(w, "n2")) == 1, max_ms=1000)  # taken, not yet durable
    w.run_for(300)
    assert match(w, "n2") == 0, "n2 acknowledged an entry its paused disk had not written"
    w.run_until(lambda: match(w, "n2") == 1, max_ms=1000)
    assert w.now - started >= 400


def test_each_request_waits_for_its_own_deadline() -> None:
    """A Forward declares a deadline of its own (its answer waits for a commit); a
    Replicate takes the driver's default: each request to the unreachable primary fails
    after its own."""
    w = world()
    w.cut("n2", "n1")
    rid = w.submit("n2", KvCommand("put", "k", "v"))
    started = w.now
    w.run_until(lambda: rid in w.answers, max_ms=FORWARD_DEADLINE_MS + 1000)
    assert isinstance(w.answers[rid].error, Unavailable)
    assert FORWARD_DEADLINE_MS <= w.now - started < FORWARD_DEADLINE_MS + 50
    w.cut("n1", "n3")  # a Replicate to n3 fails after the driver's default deadline
    put(w, "v")
    failed = w.now
    st = w.status("n1")
    assert st is not None and st.details["send_failed.Replicate"] == "0"
    w.run_until(lambda: w.status("n1").details["send_failed.Replicate"] != "0",  # type: ignore[union-attr]
                max_ms=1000)
    assert w.now - failed == w.rpc_timeout_ms < FORWARD_DEADLINE_MS


def test_two_groups_on_the_same_nodes_keep_their_own_state_and_survive_a_crash() -> None:
    """Many cores per process: group "g2" is a second toy cluster on the same three
    nodes, its messages addressed to (g2, node), its state in its own directory."""
    w = world()
    w.add_group("g2", ADAPTER.spec, ["n1", "n2", "n3"])
    a = w.submit("n1", KvCommand("put", "k", "default"))
    b = w.submit("n2", KvCommand("put", "k", "second"), group="g2")  # forwarded, in g2
    w.run_until(lambda: a in w.answers and b in w.answers, max_ms=2000)
    assert w.answers[b].error is None
    w.run_for(300)
    g2 = w.group_core("n3", "g2")
    assert isinstance(g2, ToyCore) and len(g2.log) == 1 and len(log_of(w, "n3")) == 1
    assert g2.log != log_of(w, "n3")
    w.crash("n1")  # the process: both of its cores
    assert w.nodes[NodeId("n1")].slots == {}
    w.restart("n1")
    r1 = w.submit("n1", KvCommand("get", "k"))
    r2 = w.submit("n1", KvCommand("get", "k"), group="g2")
    w.run_until(lambda: r1 in w.answers and r2 in w.answers, max_ms=2000)
    assert w.answers[r1].result == KvResult(True, "default")
    assert w.answers[r2].result == KvResult(True, "second")
    w.remove_group("g2")
    gone = w.submit("n1", KvCommand("get", "k"), group="g2")
    w.run_for(500)
    assert gone not in w.answers  # no such core: as a request to a down node


def test_a_deferred_reply_is_let_go_at_its_senders_deadline() -> None:
    """n2 forwards a write to the primary, which owes a deferred reply until it commits;
    cut off from n3, n4, n5 it cannot commit before n2's Forward deadline passes. The
    primary then forgets the reply, and when the write commits after the heal, no
    Forwarded leaves for a sender that stopped waiting."""
    w = World(ADAPTER, 5, seed=1)
    w.trace_lines = []
    for other in ("n3", "n4", "n5"):
        w.cut("n1", other)
    rid = w.submit("n2", KvCommand("put", "k", "v"))
    w.run_until(lambda: w.nodes[NodeId("n1")].inbox.waiting == 1, max_ms=100)  # type: ignore[union-attr]
    w.run_until(lambda: rid in w.answers, max_ms=FORWARD_DEADLINE_MS + 1000)
    assert isinstance(w.answers[rid].error, Unavailable)
    w.run_for(50)  # past the deadline as the primary counts it (from the arrival)
    assert w.nodes[NodeId("n1")].inbox.waiting == 0  # type: ignore[union-attr]
    w.heal()
    w.run_until(lambda: len(log_of(w, "n3")) == 1, max_ms=2000)
    w.run_for(500)
    assert not [line for line in lines(w, "reply n1->n2") if "Forwarded" in line]
