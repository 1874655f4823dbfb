"""SWIM in the simulator: dissemination in O(log N) periods, detection within the paper's
bounds, no deaths under 10% message loss, partitions that heal, the gossip workload under
the random nemesis, and what each Lifeguard refinement buys (seeded, replayable: each
world's seed is in its name, and ``swim_world(N, seed, options)`` rebuilds it).
"""

from __future__ import annotations

import math
import statistics

import pytest

from protocols.check.swim import membership_disagreements
from protocols.common.ids import NodeId
from protocols.sim.nemesis import KINDS
from protocols.sim.network import NetworkConfig
from protocols.sim.world import World
from protocols.simulate import run_once
from protocols.swim.core import SwimCore
from protocols.swim.messages import State
from protocols.swim.options import SwimOptions
from protocols.swim.sim import (
    LIFEGUARD_OFF,
    Detection,
    all_see,
    cores,
    detect_failure,
    disseminate_join,
    disseminate_update,
    false_positives,
    settle,
    swim_world,
    views,
)

PERIOD_MS = SwimOptions().probe_interval_ms
LOSS_10 = NetworkConfig(drop_request_rate=0.1, drop_reply_rate=0.1)


def periods(ms: int) -> float:
    return ms / PERIOD_MS


# ====================================================================== dissemination
def _spread(n: int, seeds: range, options: dict[str, object] | None = None) -> list[float]:
    """c = periods / log2(N) for an update and for a join, over ``seeds``."""
    cs = []
    for seed in seeds:
        w = swim_world(n, seed, options, tick_ms=50 if n <= 64 else 100)
        w.run_for(3000)
        cs.append(periods(disseminate_update(w, "n3")) / math.log2(n))
        cs.append(periods(disseminate_join(w, "n4")) / math.log2(n))
    print(f"N={n} {options or ''}: c = {statistics.median(cs):.2f} median, "
          f"{max(cs):.2f} max over {len(cs)}")
    return cs


@pytest.mark.parametrize("n", [16, 64, 256])
def test_an_update_and_a_join_reach_every_member_in_c_log2_n_periods(n: int) -> None:
    cs = _spread(n, range(2))
    assert max(cs) <= 3.0 and statistics.median(cs) <= 1.0


def test_the_papers_piggybacking_alone_also_spreads_in_log_n_periods() -> None:
    """Without memberlist's gossip step: only pings and acks carry updates (§4.1)."""
    cs = _spread(64, range(2), {"gossip_interval_ms": 0})
    assert max(cs) <= 3.0


# ====================================================================== detection
OPTS = SwimOptions()
K = OPTS.suspicion_mult - 2  # Lifeguard's expected confirmations (memberlist's k)


def min_suspicion(n: int) -> float:
    """The suspicion timeout Lifeguard shrinks to, in periods: mult * max(1, log10 N)."""
    return periods(int(OPTS.suspicion_timeout_ms(n)))


def dead_everywhere_bound(n: int) -> float:
    """Periods from the first suspicion of a crashed member until every member holds it
    dead. Lifeguard §IV-B: k = suspicion_mult - 2 independent suspicions bring the
    timeout down to its minimum (not the maximum, suspicion_max_mult times longer, that
    one accuser alone waits). About one member probes the victim each period (N-2
    probers, each over N-1 targets per pass), so the k confirmations take about k
    periods, and the minimum (at least k + 2 periods: memberlist's "two probe intervals
    short") is what rules; a period more for the Dead to spread (memberlist's gossip
    step: fan-out 3 every 200 ms, log3 N rounds)."""
    return min_suspicion(n) + K + 1


def check_detection(n: int, d: Detection) -> tuple[float, float]:
    """Per crash: §4.3 round robin finds a failure within 2N-1 periods; everyone holds
    it dead within ``dead_everywhere_bound``. Returns (first, spread) in periods."""
    first = periods(d.first_suspicion_ms)
    spread = periods(d.all_dead_ms - d.first_suspicion_ms)
    assert first <= 2 * n - 1
    assert spread <= dead_everywhere_bound(n), \
        f"dead everywhere {spread:.1f} periods after the first suspicion (bound " \
        f"{dead_everywhere_bound(n):.1f}; Lifeguard's maximum would be " \
        f"{min_suspicion(n) * OPTS.suspicion_max_mult:.0f})"
    return first, spread


