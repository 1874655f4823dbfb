"""2PC's workloads judged by the transaction checkers (protocols.twopc.sim, docs/twopc.md):
at every crash point the textbook draws (BHG §7.3-7.4), under the random nemesis, and
with the protocol's rules removed one at a time (``planted``), where the *checkers*, not
only the Atomicity invariant, must catch the broken mode.

Three clients run concurrently. Read-only participants are where the subtle rules are:
with locks taken at PREPARE, a read-only one may release at its vote only when asked
last, at the lock point; it is never asked by an uncertain peer (it knows nothing); and
the coordinator's decision record names only who must acknowledge (the section "read-only
voters" below, each test the one its mutation breaks).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import pytest

from protocols.check.bank import check_bank
from protocols.check.elle import check_transactions
from protocols.common.errors import ConfigError
from protocols.sim.api import SimAdapter, Verdict, WorkloadParams
from protocols.sim.nemesis import RandomNemesis
from protocols.sim.runner import run_once
from protocols.sim.world import SimulationFailure, World
from protocols.twopc.bank import key_on
from protocols.twopc.core import TwoPcCore
from protocols.twopc.messages import MicroOp, Transact
from protocols.twopc.sim import ADAPTER, TxnWorkload
from protocols.twopc.storage import Prepared
from protocols.twopc.table import State
from tests.support.planted import planted

PARTS = ("n2", "n3", "n4")  # n1 coordinates (the first node, sorted)
WORKLOADS = ("bank", "list-append")


# ====================================================================== running one
def core(w: World, n: str) -> TwoPcCore:
    return w.core(n)  # type: ignore[return-value]  # (a planted one is another class)


def start(workload: str, *, seed: int = 1, clients: int = 3, stop_at_ms: int = 2000,
          adapter: SimAdapter = ADAPTER, extra: Mapping[str, Any] | None = None,
          invariants: bool = True, **world: Any) -> tuple[World, TxnWorkload]:
    w = World(adapter, 4, seed, **world)
    if not invariants:
        w.invariants = []
    load = adapter.workloads()[workload](w, WorkloadParams(
        clients=clients, keys=3, stop_at_ms=stop_at_ms, extra=dict(extra or {})))
    load.start()  # a planted adapter's classes are the planted module's: no isinstance
    return w, load  # type: ignore[return-value]


def finish(w: World, load: TxnWorkload) -> Verdict:
    """What the runner does at the end: heal, restart, let the clients and the final
    read finish; the verdict."""
    w.run_for(max(0, load.stop_at_ms - w.now))
    w.unhook()
    w.heal()
    for n in w.ids:
        w.restart(n)
    w.run_until(lambda: load.idle, 60_000)
    return load.verdict()


def revive(w: World, n: str, down_ms: int = 300) -> None:
    """Restart ``n`` ``down_ms`` after it is found down (looked at every 50 ms)."""
    def back() -> None:
        w.restart(n)
        w.at(50, look)

    def look() -> None:
        w.at(down_ms, back) if not w.nodes[n].up else w.at(50, look)  # type: ignore[index]
    w.at(50, look)


def crash_when(w: World, n: str, predicate: Callable[[], Any], after_ms: int = 300,
               then: Callable[[], None] | None = None) -> list[int]:
    """Crash ``n`` right after the first event (from ``after_ms`` on) after which
    ``predicate()`` holds; the times it fired (once)."""
    fired: list[int] = []

    def check(world: World) -> None:
        if not fired and world.now >= after_ms and world.nodes[n].up and predicate():  # type: ignore[index]
            fired.append(world.now)
            world.crash(n)
            if then is not None:
                then()
    w.invariants.append(check)
    return fired


def assert_checked(load: TxnWorkload, verdict: Verdict) -> None:
    """The verdict passed, with a final read; and the checkers' own words."""
    assert verdict.ok, verdict.summary
    assert load.final_ok is not None and load.settled_at is not None
    if load.check == "bank":
        result = check_bank(load.history, load.initial)  # type: ignore[attr-defined]
        assert result.valid and result.transfers > 10 and result.reads >= 1
    else:
        for level in ("serializable", "strict-serializable"):
            assert check_transactions(load.history, model="list-append", level=level).valid


# ====================================================================== crash points
def _coordinator_txns(w: World) -> list[Any]:
    c = core(w, "n1").coordinator
    return list(c.txns.values()) if c is not None and w.nodes["n1"].up else []  # type: ignore[index]


def _some_votes_in(w: World) -> bool:
    return any(len(t.work) > 1 and t.state == State.WORKING and 1 <= len(t.votes) < len(t.work)
               for t in _coordinator_txns(w))


