"""Paxos safety, checked over observed acceptor and replica states.

* ``SynodAgreement`` (single-decree, "Paxos Made Simple" §2.1): at most one value is ever
  chosen. A value is chosen when a majority of acceptors accepted the same (ballot,
  value); the checker remembers every acceptance it has seen, across crashes, so a
  majority counted over time is not missed when an acceptor later moves on. And P2c
  (§2.2): once v is chosen at ballot b, every proposal issued with a higher ballot has
  value v (``issued``).
* ``MultiPaxosSafety`` (PMMC §3, the invariants A1-A5, R1-R3):
  - no two different commands are decided in one slot, at any replica, at any time (R1);
  - every decision was chosen: a phase-2 quorum of acceptors accepted that command in
    that slot with one ballot (what a commander waits for before it decides);
  - every replica applies the same sequence: what replica r applied in slot s is the
    command decided there (R2/R3, checked as "applied agrees with decided");
  - once a command is chosen in slot s (a phase-2 quorum accepted the same pvalue),
    every pvalue an acceptor accepts later in s with a higher ballot carries the same
    command (A5, "Paxos Made Simple"'s P2c: what makes a leader change keep decided slots);
  - one ballot carries one command per slot, at every acceptor, ever (A4: a ballot
    reused after a crash breaks it before it breaks agreement);
  - an acceptor's ballot never decreases while it runs (A1), and is never below the
    ballot of a pvalue it holds (A2: it accepts only at its ballot, so a restart that
    forgets a ballot it adopted by accepting is caught);
  - a replica's slot_out never decreases while it runs (R4).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from protocols.check.invariants import InvariantViolation

__all__ = ["MultiPaxosSafety", "SynodAgreement"]


class SynodAgreement:
    def __init__(self, majority: int) -> None:
        self.majority = majority
        self.accepted_by: dict[tuple[object, str], set[str]] = {}
        self.chosen: dict[str, object] = {}  # value -> the first ballot it was chosen at
        self.proposals: list[tuple[object, str]] = []  # every (ballot, value) issued

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
        for ballot, value in self.proposals:
            self._p2c(ballot, value)

    def issued(self, proposer: str, ballot: object, value: str) -> None:
        """``proposer`` issued the proposal (ballot, value) (phase 2a)."""
        if (ballot, value) not in self.proposals:
            self.proposals.append((ballot, value))
            self._p2c(ballot, value, proposer)

    def _p2c(self, ballot: object, value: str, proposer: str = "a proposer") -> None:
        for v, at in self.chosen.items():
            if ballot > at and value != v:  # type: ignore[operator]
                raise InvariantViolation(
                    f"synod P2c: {proposer} issued ({ballot}, {value!r}) after {v!r} was "
                    f"chosen at the lower ballot {at}")


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
        self.chosen_commands: set[tuple[int, bytes]] = set()  # (slot, command) chosen
        self.proposed: dict[tuple[int, object], bytes] = {}  # (slot, ballot) -> command
        self.ballots: dict[str, object] = {}  # acceptor -> ballot last seen (A1)
        self.slot_outs: dict[str, int] = {}  # replica -> slot_out last seen (R4)

    def acceptor_state(self, acceptor: str, ballot: object, pvalues: Iterable[_PValue],
                       restarted: bool = False) -> None:
        """A1 (while it runs) and A2 (always) over acceptor ``acceptor``'s state now."""
        last = self.ballots.get(acceptor)
        if last is not None and not restarted and ballot < last:  # type: ignore[operator]
            raise InvariantViolation(f"paxos A1: acceptor {acceptor}'s ballot went down "
                                     f"from {last} to {ballot}")
        self.ballots[acceptor] = ballot
        for pv in pvalues:
            if pv.ballot > ballot:  # type: ignore[operator]
                raise InvariantViolation(
                    f"paxos A2: acceptor {acceptor} holds {pv.command!r} in slot {pv.slot} "
                    f"at ballot {pv.ballot}, above its own ballot {ballot}")

    def replica_state(self, replica: str, slot_out: int, restarted: bool = False) -> None:
        """R4: slot_out never decreases while the replica runs."""
        last = self.slot_outs.get(replica, 0)
        if slot_out < last and not restarted:
            raise InvariantViolation(f"paxos R4: replica {replica}'s slot_out went down "
                                     f"from {last} to {slot_out}")
        self.slot_outs[replica] = slot_out

    def decide(self, replica: str, slot: int, command: bytes) -> None:
        """Replica ``replica`` learned that ``command`` is decided in ``slot`` (R1), which
        a phase-2 quorum must have accepted with one ballot."""
        seen = self.decided.setdefault(slot, command)
        if seen != command:
            raise InvariantViolation(f"paxos agreement: slot {slot} decided twice: "
                                     f"{seen!r} and, at {replica}, {command!r}")
        if (slot, command) not in self.chosen_commands:
            raise InvariantViolation(
                f"paxos: {command!r} decided in slot {slot} at {replica}, but no "
                f"{self.q2} acceptors accepted it there with one ballot")

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
            first = self.proposed.setdefault((pv.slot, pv.ballot), pv.command)
            if first != pv.command:
                raise InvariantViolation(
                    f"paxos A4: ballot {pv.ballot} carried two commands in slot {pv.slot}: "
                    f"{first!r} and, accepted at {acceptor}, {pv.command!r}")
            chosen = self.chosen.get(pv.slot)
            if chosen is not None and pv.ballot > chosen[0] and pv.command != chosen[1]:  # type: ignore[operator]
                raise InvariantViolation(
                    f"paxos P2c: {pv.command!r} accepted at {acceptor} in slot {pv.slot} with "
                    f"ballot {pv.ballot}, after {chosen[1]!r} was chosen there at {chosen[0]}")
            if len(voters) >= self.q2:
                self.chosen_commands.add((pv.slot, pv.command))
                if chosen is None:
                    self.chosen[pv.slot] = (pv.ballot, pv.command)
