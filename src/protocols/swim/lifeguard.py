"""Lifeguard's refinements of SWIM (Dadgar, Phillips, Currey, "Lifeguard: Local Health
Awareness for More Accurate Failure Detection", 2018), as memberlist implements them:

* **Local health awareness** (§IV-A): a node that misses acks it should have got — its
  own probes fail while the helpers it asked could not even send a nack — is probably
  the slow one. Its *local health multiplier* rises, and its protocol period stretches by
  (multiplier + 1) — more time for indirect acks and nacks, fewer probes — so a sick
  node stops accusing healthy ones (as in memberlist, the direct ack's timeout does not
  stretch: waiting longer does not bring a lost ping back).
* **Local-health-aware suspicion** (§IV-B): a suspicion starts with a long timeout that
  shrinks, logarithmically, as independent members confirm it; one slow accuser alone
  gives its target ample time to refute.
* **Buddy system** (§IV-C) lives in the core: a ping to a suspect carries the suspicion.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["Awareness", "Suspicion"]


@dataclass(slots=True)
class Awareness:
    """The local health multiplier (LHM), 0 (healthy) ... ``maximum``."""

    maximum: int
    score: int = 0

    def apply(self, delta: int) -> None:
        self.score = min(self.maximum, max(0, self.score + delta))

    def scale(self, ticks: int) -> int:
        """memberlist's ``ScaleTimeout``: a timeout stretched by the node's ill health."""
        return ticks * (self.score + 1)


@dataclass(slots=True)
class Suspicion:
    """One member under suspicion at one incarnation, with its timer.

    Without Lifeguard ``min_ticks == max_ticks`` (the paper's fixed suspicion timeout).
    With it, the timeout falls from ``max_ticks`` toward ``min_ticks`` as ``confirmations``
    reach ``expected`` (memberlist's ``remainingSuspicionTime``)."""

    incarnation: int
    started: int
    min_ticks: int
    max_ticks: int
    expected: int  # k: independent confirmations that bring the timeout down to min
    sources: set[str] = field(default_factory=set)

    def confirm(self, source: str) -> bool:
        """Another member suspects it too; True if that is a new, independent opinion."""
        if source in self.sources or len(self.sources) > self.expected:
            return False
        self.sources.add(source)
        return True

    @property
    def timeout(self) -> int:
        confirmations = len(self.sources) - 1  # the first source started the suspicion
        if self.expected < 1 or confirmations <= 0:
            return self.max_ticks if self.expected >= 1 else self.min_ticks
        frac = math.log(confirmations + 1) / math.log(self.expected + 1)
        return max(self.min_ticks,
                   math.floor(self.max_ticks - frac * (self.max_ticks - self.min_ticks)))

    def due(self, now: int) -> bool:
        return now - self.started >= self.timeout
