"""The leader and its two kinds of helpers (PMMC §3, Figures "Leader", "Scout",
"Commander").

A *scout* runs phase 1 for one ballot, for every open slot at once: it sends P1a to all
acceptors and, once a phase-1 quorum adopted its ballot, reports *adopted* with the
pvalues they had accepted (or *preempted* on meeting a higher ballot). A *commander* runs
phase 2 for one pvalue: it sends P2a to all acceptors and, once a phase-2 quorum accepted
it, the command is decided in that slot (or it is preempted).

The leader keeps ``ballot_number``, whether it is ``active`` (its ballot adopted), and
its ``proposals``: the command it proposes in each slot. On adoption it re-proposes, in
every slot, the command of the highest-ballot pvalue the scout found (pmax), and fills
holes with no-ops, so nothing a previous leader may have gotten chosen is lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from protocols.paxos.messages import BOTTOM, Ballot, PValue

__all__ = ["NOOP", "Commander", "Leader", "Scout"]

NOOP = b""  # the command that fills a hole: applying it changes nothing


@dataclass(slots=True)
class Scout:
    ballot: Ballot
    waitfor: set[str]  # acceptors that have not adopted it yet
    pvalues: dict[int, PValue] = field(default_factory=dict)  # slot -> pmax so far
    decided_upto: int = 1  # the highest compaction point an acceptor reported
    ahead: str | None = None  # ... and who reported it (it can send those decisions)
    ticks: int = 0  # since it (re)sent its P1a

    def on_p1b(self, acceptor: str, accepted: tuple[PValue, ...], decided_upto: int) -> None:
        """An acceptor adopted our ballot: keep the highest-ballot pvalue per slot."""
        self.waitfor.discard(acceptor)
        if decided_upto > self.decided_upto:
            self.decided_upto, self.ahead = decided_upto, acceptor
        for pv in accepted:
            best = self.pvalues.get(pv.slot)
            if best is None or pv.ballot > best.ballot:
                self.pvalues[pv.slot] = pv


@dataclass(slots=True)
class Commander:
    pvalue: PValue
    waitfor: set[str]  # acceptors that have not accepted it yet
    ticks: int = 0  # since it (re)sent its P2a


@dataclass(slots=True)
class Leader:
    ballot_number: Ballot = BOTTOM
    active: bool = False
    proposals: dict[int, bytes] = field(default_factory=dict)  # slot -> command
    scout: Scout | None = None
    commanders: dict[int, Commander] = field(default_factory=dict)  # slot -> commander

    def adopt(self, ballot: Ballot, pvalues: dict[int, PValue], first_open: int,
              last_assigned: int = 0) -> None:
        """PMMC "adopted": proposals := proposals ◁ pmax(pvals); active. Slots below
        ``first_open`` are decided already: nothing is proposed there. Every other slot
        up to the highest one found or ``last_assigned`` (the last slot our replica
        handed out, perhaps under an earlier ballot whose P2a never left) gets a
        proposal: a hole left open would stop every later slot from being applied."""
        self.proposals = {s: c for s, c in self.proposals.items() if s >= first_open}
        for slot, pv in pvalues.items():
            if slot >= first_open:
                self.proposals[slot] = pv.command
        top = max(max(self.proposals, default=first_open - 1), last_assigned)
        for slot in range(first_open, top + 1):  # holes: no-ops
            self.proposals.setdefault(slot, NOOP)
        self.ballot_number, self.active, self.scout = ballot, True, None

    def preempted(self) -> None:
        """PMMC "preempted": a higher ballot exists; stop leading."""
        self.active, self.scout = False, None
        self.commanders.clear()
        self.proposals.clear()
