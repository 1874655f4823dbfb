"""The random nemesis arms targeted faults (``protocols.sim.nemesis``, opt-in kinds):
``crash-point`` (a crash point of the protocol on an up node, disarmed at the fault's end
if it never fired), ``hook`` (one message type dropped, its reply lost, duplicated or
delayed on one directed link) and ``disk-pause``. Sweeps of the toy, Raft and
Multi-Paxos under them stay linearizable while the faults fire, and the fault log says
truly what fired. The same kinds on real processes: tests/raft/chaos/test_targeted_chaos.py;
each targeted fault fired by hand: tests/sim/test_targeted_faults.py."""

from __future__ import annotations

import re

import pytest

from protocols.common.ids import NodeId
from protocols.kv.commands import KvCommand
from protocols.raft.sim import ADAPTER as RAFT
from protocols.registry import load_spec
from protocols.sim import World
from protocols.sim.api import WorkloadParams
from protocols.sim.nemesis import DEFAULT_KINDS, RandomNemesis, crash_points, hook_targets
from protocols.simulate import main, run_once
from tests.toy.protocol.sim import ADAPTER as TOY

TARGETED = ("crash-point", "hook", "disk-pause")
TOY_NAME = "tests.toy.protocol:ENTRY"


def test_the_points_and_hooks_come_from_the_protocol_spec() -> None:
    toy = load_spec(TOY_NAME)
    assert crash_points(toy) == [
        "before_send:Replicate", "before_send:Ack", "before_send:Committed",
        "before_send:Forward", "before_send:Forwarded", "after_persist:LogEntry"]
    assert dict(hook_targets(toy)) == {
        "Replicate": ("drop", "drop_reply", "duplicate", "delay"),
        "Committed": ("drop", "duplicate", "delay"),  # one-way: no reply to lose
        "Forward": ("drop", "drop_reply", "duplicate", "delay")}
    assert {p for p in crash_points(load_spec("raft")) if p.startswith("after_persist")} == {
        "after_persist:HardState", "after_persist:AppendEntry", "after_persist:TruncateFrom",
        "after_persist:SaveSnapshot"}
    assert {p for p in crash_points(load_spec("paxos")) if p.startswith("after_persist")} == {
        "after_persist:BallotRecord", "after_persist:AcceptRecord",
        "after_persist:RoundRecord", "after_persist:SnapshotRecord"}
    swim = crash_points(load_spec("swim"))  # it declares no records: sends only
    assert swim and all(p.startswith("before_send:") for p in swim)


def test_targeted_kinds_are_opt_in() -> None:
    """Default kinds draw as before: every seeded sweep keeps its outcome."""
    assert not set(TARGETED) & set(DEFAULT_KINDS)
    w = World(RAFT, 3, seed=1)
    RandomNemesis(w, kinds=TARGETED)  # accepted by name


# protocol -> seeds swept (each a 5 s run of its first workload, 5 nodes)
SWEEPS = {"raft": range(1, 7), "paxos": range(1, 7), TOY_NAME: range(1, 5)}


@pytest.mark.parametrize("protocol", sorted(SWEEPS))
def test_sweeps_stay_linearizable_while_the_targeted_faults_fire(protocol: str) -> None:
    labels = []
    for seed in SWEEPS[protocol]:
        result = run_once(protocol, seed, nemesis_kinds=TARGETED)
        assert result.ok, result.failure
        assert result.verdict == "ok", result.describe()
        labels += [label for _, _, label in result.faults]
    fired = [lab for lab in labels if lab.startswith("crash-point") and "(fired)" in lab]
    hit = [lab for lab in labels if re.search(r"^hook .*\(([1-9]\d*) messages hit\)$", lab)]
    paused = [lab for lab in labels if lab.startswith("disk-pause n")]
    assert fired and hit and paused, labels


def _fault(lines: list[str], pos: int, armed: str) -> tuple[int, list[str], list[str]]:
    """The first line from ``pos`` on that ends with / holds ``armed`` (where the
    nemesis armed a fault): its index, the lines up to the heal that ended the fault,
    and the nodes started right after that heal."""
    at = next(i for i in range(pos, len(lines)) if armed in lines[i])
    heal = next(i for i in range(at, len(lines)) if lines[i].endswith(" heal"))
    restarted = []
    for line in lines[heal + 1:]:
        if " start " not in line:
            break
        restarted.append(line.split()[2])
    return at, lines[at + 1:heal], restarted


