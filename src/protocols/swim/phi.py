"""The phi accrual failure detector (Hayashibara, Defago, Yared, Katayama, "The phi accrual
failure detector", SRDS 2004), as Apache Cassandra implements it
(``org.apache.cassandra.gms.FailureDetector`` and its ``ArrivalWindow``).

A timeout answers yes or no ("silent for longer than T?"). An *accrual* detector answers
with a number, phi, the suspicion level, and leaves the cut-off to the caller. phi is
minus the log10 of the probability that a live member would have stayed silent this long,
judged from the gaps between its heartbeats so far. So if we suspect the member now and
it is in fact alive, we are wrong with probability about 10**-phi:

* phi = 1: about a 10% chance of being wrong;
* phi = 2: about 1%;
* phi = 8 (Cassandra's default ``phi_convict_threshold``): about 1e-8.

Cassandra's model: the gaps between heartbeats are exponentially distributed with the mean
of the last 1000 gaps (``SAMPLE_SIZE``). A live member is silent for t seconds with
probability exp(-t / mean), so

    phi(now) = (now - t_last) / mean * (1 / ln 10)

where 1 / ln 10 is Cassandra's ``PHI_FACTOR`` (natural log to log10). phi grows linearly
with the silence and crosses ``threshold`` after ``threshold * ln 10 * mean`` seconds:
18.4 mean gaps at the default 8. (The paper fits a normal distribution instead; the
exponential needs only the mean and does not jump from ~0 to huge within a fraction of a
gap when heartbeats are very regular. Cassandra's code cites CASSANDRA-2597 for the math.)

Kept from Cassandra:

* the first heartbeat seeds the window with ``first_interval`` (Cassandra's
  ``INITIAL_VALUE``, twice the gossip interval), which then ages out like any sample. It
  errs high on purpose: too large a mean only delays a suspicion, too small a one makes
  a member flap between alive and suspected;
* a gap longer than ``max_interval`` is not recorded (``MAX_INTERVAL_IN_NANO``): a member
  that keeps vanishing for that long should be suspected quickly, not adapted to.

Different from Cassandra:

* sans-IO: the caller passes ``now`` (seconds, any monotonic origin) to every method;
* the running sum is a ``Fraction`` (Cassandra's is exact too: integer nanoseconds), so
  adding and evicting samples forever never drifts, and ``phi`` stays O(1);
* a heartbeat at or before the latest one is a duplicate or reordered report: it is no
  sample and does not move ``t_last`` back, and phi is never negative;
* a member is suspected at phi >= threshold (Cassandra convicts at phi > threshold);
* no local-pause guard (Cassandra's ``MAX_LOCAL_PAUSE``): that is the caller's business.
"""

from __future__ import annotations

import math
from collections import deque
from fractions import Fraction
from typing import Final

__all__ = ["PHI_FACTOR", "PhiAccrualDetector", "PhiDetectors"]

PHI_FACTOR: Final = 1.0 / math.log(10.0)  # converts -ln(P) into -log10(P)


def _check_parameters(
    threshold: float, window: int, first_interval: float, max_interval: float
) -> None:
    # written as `not x > 0` so that NaN is refused too
    if not threshold > 0:
        raise ValueError(f"threshold must be > 0, got {threshold!r}")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window!r}")
    if not (first_interval > 0 and math.isfinite(first_interval)):
        raise ValueError(f"first_interval must be finite and > 0, got {first_interval!r}")
    if not max_interval > 0:
        raise ValueError(f"max_interval must be > 0, got {max_interval!r}")


