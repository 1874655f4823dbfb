"""The phi accrual failure detector (``protocols.swim.phi``): Cassandra's exponential model,
phi(t) = (t - t_last) / mean / ln 10, checked on exact values, its adaptation and bounds,
the per-member table, and the statistical meaning of phi on exponential arrivals."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.swim.phi import PHI_FACTOR, PhiAccrualDetector, PhiDetectors

LN10 = math.log(10.0)


def beat_every(detector: PhiAccrualDetector, period: float, count: int,
               start: float = 0.0) -> float:
    """``count`` heartbeats ``period`` apart from ``start``; returns the last one's time."""
    now = start
    for i in range(count):
        now = start + i * period
        detector.heartbeat(now)
    return now


# --- exact values -----------------------------------------------------------------------


def test_phi_is_zero_before_any_heartbeat() -> None:
    d = PhiAccrualDetector()
    assert d.phi(0.0) == 0.0
    assert d.phi(1e9) == 0.0
    assert d.available(1e9)
    assert d.samples == 0
    assert d.mean_interval == 1.0  # first_interval: the estimate before anything is known


def test_regular_heartbeats_give_the_exponential_phi() -> None:
    d = PhiAccrualDetector()
    last = beat_every(d, 1.0, 11)  # 0, 1, ..., 10
    assert d.mean_interval == 1.0
    assert PHI_FACTOR == 1.0 / LN10  # Cassandra's PHI_FACTOR: natural log to log10
    assert d.phi(last) == 0.0
    assert d.phi(last + 1.0) == pytest.approx(1.0 / LN10) == pytest.approx(0.4343, abs=1e-4)
    for silence in (0.5, 2.0, 5.0, 13.0):  # linear in the silence
        assert d.phi(last + silence) == pytest.approx(silence / LN10)
    crossing = 8.0 * LN10  # ~18.42 s: where phi reaches the default threshold 8
    assert crossing == pytest.approx(18.4207, abs=1e-4)
    assert d.phi(last + crossing) == pytest.approx(8.0)
    assert d.available(last + 18.4)
    assert not d.available(last + 18.5)


def test_first_heartbeat_seeds_the_window_like_cassandra() -> None:
    # Cassandra adds its initial value as the first sample; it ages out like any other.
    d = PhiAccrualDetector(first_interval=2.0, window=3)
    d.heartbeat(10.0)
    assert (d.samples, d.mean_interval) == (1, 2.0)
    assert d.phi(12.0) == pytest.approx(1.0 / LN10)  # 2 s of silence, mean 2 s
    d.heartbeat(10.5)
    assert (d.samples, d.mean_interval) == (2, 1.25)  # (2.0 + 0.5) / 2
    d.heartbeat(11.0)
    d.heartbeat(11.5)  # the seed is evicted
    assert (d.samples, d.mean_interval) == (3, 0.5)


# --- adaptation and bounds ----------------------------------------------------------------


def test_phi_adapts_to_the_heartbeat_rate() -> None:
    slow, fast = PhiAccrualDetector(), PhiAccrualDetector()
    slow_last = beat_every(slow, 1.0, 1001)
    fast_last = beat_every(fast, 0.1, 1001)  # 1000 gaps: the 1.0 s seed is gone
    assert fast.mean_interval == pytest.approx(0.1)
    silence = 1.5
    assert fast.phi(fast_last + silence) == pytest.approx(10 * slow.phi(slow_last + silence))
    assert not fast.available(fast_last + 2.0)  # phi ~8.7: 2 s is 20 missed heartbeats
    assert slow.available(slow_last + 2.0)  # phi ~0.87: 2 missed heartbeats


def test_window_bounds_the_history() -> None:
    d = PhiAccrualDetector(window=10)
    last = beat_every(d, 1.0, 20)
    assert (d.samples, d.mean_interval) == (10, 1.0)
    last = beat_every(d, 0.5, 9, start=last + 0.5)  # 9 half-second gaps, one 1 s gap left
    assert d.mean_interval == pytest.approx((1.0 + 9 * 0.5) / 10)
    d.heartbeat(last + 0.5)  # the 10th half-second gap pushes out the last 1 s gap
    assert d.samples == 10
    assert d.mean_interval == pytest.approx(0.5)


