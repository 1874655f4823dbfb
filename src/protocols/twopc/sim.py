"""2PC in the simulator: atomicity checked after every event, and a bank workload.

``Atomicity`` (BHG §7.1, AC1-AC2): no two nodes reach different outcomes for one
transaction; a participant's COMMIT follows a coordinator's durable commit decision.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from protocols.check.invariants import InvariantViolation
from protocols.sim.api import SimAdapter
from protocols.twopc import SPEC
from protocols.twopc.core import TwoPcCore

if TYPE_CHECKING:
    from protocols.sim.world import World

__all__ = ["ADAPTER", "Atomicity", "TwoPcAdapter"]


class Atomicity:
    """Every outcome any node reached, per transaction: never both."""

    def __init__(self) -> None:
        self.outcomes: dict[str, dict[str, bool]] = {}

    def __call__(self, world: World) -> None:
        for n in world.up_nodes():
            core = world.core(n)
            if not isinstance(core, TwoPcCore) or core.participant is None:
                continue
            for txn, committed in core.participant.outcomes.items():
                seen = self.outcomes.setdefault(txn, {})
                seen[n] = committed
                if len(set(seen.values())) > 1:
                    raise InvariantViolation(
                        f"atomicity: {txn} committed at "
                        f"{sorted(k for k, v in seen.items() if v)} and aborted at "
                        f"{sorted(k for k, v in seen.items() if not v)}")


class TwoPcAdapter(SimAdapter):
    name = "twopc"
    spec = SPEC

    def invariants(self) -> Sequence[Callable[[World], None]]:
        return [Atomicity()]


ADAPTER = TwoPcAdapter()