class PhiAccrualDetector:
    """The phi accrual detector for one monitored member (Cassandra's ``ArrivalWindow``).

    Call ``heartbeat(now)`` whenever evidence that the member is alive arrives, and
    ``phi(now)`` or ``available(now)`` whenever you want its suspicion level. See the
    module docstring for what phi means.

    * ``threshold``: suspect at phi >= threshold (default 8.0, Cassandra's default);
    * ``window``: how many gaps between heartbeats the mean is taken over (default 1000);
    * ``first_interval``: the seed sample, the expected gap before any is measured;
    * ``max_interval``: longer gaps are not learned (the pause still raises phi).
    """

    __slots__ = ("_first_interval", "_intervals", "_last", "_max_interval", "_mean", "_sum",
                 "_threshold")

    def __init__(
        self,
        threshold: float = 8.0,
        window: int = 1000,
        first_interval: float = 1.0,
        max_interval: float = 2.0,
    ) -> None:
        _check_parameters(threshold, window, first_interval, max_interval)
        self._threshold = threshold
        self._first_interval = first_interval
        self._max_interval = max_interval
        self._intervals: deque[float] = deque(maxlen=window)
        self._sum = Fraction(0)  # exact sum of _intervals
        self._mean = first_interval  # cached so that phi() is a subtraction and a division
        self._last: float | None = None  # time of the latest heartbeat

    @property
    def threshold(self) -> float:
        return self._threshold

    @property
    def mean_interval(self) -> float:
        """The mean gap between heartbeats over the window (``first_interval`` before any)."""
        return self._mean

    @property
    def samples(self) -> int:
        """How many gaps are in the window, the ``first_interval`` seed included."""
        return len(self._intervals)

    def heartbeat(self, now: float) -> None:
        """Record an arrival: a heartbeat (or any sign of life) from the member at ``now``."""
        if self._last is None:
            self._record(self._first_interval)
            self._last = now
            return
        gap = now - self._last
        if 0.0 < gap <= self._max_interval:
            self._record(gap)
        self._last = max(self._last, now)

    def phi(self, now: float) -> float:
        """The suspicion level at ``now``: 0.0 before the first heartbeat, never negative."""
        if self._last is None or now <= self._last:
            return 0.0
        return (now - self._last) / self._mean * PHI_FACTOR

    def available(self, now: float) -> bool:
        """Whether the member is considered up: phi(now) < threshold."""
        return self.phi(now) < self._threshold

    def _record(self, gap: float) -> None:
        intervals = self._intervals
        if len(intervals) == intervals.maxlen:
            self._sum -= Fraction(intervals[0])  # the append below evicts it
        intervals.append(gap)
        self._sum += Fraction(gap)
        self._mean = float(self._sum / len(intervals))


class PhiDetectors:
    """One ``PhiAccrualDetector`` per member, by member id (Cassandra's ``FailureDetector``).

    A member gets its detector at its first heartbeat; a member never heard of has phi 0
    and is not suspected (there is nothing to judge it by). The parameters are those of
    ``PhiAccrualDetector`` and apply to every member.
    """

    __slots__ = ("_detectors", "_first_interval", "_max_interval", "_threshold", "_window")

    def __init__(
        self,
        threshold: float = 8.0,
        window: int = 1000,
        first_interval: float = 1.0,
        max_interval: float = 2.0,
    ) -> None:
        _check_parameters(threshold, window, first_interval, max_interval)  # fail now
        self._threshold = threshold
        self._window = window
        self._first_interval = first_interval
        self._max_interval = max_interval
        self._detectors: dict[str, PhiAccrualDetector] = {}

    @property
    def threshold(self) -> float:
        return self._threshold

    def heartbeat(self, member: str, now: float) -> None:
        """Record an arrival from ``member`` at ``now``."""
        detector = self._detectors.get(member)
        if detector is None:
            detector = self._detectors[member] = self._new_detector()
        detector.heartbeat(now)

    def phi(self, member: str, now: float) -> float:
        """``member``'s suspicion level at ``now``; 0.0 for a member never heard."""
        detector = self._detectors.get(member)
        return 0.0 if detector is None else detector.phi(now)

    def suspects(self, now: float) -> list[str]:
        """The members whose phi(now) >= threshold, sorted."""
        return sorted(m for m, d in self._detectors.items() if not d.available(now))

    def forget(self, member: str) -> None:
        """Drop ``member``'s history (it left, or was declared dead); unknown ids are fine."""
        self._detectors.pop(member, None)

    def _new_detector(self) -> PhiAccrualDetector:
        return PhiAccrualDetector(
            self._threshold, self._window, self._first_interval, self._max_interval
        )