def test_gaps_longer_than_max_interval_are_not_learned() -> None:
    d = PhiAccrualDetector(max_interval=2.0)
    last = beat_every(d, 1.0, 11)
    samples = d.samples
    d.heartbeat(last + 30.0)  # a long pause (a partition, a GC stall)
    assert (d.samples, d.mean_interval) == (samples, 1.0)  # not learned: still strict
    assert d.phi(last + 31.0) == pytest.approx(1.0 / LN10)
    d.heartbeat(last + 32.0)  # exactly max_interval: learned
    assert d.samples == samples + 1
    d.heartbeat(math.nextafter(last + 34.0, math.inf))  # just above: not learned
    assert d.samples == samples + 1


def test_running_sum_does_not_drift() -> None:
    # With a float running sum, 2.0 + 1e-17 - 2.0 == 0.0: the mean below would be off by 2x.
    d = PhiAccrualDetector(window=2, first_interval=2.0)
    for now in (0.0, 1e-17, 2e-17):
        d.heartbeat(now)
    assert d.mean_interval == 1e-17


# --- threshold, members, parameters -------------------------------------------------------


def test_available_flips_exactly_at_the_threshold() -> None:
    history = PhiAccrualDetector()
    beat_every(history, 1.0, 11)
    threshold = history.phi(13.0)
    d = PhiAccrualDetector(threshold=threshold)
    beat_every(d, 1.0, 11)
    just_before = math.nextafter(13.0, 0.0)
    assert d.phi(just_before) < threshold
    assert d.available(just_before)
    assert d.phi(13.0) == threshold
    assert not d.available(13.0)


def test_suspects_are_exactly_the_silent_members_sorted() -> None:
    fds = PhiDetectors()
    for now in range(11):  # everyone beats every second until t=10
        for member in ("d", "c", "b", "a"):
            fds.heartbeat(member, float(now))
    for now in range(11, 31):  # then only a and c
        for member in ("c", "a"):
            fds.heartbeat(member, float(now))
    assert fds.suspects(28.0) == []  # b, d silent 18 s: phi 7.8
    assert fds.phi("b", 28.0) == pytest.approx(18.0 / LN10)
    assert fds.suspects(30.0) == ["b", "d"]  # silent 20 s: phi 8.7
    assert fds.phi("a", 30.0) == 0.0
    fds.forget("d")
    assert fds.suspects(30.0) == ["b"]
    assert fds.phi("d", 30.0) == 0.0
    fds.forget("never-heard")  # no error
    fds.heartbeat("d", 30.0)  # comes back with a fresh history: the seed mean, 1 s
    assert fds.phi("d", 31.0) == pytest.approx(1.0 / LN10)


def test_unknown_member_has_phi_zero() -> None:
    fds = PhiDetectors()
    assert fds.phi("x", 1e9) == 0.0
    assert fds.suspects(1e9) == []