def test_the_fault_log_says_truly_what_fired() -> None:
    """Each crash point the log calls fired was reached, its node restarted when the
    fault ended; each it calls never fired was not, and was disarmed; each hook's
    count is the messages it acted on."""
    w = World(RAFT, 5, seed=3)
    w.trace_lines = []
    nemesis = RandomNemesis(w, mean_gap_ms=150, mean_fault_ms=300, stop_at_ms=12_000,
                            kinds=TARGETED)
    nemesis.start()
    # clients: entries are persisted, AppendEntries carry them
    RAFT.workloads()["kv"](w, WorkloadParams(clients=3, keys=3, stop_at_ms=12_000)).start()
    w.run_for(13_000)
    lines, pos = w.trace_lines, 0
    checked = {"fired": 0, "disarmed": 0, "hooks": 0}
    for _, _, label in nemesis.intervals:
        if label.startswith("crash-point n"):
            _, node, point, *_ = label.split()
            pos, during, restarted = _fault(lines, pos, f"arm crash point {point} on {node}")
            reached = [x for x in during if x.endswith(f"crash point {point} reached on {node}")]
            if label.endswith("(fired)"):
                assert reached and node in restarted, (label, restarted)
                assert not [x for x in during if f" start {node} " in x], "back too soon"
                checked["fired"] += 1
            else:
                assert label.endswith("(never fired: disarmed)") and not reached, label
                assert during[-1].endswith(f"disarm {point} on {node}"), label
                checked["disarmed"] += 1
        elif label.startswith("hook "):
            message, link = label.split()[1:3]
            src, dst = link.split("->")
            pos, during, _ = _fault(lines, pos, f"hook MessageHook(message='{message}'")
            if " drop_reply " in label:
                continue  # counted on replies: test_hook_hits_count_...
            sent = [x for x in during if f"send {src}->{dst} " in x
                    and f" {message} delays=" in x]
            assert label.endswith(f"({len(sent)} messages hit)"), (label, sent)
            checked["hooks"] += 1
        pos += 1
    assert all(checked.values()), (checked, nemesis.intervals)
    assert sorted(w.up_nodes()) == sorted(w.ids)  # every crashed node came back
    assert all(not node.crash_points for node in w.nodes.values())  # nothing left armed


def test_disarm_says_whether_a_point_was_still_armed() -> None:
    w = World(TOY, 3, seed=1)
    w.crash_at("n2", "before_send:Committed")  # a backup never sends Committed
    w.crash_at("n3", "after_persist:LogEntry")
    w.submit("n1", KvCommand("put", "k", "v"))
    w.run_for(500)
    assert "n3" not in w.up_nodes()
    assert w.disarm("n3", "after_persist:LogEntry") == 0  # it fired
    assert w.disarm("n2", "before_send:Committed") == 1 and not w.nodes[NodeId("n2")].crash_points
    w.crash_at("n2", "after_persist:LogEntry")
    assert w.disarm("n2") == 1  # every point of n2
    w.submit("n1", KvCommand("put", "k", "w"))
    w.run_for(500)
    assert "n2" in w.up_nodes()  # a disarmed point never fires


def test_hook_hits_count_the_messages_a_hook_acted_on() -> None:
    w = World(TOY, 3, seed=1)
    w.trace_lines = []
    drop = w.hook("Replicate", "drop", src="n1", dst="n2")
    lose = w.hook("Replicate", "drop_reply", src="n1", dst="n3")
    w.submit("n1", KvCommand("put", "k", "v"))
    w.run_for(300)  # resent while unacknowledged
    sent = [x for x in w.trace_lines if "send n1->n2 " in x and " Replicate " in x]
    replied = [x for x in w.trace_lines if x.split()[1:3] == ["reply", "n3->n1"]]
    assert len(sent) > 1 and w.hook_hits[drop] == len(sent)
    assert replied and w.hook_hits[lose] == len(replied)  # the replies lost, not requests
    assert all("delay=None" in x for x in replied)


def test_scripts_sim_takes_the_targeted_kinds_and_prints_the_fault_log(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--protocol", "raft", "--seed", "4", "--nodes", "3", "--duration-ms",
                 "3000", "--nemesis", ",".join(TARGETED)]) == 0
    out = capsys.readouterr().out
    assert "linearizability: ok" in out
    assert re.search(r"fault +[\d.]+- +[\d.]+ s  (crash-point|hook|disk-pause) ", out), out