def _some_commits_out(w: World) -> bool:
    """A transaction committed at one participant, still prepared at another: its
    COMMIT reached some, not all (looked for at the participants: under presumed commit
    the coordinator forgets a commit as it sends it)."""
    up = [core(w, p).participant for p in PARTS if w.nodes[p].up]  # type: ignore[index]
    for q in up:
        for t in q.txns.values():  # type: ignore[union-attr]
            if t.state == State.PREPARED and any(
                    o is not q and o.outcomes.get(t.txn) for o in up):  # type: ignore[union-attr]
                return True
    return False


def _writing_prepared(w: World, n: str) -> bool:
    pump = w.nodes[n].pump  # type: ignore[index]
    return pump is not None and pump.writing is not None and any(
        isinstance(r, Prepared) for r in pump.writing.records)


POINTS: dict[str, Callable[[World], Callable[[], bool]]] = {
    # the coordinator, before PREPARE leaves (BHG §7.4: it aborts; nobody is uncertain)
    "coordinator before PREPARE": lambda w: _armed(w, "n1", "before_send:Prepare"),
    # the coordinator with some votes in, before it decides
    "coordinator after some votes": lambda w: _when(w, "n1", lambda: _some_votes_in(w)),
    # its decision durable, no COMMIT sent: the participants block until it restarts
    "coordinator after its decision, before any COMMIT": lambda w: _armed(
        w, "n1", "after_persist:Decided"),
    # one participant has committed, another is still uncertain
    "coordinator after some COMMITs": lambda w: _when(w, "n1", lambda: _some_commits_out(w)),
    # a participant before its PREPARED record is durable (the write under way is lost)
    "participant before PREPARED": lambda w: _when(w, "n2", lambda: _writing_prepared(w, "n2")),
    # a participant with PREPARED durable, its YES never sent
    "participant after PREPARED, before its vote": lambda w: _armed(w, "n2", "before_send:Vote"),
    # a participant with PREPARED durable: uncertain on restart, relocks and asks
    "participant after PREPARED": lambda w: _armed(w, "n2", "after_persist:Prepared"),
    # one-phase commit: the only participant's write is durable, its answer lost
    "one-phase participant after its write": lambda w: _armed(w, "n2", "after_persist:OnePhase"),
}


def _armed(w: World, n: str, point: str) -> Callable[[], bool]:
    w.at(300, lambda: w.crash_at(n, point))  # after the bank's first transaction
    revive(w, n)
    return lambda: w.disarm(n, point) == 0  # 0 still armed: it fired


def _when(w: World, n: str, predicate: Callable[[], bool]) -> Callable[[], bool]:
    fired = crash_when(w, n, predicate)
    revive(w, n)
    return lambda: bool(fired)


@pytest.mark.parametrize("presume", ["abort", "commit"])
@pytest.mark.parametrize(("point", "workload"), [
    (p, wl) for p in POINTS for wl in WORKLOADS
    if not (wl == "bank" and "one-phase" in p)])  # every bank txn spans two shards or more
def test_every_crash_point_keeps_the_history_serializable_and_the_money(
        point: str, workload: str, presume: str) -> None:
    """Each crash BHG ch. 7 draws, once, early in a run; the node back 300 ms later. The
    history is (strictly) serializable, the bank's totals constant, every transfer
    whole, nothing acknowledged lost; the final read comes once nobody is in doubt."""
    w, load = start(workload, disk_latency_ms=5 if point == "participant before PREPARED"
                    else 0, options={"inquiry_ticks": 5, "presume": presume})
    fired = POINTS[point](w)
    verdict = finish(w, load)
    assert fired(), f"the crash point {point!r} was never reached"
    assert_checked(load, verdict)


# ====================================================================== the nemesis
NEMESES = {
    "default": None,  # partition, isolate, one-way, crash, unreliable
    "targeted": ("crash-point", "hook", "disk-pause", "crash", "partition", "stall"),
}


@pytest.mark.parametrize("workload", WORKLOADS)
@pytest.mark.parametrize("nemesis", list(NEMESES))
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_seeded_runs_under_the_random_nemesis_are_valid(seed: int, nemesis: str,
                                                        workload: str) -> None:
    verdict, events = _nemesis_run(seed, nemesis, workload, duration_ms=3000)
    assert verdict.ok, verdict.summary
    assert events > 50


def _nemesis_run(seed: int, nemesis: str, workload: str, duration_ms: int
                 ) -> tuple[Verdict, int]:
    """What ``run_once`` does (nemesis until ``duration_ms``, then heal, restart, the
    final read), with the workload's ``extra``, which the runner has no flag for."""
    w, load = start(workload, seed=seed, stop_at_ms=duration_ms)
    kinds = NEMESES[nemesis]
    nemesis_run = (RandomNemesis(w, stop_at_ms=duration_ms) if kinds is None else
                   RandomNemesis(w, stop_at_ms=duration_ms, kinds=kinds))
    nemesis_run.start()
    return finish(w, load), len(load.history)


