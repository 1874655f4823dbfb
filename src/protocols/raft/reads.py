"""Linearizable reads without writing to the log (Raft thesis §6.4, etcd's ``readonly``).

**ReadIndex** (§6.4): the leader records its commit index as the read's index, confirms
it is still the leader by hearing from a majority in a round of AppendEntries (each
round is numbered by a ``read_context`` the replies echo), waits until its state
machine has applied up to that index, then answers from it. A read is served only once
the leader has committed an entry of its own term, so its commit index is current (§8).

**Lease** (§6.4.1): followers refuse votes for ``election_timeout_min_ticks`` after they
hear from the leader (leader stickiness, thesis §4.2.3), and a restarted server refuses
them for as long after it starts. So once a majority answered requests the leader sent
at time t, no other leader can be elected before t + election_timeout_min_ticks x tick,
and the leader may answer reads alone until then, less a margin for clock drift.

The clock assumption, stated once: every server's ticker runs no faster than real time
(ticks are skipped when a process stalls, never burst), and the monotonic clocks of any
two servers advance at rates within ``LEASE_DRIFT`` (20%) of each other. The leader
measures its lease on its monotonic clock from the moment it *sent* the round a majority
answered, so a stall of the leader (GC, CPU starvation, SIGSTOP) eats into the lease
instead of stretching it; and a leader that sent TimeoutNow in its term (thesis §3.10)
serves no lease read for the rest of that term, because the target's election skips
leader stickiness.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["LEASE_DRIFT", "PendingRead", "ReadIndex", "lease_holds"]

LEASE_DRIFT = 0.2  # the lease is cut to 80% of the minimum election timeout


@dataclass(slots=True)
class PendingRead:
    request_id: Any
    key: str
    read_index: int  # the leader's commit index when the read arrived


@dataclass(slots=True)
class ReadRound:
    """One confirmation round: the reads it covers and who acknowledged it."""

    context: int
    reads: list[PendingRead]
    acks: set[str] = field(default_factory=set)
    confirmed: bool = False  # a majority did: we were still the leader after it left


class ReadIndex:
    """The reads waiting at a leader. One round confirms every read waiting when it
    leaves; reads that arrive while it is in flight wait for the next one (a round sent
    before a read arrived proves nothing about the time after), so N concurrent reads
    cost about two rounds, not N."""

    def __init__(self, history: int) -> None:
        self.rounds: dict[int, ReadRound] = {}
        self.queued: list[PendingRead] = []  # arrived while a round was in flight
        self.context = 0  # the number of the latest round of AppendEntries
        self.sent_at: dict[int, float] = {}  # round -> leader clock when it left (leases)
        self._history = history  # rounds whose send time is remembered

    @property
    def pending(self) -> bool:
        return bool(self.rounds or self.queued)

    def forget_send_times(self) -> None:
        """A new term: rounds of an earlier leadership say nothing about this one."""
        self.sent_at = {}

    def new_round(self, now: float) -> int:
        """Number a round of AppendEntries; remember when it left (bounded history)."""
        self.context += 1
        self.sent_at[self.context] = now
        self.sent_at.pop(self.context - self._history, None)
        return self.context

    def request(self, read: PendingRead, now: float, me: str) -> bool:
        """A read arrived. True: the caller must send a new round now (numbered
        ``self.context``); False: it waits for the round after the one in flight."""
        if any(not r.confirmed for r in self.rounds.values()):
            self.queued.append(read)
            return False
        self._start(now, [read], me)
        return True

    def ack(self, src: str, context: int, is_quorum: Callable[[set[str]], bool],
            now: float, me: str) -> bool:
        """``src`` answered round ``context``: it acknowledges every round up to that one.
        True when a round was just confirmed and queued reads now need a round of their
        own (the caller sends it)."""
        confirmed = False
        for ctx, rnd in self.rounds.items():
            if ctx <= context and not rnd.confirmed:
                rnd.acks.add(src)
                rnd.confirmed = confirmed = is_quorum(rnd.acks)
        if confirmed and self.queued and all(r.confirmed for r in self.rounds.values()):
            reads, self.queued = self.queued, []
            self._start(now, reads, me)
            return True
        return False

    def _start(self, now: float, reads: list[PendingRead], me: str) -> None:
        ctx = self.new_round(now)
        self.rounds[ctx] = ReadRound(ctx, reads, {me})

    def take_servable(self, last_applied: int) -> list[PendingRead]:
        """Reads of confirmed rounds whose index is applied, in arrival order; removed."""
        out = []
        for ctx in sorted(self.rounds):
            rnd = self.rounds[ctx]
            if not rnd.confirmed:
                continue
            ready = [r for r in rnd.reads if last_applied >= r.read_index]
            rnd.reads = [r for r in rnd.reads if last_applied < r.read_index]
            out += ready
            if not rnd.reads:
                del self.rounds[ctx]
        return out

    def take_all(self) -> list[PendingRead]:
        reads = [r for rnd in self.rounds.values() for r in rnd.reads] + self.queued
        self.rounds, self.queued = {}, []
        return reads


def lease_holds(starts: Iterable[float], quorum: int, now: float, lease_s: float) -> bool:
    """Thesis §6.4.1: ``starts`` are the send times of the newest requests each other
    voter answered (-inf: none). With our own vote, ``quorum - 1`` of them make a
    majority; the lease runs from the oldest of the newest such, for ``lease_s``."""
    newest = sorted(starts, reverse=True)
    if quorum == 1:
        return True
    start = newest[quorum - 2] if len(newest) >= quorum - 1 else float("-inf")
    return now < start + lease_s
