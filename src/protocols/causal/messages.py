"""Causal broadcast's messages (Birman, Schiper, Stephenson, "Lightweight causal and
atomic group multicast", ACM TOCS 1991, §4 "CBCAST"; course chapters 21-22 on time and
ordering). Each travels as the protobuf message of the same name (protos/causal.proto)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["CausalMessage", "Status"]


@dataclass(frozen=True, slots=True)
class CausalMessage:
    """The origin's ``seq``-th broadcast. ``clock[k]`` is how many of k's broadcasts the
    origin had delivered when it sent this one (and ``clock[origin] == seq``): the BSS
    vector timestamp. A receiver may deliver it once it has delivered ``seq - 1`` of the
    origin's and at least ``clock[k]`` of every other k's."""

    origin: str
    seq: int
    clock: Mapping[str, int]
    payload: bytes = b""

    def __post_init__(self) -> None:
        if self.seq < 1 or self.clock.get(self.origin) != self.seq:
            raise ValueError(f"broadcast {self.origin}#{self.seq} must carry "
                             f"clock[{self.origin}] == {self.seq}")


@dataclass(frozen=True, slots=True)
class Status:
    """One-way, every few ticks: what the sender has delivered from each origin, as a
    contiguous count. Peers resend what it lacks; what everyone has leaves the buffers.
    ``stable``: up to where the sender knows *every* member has delivered each origin's
    broadcasts (it may have dropped them): what a member that lost its disk takes as
    delivered when it rejoins."""

    delivered: Mapping[str, int]
    stable: Mapping[str, int] = field(default_factory=dict)