@pytest.mark.slow
@pytest.mark.parametrize("workload", WORKLOADS)
@pytest.mark.parametrize("nemesis", list(NEMESES))
def test_a_sweep_of_seeds_under_the_nemesis(nemesis: str, workload: str) -> None:
    bad = []
    for seed in range(100, 150):
        try:
            verdict, _ = _nemesis_run(seed, nemesis, workload, duration_ms=5000)
        except SimulationFailure as e:
            bad.append(f"seed {seed}: {e}")
            continue
        if not verdict.ok:
            bad.append(f"seed {seed}: {verdict.summary[:300]}")
    assert not bad, "\n".join(bad)


def test_scripts_sim_runs_a_workload_under_the_nemesis_and_prints_a_replay() -> None:
    result = run_once(ADAPTER, 7, workload="bank", clients=1, duration_ms=2000,
                      nemesis_kinds=("crash-point", "hook", "disk-pause"))
    assert result.ok, result.failure
    assert result.replay == ("scripts/sim --protocol twopc --seed 7 --clients 1 "
                             "--duration-ms 2000 --keys 3 --nemesis "
                             "crash-point,hook,disk-pause --nodes 5 --workload bank")
    assert result.verdicts[0].check == "bank"


# ====================================================================== broken modes
# every share of every transaction writes until the final read: no READ-ONLY vote, so
# what the checkers find is the planted bug's alone
WRITING: dict[str, dict[str, Any]] = {"bank": {"read_share": 0.0},
                                      "list-append": {"rmw": True}}


@contextmanager
def planted_adapter(mutation: str) -> Iterator[SimAdapter]:
    with planted(mutation):
        sim = importlib.import_module("protocols.twopc.sim")
        yield sim.ADAPTER


@pytest.mark.parametrize("workload", WORKLOADS)
def test_prepared_before_yes_is_caught_by_both_checkers(workload: str) -> None:
    """Without PREPARED forced before YES, a participant that crashes after voting comes
    back knowing nothing of the transaction (and of every earlier one it installed: its
    after-images lived in PREPARED records): the COMMIT it then gets is refused."""
    with planted_adapter("prepared-before-yes") as adapter:
        w, load = start(workload, adapter=adapter, invariants=False,
                        options={"inquiry_ticks": 5})
        _when_prepared = lambda: any(  # noqa: E731
            t.state == State.PREPARED for t in core(w, "n2").participant.txns.values())  # type: ignore[union-attr]
        fired = crash_when(w, "n2", _when_prepared, after_ms=500)
        revive(w, "n2")
        load.settle_ms = 3000  # the coordinator never ends it: do not wait long
        verdict = finish(w, load)
    assert fired and verdict.status == "violation", verdict.summary
    if load.check == "bank":
        names = check_bank(load.history, load.initial).names()  # type: ignore[attr-defined]
        assert {"torn-transfer", "wrong-total"} <= set(names), names
    else:
        names = check_transactions(load.history, model="list-append",
                                   level="serializable").names()
        assert "incompatible-order" in names, names


@pytest.mark.parametrize("workload", WORKLOADS)
def test_a_decision_not_forced_loses_an_acknowledged_transaction(workload: str) -> None:
    """The coordinator answers COMMIT with nothing on its disk; its COMMITs are lost and
    it crashes: on restart it presumes abort, and the participants abort what the client
    was told committed. Atomicity holds (everyone aborted): only the checkers see it.
    (The invariant is off: with every COMMIT lost, the run's other transactions end by
    inquiry, where it may fire first.)"""
    with planted_adapter("decision-forced") as adapter:
        w, load = start(workload, adapter=adapter, options={"inquiry_ticks": 5},
                        extra=WRITING[workload], invariants=False)
        hook = w.hook("Decision", "drop", src="n1")
        acked = lambda: any(  # noqa: E731  # a COMMIT answered, on two shards or more
            t.answered and t.state == State.COMMITTED and len(t.work) > 1
            for t in _coordinator_txns(w))
        fired = crash_when(w, "n1", acked, after_ms=300, then=lambda: w.unhook(hook))
        revive(w, "n1")
        verdict = finish(w, load)
    assert fired and verdict.status == "violation", verdict.summary
    if load.check == "bank":
        assert "lost-transfer" in check_bank(load.history, load.initial).names()  # type: ignore[attr-defined]
    else:
        result = check_transactions(load.history, model="list-append",
                                    level="strict-serializable")
        assert "lost-append" in result.names(), result.summary()


