"""The MIT 6.5840 Raft scenarios (shared/reference/raft-tests.md), under their names,
on the deterministic simulator. Each runs for several seeds; every simulated event is
followed by the Raft safety invariants (protocols.raft.sim.RaftInvariants). A failure
prints its seed; ``World(ADAPTER, n, seed=...)`` replays it exactly.

Index note: a new leader appends a no-op (§8), so commands do not sit at indexes
1, 2, 3 as in the lab; the tests count committed *commands*.
"""

from __future__ import annotations

import random

import pytest

from protocols.sim import LONG_REORDERING, RELIABLE, UNRELIABLE
from protocols.simulate import run_once
from tests.raft.raft_harness import (
    ELECTION_MS,
    check_no_leader,
    check_one_leader,
    connected,
    make_world,
    n_committed,
    normal_commands,
    one,
    put,
    raft,
    terms,
)

SEEDS = [1, 2, 3]


# ----------------------------------------------------------------------------- 3A
@pytest.mark.parametrize("seed", SEEDS)
def test_initial_election(seed: int) -> None:
    w = make_world(3, seed)
    check_one_leader(w)
    w.run_for(50)
    first = terms(w)
    assert len(first) == 1 and min(first) >= 1, f"servers disagree on the term: {first}"
    w.run_for(2 * ELECTION_MS)
    assert terms(w) == first, "the term changed with no failure"
    check_one_leader(w)


@pytest.mark.parametrize("seed", SEEDS)
def test_re_election(seed: int) -> None:
    w = make_world(3, seed)
    leader1 = check_one_leader(w)
    w.disconnect(leader1)
    check_one_leader(w)
    w.connect(leader1)  # the old leader rejoins: still one leader
    leader2 = check_one_leader(w)
    other = next(n for n in w.ids if n != leader2)
    w.disconnect(leader2)
    w.disconnect(other)
    w.run_for(2 * ELECTION_MS)
    check_no_leader(w, connected(w))  # no quorum, no leader
    w.connect(other)
    check_one_leader(w)
    w.connect(leader2)
    check_one_leader(w)


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_many_elections(seed: int) -> None:
    w = make_world(7, seed)
    rng = random.Random(seed)
    check_one_leader(w)
    for _ in range(10):
        gone = rng.sample(list(w.ids), 3)
        for n in gone:
            w.disconnect(n)
        check_one_leader(w)
        for n in gone:
            w.connect(n)
    check_one_leader(w)


# ----------------------------------------------------------------------------- 3B
@pytest.mark.parametrize("seed", SEEDS)
def test_basic_agree(seed: int) -> None:
    w = make_world(3, seed)
    check_one_leader(w)
    for i in range(3):
        cmd = put(f"v{i}")
        assert n_committed(w, raft(w, "n1").log.last_index + 1)[0] == 0, "committed early"
        index = one(w, cmd, 3, retry=False)
        assert normal_commands(w, "n1")[i] == cmd.encode(), f"wrong command at index {index}"


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_rpc_bytes(seed: int) -> None:
    w = make_world(3, seed)
    check_one_leader(w)
    one(w, put("warmup"), 3)
    before = sum(w.rpc_bytes.values())
    sent = 0
    for i in range(10):
        cmd = put("x" * 5000, key=f"k{i}")
        sent += len(cmd.encode())
        one(w, cmd, 3, retry=False)
    total = sum(w.rpc_bytes.values()) - before
    assert total <= 3 * sent + 50_000, f"{total} bytes sent for {sent} bytes of commands"


@pytest.mark.parametrize("seed", SEEDS)
def test_follower_failure(seed: int) -> None:
    w = make_world(3, seed)
    leader = check_one_leader(w)
    one(w, put("a"), 3)
    w.disconnect(next(n for n in w.ids if n != leader))
    one(w, put("b"), 2)
    w.run_for(ELECTION_MS)
    one(w, put("c"), 2)
    leader2 = check_one_leader(w)
    for n in w.ids:
        if n != leader2:
            w.disconnect(n)
    before = raft(w, leader2).commit_index
    w.submit(leader2, put("d"))
    w.run_for(2 * ELECTION_MS)
    assert raft(w, leader2).commit_index == before, "committed without a majority"


@pytest.mark.parametrize("seed", SEEDS)
def test_leader_failure(seed: int) -> None:
    w = make_world(3, seed)
    leader1 = check_one_leader(w)
    one(w, put("a"), 3)
    w.disconnect(leader1)
    one(w, put("b"), 2)
    w.run_for(ELECTION_MS)
    one(w, put("c"), 2)
    leader2 = check_one_leader(w)
    w.disconnect(leader2)
    for n in w.ids:
        if raft(w, n).role == "leader" or n not in (leader1, leader2):
            w.submit(n, put("d"))
    w.run_for(2 * ELECTION_MS)
    assert all(b"\"d\"" not in c for n in w.ids for c in normal_commands(w, n))