@pytest.mark.parametrize("n", [8, 32])
def test_a_killed_member_is_detected_within_the_papers_bounds(n: int) -> None:
    """§5: some member first probes it after e/(e-1) periods on average, and that probe
    takes a period more; then Lifeguard's confirmations shrink the suspicion to its
    minimum (``dead_everywhere_bound``): on average the minimum and about a period to
    spread. 40 crashes at different phases."""
    firsts, spreads = [], []
    for seed in range(40):
        w = swim_world(n, seed)
        w.run_for(2000 + seed * 137)  # the crash falls anywhere in a period
        first, spread = check_detection(n, detect_failure(w, "n2"))
        firsts.append(first)
        spreads.append(spread)
    print(f"N={n}: first suspicion {statistics.mean(firsts):.2f} periods on average "
          f"(paper: e/(e-1) = 1.58, + 1 for the probe), everyone "
          f"{statistics.mean(spreads):.2f} periods later (minimum timeout "
          f"{min_suspicion(n):.2f})")
    assert statistics.mean(firsts) <= math.e / (math.e - 1) + 1
    assert statistics.mean(spreads) <= min_suspicion(n) + 1


# 15 s: the slow suite (with its seeds below); the bounds are checked by default up to
# 256 members, and `scripts/bench swim` measures 1 000
@pytest.mark.slow
def test_a_thousand_members() -> None:
    """The same bounds at 1 000 members, over a few periods: an update reaches everyone
    in c*log2 N periods, a crash is first suspected within a few periods (a period
    without any probe of the victim has probability (1 - 1/(N-1))^(N-1) ~ 1/e, so
    t periods e^-t: 10 periods, 5e-5) and is dead everywhere within the bound."""
    w = swim_world(1000, 7, tick_ms=100)
    w.run_for(1000)
    c = periods(disseminate_update(w, "n3")) / math.log2(1000)
    first, spread = check_detection(1000, detect_failure(w, "n500"))
    print(f"N=1000: update c = {c:.2f}; first suspicion {first:.1f} periods, dead "
          f"everywhere {spread:.1f} periods later (bound {dead_everywhere_bound(1000):.1f})")
    assert c <= 1.0 and first <= 1 + 10


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(3))
def test_a_thousand_members_over_seeds(seed: int) -> None:
    cs = _spread(1000, range(seed, seed + 1))
    assert max(cs) <= 3.0
    w = swim_world(1000, 100 + seed, tick_ms=100)
    w.run_for(2000 + seed * 337)
    check_detection(1000, detect_failure(w, "n500"))


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(2))
def test_no_false_positive_among_a_thousand_members_under_loss(seed: int) -> None:
    """Nobody fails, 10% of messages are lost: suspicions, but every one refuted."""
    w = swim_world(1000, 200 + seed, network=LOSS_10, tick_ms=100)
    w.run_for(60_000)
    checker = w.invariants[0]
    print(f"seed {seed}: {len(checker.suspicions)} suspicions, {len(checker.deaths)} deaths")
    assert not checker.deaths, f"swim_world(1000, {200 + seed}, network=LOSS_10): " \
                               f"{sorted(checker.deaths)[:10]}"
    assert checker.suspicions, "the loss is real: some probes failed"


def test_no_live_member_is_declared_dead_under_10_percent_message_loss() -> None:
    for seed in range(3):
        for options in ({}, LIFEGUARD_OFF):
            w = swim_world(32, seed, options, network=LOSS_10)
            w.run_for(60_000)
            checker = w.invariants[0]
            assert not checker.deaths, f"seed {seed} {options}: {sorted(checker.deaths)}"
            assert checker.suspicions, "the loss is real: some probes failed"


