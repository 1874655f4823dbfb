"""A counterexample replayed on real processes (#33): the explorer's path of moves forced
on gRPC node processes in step mode (``protocols.runtime.stepper``, ``cluster.replay``),
the processes checked against the model's state after every step.

The nodes run the planted code (a copy of ``src`` with the mutation applied) as the
explorer's cores did, so the bug the explorer found breaks the same property on the
processes: two Raft leaders in one term (after messages over gRPC streams), Multi-Paxos'
ballot reused after a crash inside a write (a held write, SIGKILL, a restart from the
WAL on disk), causal broadcast's sequence number reused after a torn write (the process
writes a prefix of its record and exits), the versioned KV's acknowledged write lost.
Processes that run other code than the model leave the path, and the driver names the
step and what differs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import grpc
import pytest

from cluster.replay import ReplayDiverged, replay_on_processes
from cluster.runner import LocalCluster
from protocols._pb import admin_pb2
from protocols.common.errors import ConfigError
from protocols.explore.report import save
from protocols.explore.search import Explorer
from protocols.explore.system import Move, System
from protocols.runtime.config import cluster_config_from_dict
from tests.explore.test_paxos_model import BALLOT_REUSE
from tests.explore.test_raft_model import ELECTIONS, model
from tests.support.planted import planted, planted_tree

ROOT = Path(__file__).resolve().parents[2]


def _steps(adapter: object, words: list[str]) -> list[Move]:
    """The moves named by ``words`` (each: the first enabled move whose label has them)."""
    system = System(adapter)  # type: ignore[arg-type]
    path = []
    for step in words:
        move = next(m for m in system.moves() if all(w in str(m) for w in step.split()))
        path.append(move)
        system.apply(move)
    return path


def test_raft_two_leaders_in_one_term_on_processes_from_the_command_line(tmp_path: Path
                                                                          ) -> None:
    """vote-once planted: the explorer's 8-move counterexample, saved, then replayed by
    ``scripts/explore replay FILE --processes --plant vote-once``: three processes, and
    election safety breaks at step 8 there too."""
    with planted("vote-once"):
        result = Explorer(model("raft", **ELECTIONS)).run("bfs")  # type: ignore[arg-type]
    (cx,) = result.counterexamples
    # the CLI resolves the model by name: the test's ELECTIONS bounds only prune the
    # search, the path's moves are the default model's too
    saved = save(tmp_path / "counterexample.json", protocol="raft", model="raft",
                 size="small", counterexample=cx)
    run = subprocess.run([sys.executable, str(ROOT / "scripts" / "explore.py"), "replay",
                          str(saved), "--processes", "--plant", "vote-once"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "the processes were in the model's state after every step" in run.stdout
    assert ("broken on the processes at step 8: sim:RaftInvariants: election safety: two "
            "leaders in term 1") in run.stdout, run.stdout
    assert json.loads(saved.read_text())["path"][-1]["kind"] == "deliver"


def test_multipaxos_ballot_reuse_on_processes(tmp_path: Path) -> None:
    """round-durable planted: n1's write held (persist moves), SIGKILL inside it, a
    restart from its WAL, n1 leads ballot 2.n1 again: A4 breaks at step 23."""
    tree = planted_tree("round-durable", tmp_path)
    with planted("round-durable"):
        from protocols.registry import load_models
        adapter = load_models("paxos")["ballot-reuse"]("full")
        path = _steps(adapter, BALLOT_REUSE)
        report = replay_on_processes("paxos", "ballot-reuse", "full", adapter, path,
                                     source=tree, log=lambda _: None)
    assert [m.kind for m in path].count("crash") == 1
    assert report.broken_at == 23, report.steps
    assert report.broken is not None and "A4: ballot 2.n1 carried two commands" in report.broken


def test_causal_torn_write_reuses_a_sequence_number_on_processes(tmp_path: Path) -> None:
    """seq-from-own-messages planted: n1 exits inside its write keeping a prefix of it
    (a torn tail its WAL cuts on restart) and numbers its next broadcast as the lost
    one; the disks start as the model's (``Installed``), written by the same code."""
    tree = planted_tree("seq-from-own-messages", tmp_path)
    with planted("seq-from-own-messages"):
        from protocols.registry import load_models
        adapter = load_models("causal")["torn-sender"]("small")
        (cx,) = Explorer(adapter).run("bfs").counterexamples
        report = replay_on_processes("causal", "torn-sender", "small", adapter, cx.path,
                                     source=tree, log=lambda _: None)
    assert any(m.kind == "crash" and m.cut > 0 for m in cx.path)
    assert report.broken is not None and "n1#1" in report.broken, report.steps
    assert report.broken_at == len(cx.path)