@pytest.mark.parametrize("seed", SEEDS)
def test_fail_agree(seed: int) -> None:
    w = make_world(3, seed)
    leader = check_one_leader(w)
    one(w, put("101"), 3)
    follower = next(n for n in w.ids if n != leader)
    w.disconnect(follower)
    for v in ("102", "103", "104", "105"):
        one(w, put(v), 2)
    w.connect(follower)
    one(w, put("106"), 3)
    one(w, put("107"), 3)
    assert normal_commands(w, follower)[-1] == put("107").encode()


@pytest.mark.parametrize("seed", SEEDS)
def test_fail_no_agree(seed: int) -> None:
    w = make_world(5, seed)
    one(w, put("10"), 5)
    leader = check_one_leader(w)
    others = [n for n in w.ids if n != leader]
    for n in others[:3]:
        w.disconnect(n)
    before = raft(w, leader).commit_index
    w.submit(leader, put("20"))
    w.run_for(2 * ELECTION_MS)
    assert raft(w, leader).commit_index == before or raft(w, leader).role != "leader"
    for n in others[:3]:
        w.connect(n)
    check_one_leader(w)
    one(w, put("30"), 5)


@pytest.mark.parametrize("seed", SEEDS)
def test_concurrent_starts(seed: int) -> None:
    w = make_world(3, seed)
    leader = check_one_leader(w)
    term = raft(w, leader).current_term
    for i in range(5):
        w.submit(leader, put(f"c{i}", key=f"k{i}"))
    w.run_until(lambda: len(normal_commands(w, leader)) >= 5, 5000)
    assert raft(w, leader).current_term == term
    assert sorted(normal_commands(w, leader)) == sorted(put(f"c{i}", key=f"k{i}").encode()
                                                         for i in range(5))


@pytest.mark.parametrize("seed", SEEDS)
def test_rejoin(seed: int) -> None:
    w = make_world(3, seed)
    one(w, put("101"), 3)
    leader1 = check_one_leader(w)
    w.disconnect(leader1)
    for v in ("102", "103", "104"):  # uncommitted entries on the partitioned leader
        w.submit(leader1, put(v))
    one(w, put("103b"), 2)
    leader2 = check_one_leader(w)
    w.disconnect(leader2)
    w.connect(leader1)
    one(w, put("104b"), 2)
    w.connect(leader2)
    one(w, put("105"), 3)
    logs = {n: normal_commands(w, n) for n in w.ids}
    assert len({tuple(v) for v in logs.values()}) == 1, logs