def test_membership_converges_after_a_partition_into_halves_heals() -> None:
    for seed in range(3):
        w = swim_world(16, seed)
        w.run_for(2000)
        w.partition([w.ids[:8], w.ids[8:]])
        w.run_for(60_000)
        assert all_dead_across(w, w.ids[:8], w.ids[8:]), "each half declared the other dead"
        w.heal()
        took = settle(w, lambda w=w: not membership_disagreements(views(w), w.ids), 60_000)
        assert periods(took) <= 20


def all_dead_across(w: World, left: list[NodeId], right: list[NodeId]) -> bool:
    cs = cores(w)
    return all(cs[a].members[b].state == State.DEAD and cs[b].members[a].state == State.DEAD
               for a in left for b in right)


def test_a_group_bootstraps_through_seeds() -> None:
    from protocols.swim.sim import ADAPTER
    w = World(ADAPTER, 16, seed=3)  # join="seeds": each node starts knowing only itself
    took = settle(w, lambda: not membership_disagreements(views(w), w.ids), 30_000)
    assert periods(took) <= 10


# ====================================================================== join by address
def test_members_started_with_only_a_seeds_address_join() -> None:
    """memberlist's Join: each member knows nothing but n1's address; it learns every
    other member, and where each listens, from n1's answer and the gossip after it."""
    from protocols.swim.sim import ADAPTER
    w = World(ADAPTER, 16, seed=5, options={"seeds": ["n1:7946"]})
    took = settle(w, lambda: not membership_disagreements(views(w), w.ids), 30_000)
    assert periods(took) <= 10
    assert all(c.members[m].address == f"{m}:7946" for c in cores(w).values()
               for m in w.ids)


def test_a_member_restarted_at_another_address_is_found_there() -> None:
    """It is killed, declared dead, and comes back listening elsewhere: its new life's
    Alive tells everyone the new address, and their probes reach it there (two whole
    probe passes with no suspicion of the new life: every member pinged it)."""
    w = swim_world(8, 6)
    w.run_for(3000)
    w.crash("n5")
    settle(w, lambda: all_see(w, "n5", State.DEAD), 60_000)
    w.restart("n5", address="n5:9000")
    life = cores(w)["n5"].incarnation
    settle(w, lambda: all_see(w, "n5", State.ALIVE, life), 30_000)
    assert {c.members["n5"].address for n, c in cores(w).items() if n != "n5"} == {"n5:9000"}
    w.run_for(2 * 8 * PERIOD_MS)
    assert ("n5", life) not in w.invariants[0].suspicions and all_see(w, "n5", State.ALIVE)


def test_a_restart_at_another_address_before_the_death_waits_for_it() -> None:
    """memberlist's conflicting-address rule: while the old life may be running, the new
    address is refused; once the old one is declared dead, the new life is accepted."""
    w = swim_world(8, 7)
    w.run_for(3000)
    w.crash("n5")
    w.run_for(200)
    w.restart("n5", address="n5:9000")
    life = cores(w)["n5"].incarnation
    w.run_for(2000)
    assert all(c.members["n5"].address == "n5:7946" for n, c in cores(w).items()
               if n != "n5"), "refused while the old life may be running"
    settle(w, lambda: all_see(w, "n5", State.ALIVE, life), 60_000)


def test_the_dead_are_reaped_after_reap_ms_everywhere() -> None:
    w = swim_world(8, 8, {"reap_ms": 20_000})
    w.run_for(3000)
    w.crash("n6")
    settle(w, lambda: all_see(w, "n6", State.DEAD), 60_000)
    tick_ms = 50  # swim_world's; a core counts ticks from its start, at t < 1 tick
    died_ms = [c.members["n6"].since * tick_ms for c in cores(w).values()]
    w.run_for(min(died_ms) + 20_000 - tick_ms - w.now)
    assert all("n6" in c.members for c in cores(w).values()), "kept until reap_ms"
    w.run_for(max(died_ms) + 20_000 + 2 * tick_ms - w.now)
    assert all("n6" not in c.members for c in cores(w).values()), "forgotten after it"
    assert not membership_disagreements(views(w), [n for n in w.ids if n != "n6"])


