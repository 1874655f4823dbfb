"""The acceptor (PMMC §3, Figure "Acceptor"): the memory of the protocol.

It keeps ``ballot_number``, the highest ballot it adopted, and ``accepted``, the pvalue
it accepted with the highest ballot in each slot. Both must survive crashes (the node
persists them before it replies: the pump holds the reply). It never forgets a promise,
so a value chosen by one quorum is seen by every later phase 1.

Garbage collection: once its replica has applied every slot below ``decided_upto`` and
snapshotted the result, the acceptor drops its pvalues for those slots and says so in
every P1b, so a new leader proposes nothing there (it learns those decisions instead).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from protocols.paxos.messages import BOTTOM, Ballot, P1a, P1b, P2a, P2b, PValue

__all__ = ["Acceptor"]


@dataclass(slots=True)
class Acceptor:
    ballot_number: Ballot = BOTTOM
    accepted: dict[int, PValue] = field(default_factory=dict)  # slot -> pvalue
    decided_upto: int = 1  # slots below are decided and compacted away

    def on_p1a(self, m: P1a, refuse: bool = False) -> tuple[P1b, bool]:
        """Phase 1b. Adopt a higher ballot (``refuse``: a leader is known to be alive,
        so stay with it: refusing is always safe). Returns (reply, state changed)."""
        changed = False
        if m.ballot > self.ballot_number and not refuse:
            self.ballot_number, changed = m.ballot, True
        accepted = tuple(pv for slot, pv in sorted(self.accepted.items())
                         if slot >= m.from_slot)
        return P1b(self.ballot_number, accepted, self.decided_upto), changed

    def on_p2a(self, m: P2a) -> tuple[P2b, list[PValue]]:
        """Phase 2b: accept each pvalue unless a higher ballot was adopted. Returns the
        reply and the pvalues accepted (to persist before it leaves)."""
        accepted = []
        for pv in m.pvalues:
            if pv.ballot >= self.ballot_number and pv.slot >= self.decided_upto:
                self.ballot_number = pv.ballot
                self.accepted[pv.slot] = pv
                accepted.append(pv)
        return P2b(self.ballot_number, tuple(pv.slot for pv in accepted)), accepted

    def collect(self, upto: int) -> None:
        """Drop the pvalues of slots below ``upto`` (decided and snapshotted)."""
        if upto > self.decided_upto:
            self.decided_upto = upto
            for slot in [s for s in self.accepted if s < upto]:
                del self.accepted[slot]