@pytest.mark.parametrize("seed", SEEDS)
def test_backup(seed: int) -> None:
    w = make_world(5, seed)
    one(w, put("start"), 5)
    leader1 = check_one_leader(w)
    others = [n for n in w.ids if n != leader1]
    for n in others[1:4]:
        w.disconnect(n)  # leader1 + others[0] are a minority
    for i in range(50):
        w.submit(leader1, put(f"lost{i}"))
    w.run_for(ELECTION_MS // 2)
    w.disconnect(leader1)
    w.disconnect(others[0])
    for n in others[1:4]:
        w.connect(n)
    for i in range(50):
        one(w, put(f"ok{i}"), 3)
    leader2 = check_one_leader(w)
    other = next(n for n in others[1:4] if n != leader2)
    w.disconnect(other)
    for i in range(50):
        w.submit(leader2, put(f"lost2-{i}"))
    w.run_for(ELECTION_MS // 2)
    for n in w.ids:
        w.disconnect(n)
    w.connect(leader1)
    w.connect(others[0])
    w.connect(other)
    for i in range(50):
        one(w, put(f"ok2-{i}"), 3)
    for n in w.ids:
        w.connect(n)
    one(w, put("end"), 5)


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_count(seed: int) -> None:
    w = make_world(3, seed)
    check_one_leader(w)
    total = sum(w.rpc_count.values())
    assert total <= 30, f"{total} RPCs to elect a leader"
    before = sum(w.rpc_count.values())
    for i in range(12):
        one(w, put(f"v{i}", key=f"k{i}"), 3, retry=False)
    assert sum(w.rpc_count.values()) - before <= 42 + 3 * 2 * 2, w.rpc_count
    before = sum(w.rpc_count.values())
    w.run_for(1000)
    assert sum(w.rpc_count.values()) - before <= 60, "too many RPCs per idle second"


# ----------------------------------------------------------------------------- 3C
@pytest.mark.parametrize("seed", SEEDS)
def test_persist1(seed: int) -> None:
    w = make_world(3, seed)
    one(w, put("11"), 3)
    for n in w.ids:
        w.crash(n)
    for n in w.ids:
        w.restart(n)
    one(w, put("12"), 3)
    leader = check_one_leader(w)
    w.crash(leader)
    w.restart(leader)
    one(w, put("13"), 3)
    leader = check_one_leader(w)
    one(w, put("14"), 2)
    w.crash(leader)
    w.restart(leader)
    w.run_until(lambda: n_committed(w, raft(w, leader).log.last_index)[0] >= 3 or True, 10)
    one(w, put("16"), 3)
    assert all(put("11").encode() in normal_commands(w, n) for n in w.ids)


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_persist2(seed: int) -> None:
    w = make_world(5, seed)
    rng = random.Random(seed)
    index = 1
    for _ in range(5):
        one(w, put(f"{index}"), 5)
        index += 1
        leader1 = check_one_leader(w)
        others = [n for n in w.ids if n != leader1]
        w.crash(others[0])
        w.crash(leader1)
        one(w, put(f"{index}"), 3)
        index += 1
        down = rng.sample([n for n in w.ids if w.nodes[n].up], 3)
        for n in down:
            w.crash(n)
        for n in [leader1, others[0], *down]:
            w.restart(n)
        one(w, put(f"{index}"), 5)
        index += 1


@pytest.mark.parametrize("seed", SEEDS)
def test_persist3(seed: int) -> None:
    w = make_world(3, seed)
    one(w, put("101"), 3)
    leader = check_one_leader(w)
    follower = next(n for n in w.ids if n != leader)
    w.disconnect(follower)
    one(w, put("102"), 2)
    w.crash(leader)
    w.crash(next(n for n in w.ids if n not in (leader, follower)))
    w.connect(follower)
    w.restart(leader)
    one(w, put("103"), 2)
    for n in w.ids:
        w.restart(n)
    one(w, put("104"), 3)


def _figure8(seed: int, iterations: int, unreliable: bool, disk_latency_ms: int = 0) -> None:
    """Propose on every server, crash (or disconnect) the leader soon after; restart
    servers when fewer than three are up; the Figure 8 anomaly must never commit."""
    w = make_world(5, seed, network=UNRELIABLE if unreliable else RELIABLE,
                   disk_latency_ms=disk_latency_ms)
    rng = random.Random(seed)
    one(w, put("start"), 1)
    for i in range(iterations):
        if unreliable and i == iterations // 5:
            w.network.config = LONG_REORDERING
        leader = None
        for n in w.up_nodes():
            core = raft(w, n)
            w.submit(n, put(f"f8-{i}-{n}"))
            if core.role == "leader":
                leader = n
        w.run_for(rng.randrange(13) if rng.random() < 0.9 else rng.randrange(500))
        if leader is not None and w.nodes[leader].up:
            if unreliable:
                w.disconnect(leader)
            else:
                w.crash(leader)
        live = [n for n in w.ids if w.nodes[n].up and n in connected(w)]
        if len(live) < 3:
            n = rng.choice([m for m in w.ids if m not in live])
            if unreliable:
                w.connect(n)
            else:
                w.restart(n)
    w.network.config = RELIABLE
    for n in w.ids:
        w.restart(n)
        w.connect(n)
    one(w, put("end"), 5)


@pytest.mark.parametrize("seed", SEEDS)
def test_figure8(seed: int) -> None:
    _figure8(seed, 200, unreliable=False)


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_figure8_unreliable(seed: int) -> None:
    _figure8(seed, 200, unreliable=True)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(10, 20))
def test_figure8_full_1000_iterations(seed: int) -> None:
    _figure8(seed, 1000, unreliable=False)
    _figure8(seed, 1000, unreliable=True)


@pytest.mark.parametrize("seed", SEEDS[:2])
def test_unreliable_agree(seed: int) -> None:
    w = make_world(5, seed, network=UNRELIABLE)
    for i in range(1, 20):
        for j in range(4):
            leader = next((n for n in w.ids if raft(w, n).role == "leader"), None)
            if leader:
                w.submit(leader, put(f"{100 * i + j}", key=f"k{j}"))
        one(w, put(f"{i}"), 1)
    w.network.config = RELIABLE
    one(w, put("100"), 5)


@pytest.mark.parametrize("seed", SEEDS)
def test_reliable_churn(seed: int) -> None:
    result = run_once("raft", seed, nodes=5, duration_ms=6000, clients=3)
    assert result.ok, result.failure


@pytest.mark.parametrize("seed", SEEDS)
def test_unreliable_churn(seed: int) -> None:
    # the random nemesis includes the unreliable network; churn = crashes + partitions
    result = run_once("raft", 100 + seed, nodes=5, duration_ms=6000, clients=3)
    assert result.ok, result.failure
    assert result.verdict == "ok"


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(1000, 1100))
def test_churn_sweep(seed: int) -> None:
    result = run_once("raft", seed, nodes=5, duration_ms=10_000, clients=5)
    assert result.ok, result.failure
