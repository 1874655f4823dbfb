"""The toy protocol in the simulator: its adapter, with one invariant and the KV workload."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from protocols.check.invariants import check_agreement
from protocols.contract import ProtocolSpec
from protocols.kv.rsm import KV_BINDING
from protocols.sim.api import SimAdapter, WorkloadFactory
from protocols.sim.workload import kv_workload
from tests.toy.protocol.core import SPEC, UNSAFE_SPEC, ToyCore

if TYPE_CHECKING:
    from protocols.sim.world import World

__all__ = ["ADAPTER", "UNSAFE", "logs_agree"]


def logs_agree(world: World) -> None:
    """Agreement: no two live nodes hold different entries at one index."""
    check_agreement({n: dict(enumerate(node.core.log, 1)) for n, node in world.nodes.items()
                     if node.up and isinstance(node.core, ToyCore)})


class ToyAdapter(SimAdapter):
    def __init__(self, name: str, spec: ProtocolSpec) -> None:
        self.name, self.spec = name, spec

    def invariants(self) -> list[Callable[[World], None]]:
        return [logs_agree]

    def workloads(self) -> Mapping[str, WorkloadFactory]:
        return {"kv": kv_workload(KV_BINDING)}


ADAPTER = ToyAdapter("tests.toy.protocol:ENTRY", SPEC)
UNSAFE = ToyAdapter("tests.toy.protocol:UNSAFE_ENTRY", UNSAFE_SPEC)