@pytest.mark.parametrize("kwargs", [
    {"threshold": 0.0}, {"threshold": -1.0}, {"threshold": math.nan},
    {"window": 0}, {"window": -3},
    {"first_interval": 0.0}, {"first_interval": -1.0}, {"first_interval": math.nan},
    {"first_interval": math.inf},
    {"max_interval": 0.0}, {"max_interval": -2.0}, {"max_interval": math.nan},
])
def test_bad_parameters_raise(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        PhiAccrualDetector(**kwargs)
    with pytest.raises(ValueError):
        PhiDetectors(**kwargs)


def test_timestamps_going_backwards_are_clamped() -> None:
    d = PhiAccrualDetector()
    last = beat_every(d, 1.0, 11)  # last = 10
    samples = d.samples
    d.heartbeat(5.0)  # reordered report: no sample, t_last stays 10
    d.heartbeat(10.0)  # duplicate: no (zero) sample
    assert (d.samples, d.mean_interval) == (samples, 1.0)
    assert d.phi(5.0) == 0.0
    assert d.phi(last - 0.5) == 0.0
    assert d.phi(last + 1.0) == pytest.approx(1.0 / LN10)
    d.heartbeat(last + 1.0)  # measured from 10, not from 5
    assert (d.samples, d.mean_interval) == (samples + 1, 1.0)


# --- properties ---------------------------------------------------------------------------

_times = st.lists(st.floats(-1e3, 1e3), max_size=40)


@settings(max_examples=200)
@given(times=_times, a=st.floats(-2e3, 2e3), b=st.floats(-2e3, 2e3))
def test_phi_is_non_negative_and_non_decreasing(times: list[float], a: float,
                                                b: float) -> None:
    d = PhiAccrualDetector()
    for now in times:
        d.heartbeat(now)
    early, late = min(a, b), max(a, b)
    assert 0.0 <= d.phi(early) <= d.phi(late)


def accepted_gaps(times: list[float], first_interval: float, max_interval: float) -> list[float]:
    """Brute force: the seed, then each gap in (0, max_interval] from the latest arrival."""
    gaps: list[float] = []
    last: float | None = None
    for now in times:
        if last is None:
            gaps.append(first_interval)
            last = now
            continue
        if 0.0 < now - last <= max_interval:
            gaps.append(now - last)
        last = max(last, now)
    return gaps


@settings(max_examples=200)
@given(
    steps=st.lists(st.floats(-1.0, 5.0), max_size=60),
    window=st.integers(1, 20),
    first_interval=st.floats(1e-3, 10.0),
    max_interval=st.floats(1e-3, 10.0),
)
def test_mean_interval_is_the_mean_of_the_last_window_gaps(
    steps: list[float], window: int, first_interval: float, max_interval: float
) -> None:
    times = [sum(steps[: i + 1]) for i in range(len(steps))]  # some go backwards, some pause
    d = PhiAccrualDetector(window=window, first_interval=first_interval,
                           max_interval=max_interval)
    for now in times:
        d.heartbeat(now)
    kept = accepted_gaps(times, first_interval, max_interval)[-window:]
    assert d.samples == len(kept)
    expected = math.fsum(kept) / len(kept) if kept else first_interval
    assert d.mean_interval == pytest.approx(expected, rel=1e-12)


# --- what phi means -------------------------------------------------------------------------


def test_phi_means_what_it_says_on_exponential_arrivals() -> None:
    """Under the model, P(phi at the next arrival > k) = P(gap > k ln10 mean) = 10**-k."""
    rng = random.Random(1)
    # max_interval=inf: capping exponential gaps would bias the learned mean low
    d = PhiAccrualDetector(first_interval=1.0, max_interval=math.inf)
    now = 0.0
    d.heartbeat(now)
    for _ in range(1000):  # fill the window first
        now += rng.expovariate(1.0)
        d.heartbeat(now)
    n, over_1, over_2 = 20_000, 0, 0
    for _ in range(n):
        now += rng.expovariate(1.0)
        phi = d.phi(now)  # the suspicion level just before this heartbeat arrived
        over_1 += phi > 1.0
        over_2 += phi > 2.0
        d.heartbeat(now)
    # Tolerances: the binomial standard deviation over 20 000 draws is 0.21 points at 10%
    # and 0.07 at 1%; the 1000-gap mean wobbles ~3%, which moves 10**-(k m/mu) by about
    # 0.16 (k=1) and 0.03 (k=2) points once averaged over 20 windows. So sd ~0.27 and
    # ~0.08 points: 1 point (k=1) and 0.3 points (k=2, 30% relative) are ~4 sd.
    assert over_1 / n == pytest.approx(0.10, abs=0.01)
    assert over_2 / n == pytest.approx(0.01, abs=0.003)
