"""The toy protocol in the simulator: its adapter, with one invariant, the KV workload and a
fault of its own for the random nemesis."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from protocols.check.invariants import check_agreement
from protocols.contract import ProtocolSpec
from protocols.kv.rsm import KV_BINDING
from protocols.sim.api import SimAdapter, WorkloadFactory
from protocols.sim.workload import kv_workload
from tests.toy.protocol import SPEC, UNSAFE_SPEC
from tests.toy.protocol.core import ToyCore

if TYPE_CHECKING:
    from protocols.sim.nemesis import NemesisAction
    from protocols.sim.world import World

__all__ = ["ADAPTER", "UNSAFE", "logs_agree", "restart_backup"]


def logs_agree(world: World) -> None:
    """Agreement: no two live nodes hold different entries at one index."""
    check_agreement({n: dict(enumerate(node.core.log, 1)) for n, node in world.nodes.items()
                     if node.up and isinstance(node.core, ToyCore)})


def restart_backup(world: World, rng: random.Random) -> str | None:
    """A nemesis action of the toy's own: a backup loses power and comes straight back,
    with only what its disk kept; the primary's resends bring it up to date."""
    backups = [n for n in world.up_nodes()
               if isinstance(c := world.core(n), ToyCore) and not c.is_primary]
    if not backups:
        return None
    n = rng.choice(sorted(backups))
    world.crash(n)
    world.restart(n)
    return f"restart-backup {n}"


class ToyAdapter(SimAdapter):
    def __init__(self, name: str, spec: ProtocolSpec) -> None:
        self.name, self.spec = name, spec

    def invariants(self) -> list[Callable[[World], None]]:
        return [logs_agree]

    def workloads(self) -> Mapping[str, WorkloadFactory]:
        return {"kv": kv_workload(KV_BINDING)}

    def nemesis_actions(self) -> Mapping[str, NemesisAction]:
        return {"restart-backup": restart_backup}


ADAPTER = ToyAdapter("tests.toy.protocol:ENTRY", SPEC)
UNSAFE = ToyAdapter("tests.toy.protocol:UNSAFE_ENTRY", UNSAFE_SPEC)