def test_vkv_sibling_lost_by_a_put_reply_on_processes(tmp_path: Path) -> None:
    """put-reply-siblings planted: an acknowledged write is lost on the processes as in
    the model; each process draws its replica id from the explorer's FixedRandom, or its
    core would not be the model's."""
    tree = planted_tree("put-reply-siblings", tmp_path)
    with planted("put-reply-siblings"):
        from protocols.registry import load_models
        adapter = load_models("vkv")["write-again"]("small")
        (cx,) = Explorer(adapter).run("bfs").counterexamples
        report = replay_on_processes("vkv", "write-again", "small", adapter, cx.path,
                                     source=tree, log=lambda _: None)
    assert report.broken is not None and "acknowledged 'bob' is gone" in report.broken


def test_a_swim_walk_with_a_crash_on_processes() -> None:
    """Not a counterexample: SWIM's crash model walked by a seeded choice of moves until
    none is left (n3 crashes third; probes, suspicions, gossip with addresses in it).
    The processes match the model after every one: their probe order is the explorer's
    FixedRandom's, their addresses are renamed to the model's, and nothing happens
    between the steps."""
    import random

    from protocols.registry import load_models
    adapter = load_models("swim")["crash"]("small")
    system, rng, path = System(adapter), random.Random(1), []
    while moves := [m for m in system.moves()
                    if (m.kind == "crash") == (len(path) == 2 and m.node == "n3")]:
        path.append(rng.choice(moves))
        system.apply(path[-1])
    report = replay_on_processes("swim", "crash", "small", adapter, path, log=lambda _: None)
    assert len(report.steps) == len(path) and report.broken is None
    assert [m.kind for m in path].count("tick") >= 8, path


def test_processes_running_the_fixed_code_leave_the_planted_path(tmp_path: Path) -> None:
    """The check can fail: the model runs the ballot-reuse bug, the processes the fixed
    code; after n1's round-1 P1b they differ (the fixed leader wrote its round) and the
    driver stops there, naming the node and the field."""
    with planted("round-durable"):
        from protocols.registry import load_models
        adapter = load_models("paxos")["ballot-reuse"]("full")
        path = _steps(adapter, BALLOT_REUSE)
        with pytest.raises(ReplayDiverged, match=r"after step \d+: .*n1's core.*round_durable"):
            replay_on_processes("paxos", "ballot-reuse", "full", adapter, path,
                                log=lambda _: None, settle_s=5.0, data_dir=tmp_path)


async def test_a_stepped_core_draws_the_explorers_fixed_random(tmp_path: Path) -> None:
    """A versioned-KV replica names itself from its first draw: a process in step mode
    draws what the explorer's cores draw (``FixedRandom``: the least value)."""
    async with LocalCluster("vkv", 3, direct=True, data_dir=tmp_path, stepped={
            "model": "write-again", "size": "small"}) as c:
        state = await c.admin_call("n2", "StepState", admin_pb2.StepStateRequest())
    assert "'n2~00000000'" in state.core


async def test_step_mode_refuses_steps_that_are_not_possible(tmp_path: Path) -> None:
    """Bad steps get INVALID_ARGUMENT and change nothing; a node not in step mode says
    so; a malformed ``stepped`` section is refused before any process starts."""
    stepped = {"model": "raft", "size": "small", "hold_writes": ["n1"]}
    async with LocalCluster("raft", 3, direct=True, data_dir=tmp_path / "c",
                            stepped=stepped) as c:
        for request, why in [
                (admin_pb2.StepRequest(action="fly"), "expected one of tick"),
                (admin_pb2.StepRequest(action="deliver", id=99), "no held message 99"),
                (admin_pb2.StepRequest(action="timeout", id=7), "waits on no request 7"),
                (admin_pb2.StepRequest(action="persist"), "no write waiting"),
                (admin_pb2.StepRequest(action="crash", cut=3), "no write waiting to tear"),
                (admin_pb2.StepRequest(action="submit", command=5), "not 5")]:
            with pytest.raises(grpc.aio.AioRpcError) as e:
                await c.admin_call("n1", "Step", request)
            assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert why in (e.value.details() or ""), e.value.details()
        state = await c.admin_call("n1", "StepState", admin_pb2.StepStateRequest())
        assert (state.ticks, list(state.held), state.busy) == (0, [], False)
        await c.admin_call("n1", "Step", admin_pb2.StepRequest(action="tick"))
        state = await c.admin_call("n1", "StepState", admin_pb2.StepStateRequest())
        assert state.ticks == 1 and "RaftCore" in state.core
    async with LocalCluster("raft", 1, direct=True, data_dir=tmp_path / "d") as c:
        with pytest.raises(grpc.aio.AioRpcError) as e:
            await c.admin_call("n1", "StepState", admin_pb2.StepStateRequest())
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    base = {"protocol": "raft", "nodes": {"n1": {"address": "127.0.0.1:1",
                                                 "data_dir": "/tmp/x"}}}
    for bad, why in [({"model": ""}, "must name an explorer model"),
                     ({"model": "raft", "hold_writes": ["n9"]}, "must list nodes"),
                     ({"model": "raft", "size": "huge"}, "small or full"),
                     ({"model": "raft", "speed": 2}, "'model', 'size'")]:
        with pytest.raises(ConfigError, match=why):
            cluster_config_from_dict({**base, "stepped": bad})