def test_phi_accrual_detects_a_crash_and_stays_quiet_when_nothing_fails() -> None:
    w = swim_world(16, 5, {"detector": "phi"})
    w.run_for(30_000)
    assert not w.invariants[0].suspicions
    d = detect_failure(w, "n9")
    # phi = 8 after 8 ln(10) = 18.4 mean heartbeat gaps (Cassandra's default)
    assert periods(d.first_suspicion_ms) <= 40


# ====================================================================== the gossip workload
@pytest.mark.parametrize("seed", range(6))
def test_the_gossip_workload_converges_under_every_fault(seed: int) -> None:
    r = run_once("swim", seed, nodes=7, duration_ms=10_000, nemesis_kinds=KINDS)
    assert r.ok, r.failure or r.describe()


def test_a_lost_acknowledged_increment_fails_the_verdict(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    """Plant the bug: the entry is answered without being made durable. A crash then
    forgets acknowledged increments and the members never agree again."""
    def no_persist(self: SwimCore, **changes: object) -> None:
        from dataclasses import replace
        self.entry = replace(self.entry, version=self.entry.version + 1, **changes)
        self.entries[self.node_id] = self.entry
        self.queue.enqueue(("entry", self.node_id), self.entry)

    monkeypatch.setattr(SwimCore, "_write_entry", no_persist)
    runs = [run_once("swim", seed, nodes=5, duration_ms=8_000, nemesis_kinds=("crash",))
            for seed in range(4)]
    assert any(r.verdict == "violation" for r in runs), [r.describe() for r in runs]
    assert any("counts" in (r.failure or "") for r in runs)


# ====================================================================== Lifeguard
# 17 s (4 configurations x 2 seeds x 90 s): the slow suite (suite time); each Lifeguard rule
# is caught by a default test of its own (docs/swim-rules.md)
@pytest.mark.slow
def test_lifeguard_cuts_false_positives_when_members_turn_slow() -> None:
    """Dadgar et al. report about 50x fewer false positives; here, 32 members with 6 of
    them CPU-starved (1-3 s per message) at any time, over 2 seeds x 90 s."""
    def deaths(options: dict[str, object]) -> int:
        return sum(false_positives(s, options, seconds=90).deaths for s in range(2))

    on, off = deaths({}), deaths(LIFEGUARD_OFF)
    without_lha = deaths({"lha": False, "nack": False})
    without_suspicion = deaths({"lha_suspicion": False})
    print(f"false deaths: Lifeguard off {off}, on {on} ({off / max(on, 1):.1f}x fewer); "
          f"without LHA {without_lha}, without LHA-suspicion {without_suspicion}")
    assert on * 3 <= off
    assert without_lha > on and without_suspicion > on


def test_the_buddy_system_lets_a_returning_member_refute_before_it_is_declared_dead() -> None:
    """A member cut off for 5 s misses the gossip about its own suspicion. With the buddy
    system the next ping it receives tells it; without, it waits for a rumor or an
    anti-entropy round, and some seeds declare it dead first."""
    def run(seed: int, buddy: bool) -> tuple[int, int]:
        w = swim_world(16, seed, {"buddy": buddy})
        w.run_for(3000)
        before = cores(w)["n5"].incarnation
        w.disconnect("n5")
        w.run_for(5000)
        w.connect("n5")
        refuted = settle(w, lambda: cores(w)["n5"].incarnation > before, 30_000, poll_ms=10)
        w.run_for(10_000)
        return refuted, len(w.invariants[0].deaths)

    with_buddy = [run(s, True) for s in range(12)]
    without = [run(s, False) for s in range(12)]
    assert sum(d for _, d in with_buddy) == 0 < sum(d for _, d in without)
    assert statistics.median(r for r, _ in with_buddy) < statistics.median(r for r, _ in without)


@pytest.mark.slow
def test_sweep() -> None:
    failed = [seed for seed in range(100, 200)
              if not run_once("swim", seed, nodes=7, duration_ms=10_000,
                              nemesis_kinds=KINDS).ok]
    assert failed == [], f"replay: scripts/sim --protocol swim --seed {failed[0]} --nodes 7"
