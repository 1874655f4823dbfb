"""The replica (PMMC §3, Figure "Replica"): turns decisions into applied commands.

It keeps ``slot_in`` (the next slot a new request may be proposed in), ``slot_out`` (the
next slot to apply: every slot below is applied), ``requests`` (client commands not yet
proposed), ``proposals`` (slot -> command proposed there, with who waits on it) and
``decisions`` (slot -> the command decided there). Decisions are applied in slot order,
each exactly once, to the KV state machine (``protocols.kv.rsm``): every replica goes
through the same sequence of states. At most ``window`` slots are in flight at a time.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import Any

from protocols.contract import Answer
from protocols.kv.rsm import ReplicatedKv
from protocols.paxos.leader import NOOP

__all__ = ["Replica"]


@dataclass(slots=True)
class Replica:
    kv: ReplicatedKv
    window: int = 256
    slot_in: int = 1
    slot_out: int = 1
    requests: deque[tuple[Any, bytes]] = field(default_factory=deque)  # (request id, cmd)
    decisions: dict[int, bytes] = field(default_factory=dict)  # slot -> command
    snapshot_slot: int = 1  # decisions below were compacted into the state machine

    def next_slot(self) -> int | None:
        """The slot for the next request, if the window allows one more in flight."""
        if self.slot_in >= self.slot_out + self.window:
            return None
        slot = self.slot_in
        self.slot_in += 1
        return slot

    def decide(self, slot: int, command: bytes) -> bool:
        """A decision arrived; True if it is new (the caller persists it)."""
        if slot < self.slot_out or slot in self.decisions:
            return False
        self.decisions[slot] = command
        self.slot_in = max(self.slot_in, slot + 1)
        return True

    def perform(self, answers: list[Answer]) -> list[tuple[int, bytes]]:
        """Apply every decision that is next in order; returns (slot, command) applied."""
        done = []
        while self.slot_out in self.decisions:
            slot, command = self.slot_out, self.decisions[self.slot_out]
            if command == NOOP:
                self.kv.settle(slot, command, None, answers)
            else:
                self.kv.apply(slot, command, command, answers)
            done.append((slot, command))
            self.slot_out += 1
        return done

    def compact(self) -> None:
        """Forget decisions below slot_out: the state machine holds their effect."""
        for slot in [s for s in self.decisions if s < self.slot_out]:
            del self.decisions[slot]
        self.snapshot_slot = self.slot_out
