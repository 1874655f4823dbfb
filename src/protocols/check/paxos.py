"""Paxos safety, checked over observed acceptor and replica states.

* ``SynodAgreement`` (single-decree, "Paxos Made Simple" §2.1): at most one value is ever
  chosen. A value is chosen when a majority of acceptors accepted the same (ballot,
  value); the checker remembers every acceptance it has seen, across crashes, so a
  majority counted over time is not missed when an acceptor later moves on.
* ``MultiPaxosSafety`` (PMMC §3, the invariants A1-A5, R1-R3):
  - no two different commands are decided in one slot, at any replica, at any time (R1);
  - every replica applies the same sequence: what replica r applied in slot s is the
    command decided there (R2/R3, checked as "applied agrees with decided");
  - once a command is chosen in slot s (a phase-2 quorum accepted the same pvalue),
    every pvalue an acceptor accepts later in s with a higher ballot carries the same
    command (P2c, the invariant that makes a leader change keep decided slots).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Protocol

from protocols.check.invariants import InvariantViolation

__all__ = ["MultiPaxosSafety", "SynodAgreement"]


class SynodAgreement:
    def __init__(self, majority: int) -> None:
        self.majority = majority
        self.accepted_by: dict[tuple[object, str], set[str]] = {}
        self.chosen: dict[str, object] = {}  # value -> the first ballot it was chosen at

    def observe(self, acceptances: Iterable[tuple[str, object, str]]) -> None:
        """(acceptor, accepted ballot, value) of every live acceptor; raise on a second
        chosen value."""
        for acceptor, ballot, value in acceptances:
            voters = self.accepted_by.setdefault((ballot, value), set())
            voters.add(acceptor)
            if len(voters) >= self.majority and value not in self.chosen:
                self.chosen[value] = ballot
        if len(self.chosen) > 1:
            raise InvariantViolation(f"synod agreement: {len(self.chosen)} values chosen: "
                                     f"{self.chosen}")


class _PValue(Protocol):
    @property
    def ballot(self) -> object: ...

    @property
    def slot(self) -> int: ...

    @property
    def command(self) -> bytes: ...


class MultiPaxosSafety:
    def __init__(self, phase2_quorum: int) -> None:
        self.q2 = phase2_quorum
        self.decided: dict[int, bytes] = {}  # slot -> the command decided there
        self.accepted_by: dict[tuple[int, object, bytes], set[str]] = {}
        self.chosen: dict[int, tuple[object, bytes]] = {}  # slot -> (first ballot, command)

    def decide(self, replica: str, slot: int, command: bytes) -> None:
        """Replica ``replica`` learned that ``command`` is decided in ``slot`` (R1)."""
        seen = self.decided.setdefault(slot, command)
        if seen != command:
            raise InvariantViolation(f"paxos agreement: slot {slot} decided twice: "
                                     f"{seen!r} and, at {replica}, {command!r}")

    def applied(self, replica: str, slot: int, command: bytes) -> None:
        """Replica ``replica`` applied ``command`` in ``slot``: it must be the decision."""
        self.decide(replica, slot, command)

    def accept(self, acceptor: str, pvalues: Iterable[_PValue]) -> None:
        """The pvalues acceptor ``acceptor`` holds now (P2c over time)."""
        for pv in pvalues:
            voters = self.accepted_by.setdefault((pv.slot, pv.ballot, pv.command), set())
            if acceptor in voters:
                continue
            voters.add(acceptor)
            chosen = self.chosen.get(pv.slot)
            if chosen is not None and pv.ballot > chosen[0] and pv.command != chosen[1]:  # type: ignore[operator]
                raise InvariantViolation(
                    f"paxos P2c: {pv.command!r} accepted at {acceptor} in slot {pv.slot} with "
                    f"ballot {pv.ballot}, after {chosen[1]!r} was chosen there at {chosen[0]}")
            if len(voters) >= self.q2 and chosen is None:
                self.chosen[pv.slot] = (pv.ballot, pv.command)

    def check_decided_were_chosen(self, chosen_required: bool = False) -> None:
        """Every decision must match what acceptors chose in that slot (when known)."""
        for slot, command in self.decided.items():
            chosen = self.chosen.get(slot)
            if chosen is not None and chosen[1] != command:
                raise InvariantViolation(f"paxos: slot {slot} decided {command!r} but "
                                         f"{chosen[1]!r} was chosen there")


def majority_of(nodes: Mapping[str, object] | Iterable[str]) -> int:
    return len(list(nodes)) // 2 + 1