@pytest.mark.parametrize("workload", WORKLOADS)
def test_locks_released_at_prepare_break_the_bank_and_serializability(workload: str) -> None:
    """Locks released when PREPARED is forced (not at the outcome): a second transaction
    computes its after-images over values the first is about to overwrite; both commit
    and one's writes are lost. Decisions delayed 100 ms keep transactions uncertain
    long enough for three clients to meet. Every share writes (transfers only, and
    rmw list-append), so the read-only bug above plays no part; the same runs pass
    without the mutation."""
    with planted_adapter("locks-held-while-uncertain") as adapter:
        w, load = start(workload, adapter=adapter, clients=3, extra=WRITING[workload])
        w.hook("Decision", "delay", src="n1", delay_ms=100)
        verdict = finish(w, load)
    assert verdict.status == "violation", verdict.summary
    if load.check == "bank":
        names = set(check_bank(load.history, load.initial).names())  # type: ignore[attr-defined]
        assert {"wrong-total", "lost-transfer"} <= names, names
    else:
        names = set(check_transactions(load.history, model="list-append",
                                       level="serializable").names())
        assert names & {"incompatible-order", "lost-update", "G-single"}, names
    w, load = start(workload, clients=3, extra=WRITING[workload])  # the real rules
    w.hook("Decision", "delay", src="n1", delay_ms=100)
    assert_checked(load, finish(w, load))


# ====================================================================== read-only voters
@pytest.mark.parametrize("workload", WORKLOADS)
def test_concurrent_clients_without_faults(workload: str) -> None:
    """Three clients, no fault. Were a read-only participant to release its locks at its
    vote while the transaction had not yet locked elsewhere, a whole-bank read R older
    than a transfer T could read shard A and release before T's PREPARE got there, wait
    at B where T prepared, and read B after T committed: half a transfer (G-single in
    list-append). The coordinator asks the read-only participant last, at the lock
    point (``read-only-after-lock-point``)."""
    w, load = start(workload, clients=3)
    assert_checked(load, finish(w, load))
    assert load.counts["ok"] > 50


def test_a_read_only_peer_is_not_asked_and_so_cannot_abort_a_committed_transaction(
        ) -> None:
    """T appends on n2 and reads on n3; committed and acknowledged; its COMMIT to n2 is
    lost and the coordinator crashes. n3 voted READ-ONLY and forgot T: asked, it would
    find T in INIT and answer "aborted" as one that never voted, and n2 would abort what
    the client was told committed. n3 is not among the voters n2 may ask
    (``read-only-voter-not-asked``): n2 blocks until the coordinator returns, then
    commits."""
    w = World(ADAPTER, 4, 1, options={"inquiry_ticks": 5})
    x, y = key_on("x", "n2", PARTS), key_on("y", "n3", PARTS)
    w.hook("Decision", "drop", src="n1", dst="n2")
    rid = w.submit("n1", Transact((MicroOp("append", x, 1), MicroOp("r", y))))
    assert w.run_until(lambda: w.answers.get(rid), 2_000).error is None  # committed
    w.crash("n1")
    p = core(w, "n2").participant
    assert p is not None
    w.run_for(1_000)
    assert p.in_doubt() and p.data.get(x) is None  # blocked, not aborted
    w.unhook()
    w.restart("n1")
    w.run_until(lambda: not core(w, "n2").participant.in_doubt(), 3_000)  # type: ignore[union-attr]
    assert core(w, "n2").participant.data.get(x) == (1,)  # type: ignore[union-attr]


def test_a_recovered_coordinator_ends_a_commit_with_a_read_only_voter() -> None:
    """The decision durable, the coordinator crashed before any COMMIT left. Its log
    names who must hear the decision: the YES voters, not the READ-ONLY one, which
    would refuse a COMMIT it never voted YES on and never acknowledge it
    (``decided-names-the-told``). On restart it commits at the writer and ends."""
    w = World(ADAPTER, 4, 1, options={"inquiry_ticks": 5})
    x, y = key_on("x", "n2", PARTS), key_on("y", "n3", PARTS)
    w.crash_at("n1", "after_persist:Decided")
    w.submit("n1", Transact((MicroOp("append", x, 1), MicroOp("r", y))))
    w.run_until(lambda: not w.nodes["n1"].up, 2_000)  # type: ignore[index]
    w.restart("n1")
    w.run_until(lambda: core(w, "n2").participant.data.get(x) == (1,), 2_000)  # type: ignore[union-attr]
    w.run_for(3_000)
    assert not core(w, "n1").coordinator.txns  # type: ignore[union-attr]


@pytest.mark.parametrize(("workload", "keys"), [("bank", 513), ("list-append", 1025)])
def test_a_final_read_too_large_for_one_transaction_is_refused_before_the_run(
        workload: str, keys: int) -> None:
    """A transaction holds at most ``MAX_TXN_OPS`` micro-ops; the whole-bank read (an
    account and its ledger each) and list-append's final read are one transaction."""
    with pytest.raises(ConfigError, match="above 1024"):
        run_once(ADAPTER, 1, workload=workload, keys=keys)
