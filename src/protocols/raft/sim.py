"""Raft in the simulator: its adapter (the spec, the KV workload, the invariants).

The invariants are Raft's safety properties from ``protocols.check.raft``, checked
after every simulated event over every live node, including nodes that crashed and
came back (the checker remembers what it saw).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from protocols.check.raft import RaftSafety
from protocols.kv.rsm import KV_BINDING
from protocols.raft import SPEC, RaftSpec
from protocols.raft.core import RaftCore
from protocols.raft.messages import TransferLeadership
from protocols.sim.api import SimAdapter, WorkloadFactory
from protocols.sim.nemesis import NemesisAction
from protocols.sim.workload import kv_workload, list_append_workload

if TYPE_CHECKING:
    from protocols.sim.world import World

__all__ = ["ADAPTER", "RaftAdapter", "RaftInvariants"]


class RaftInvariants:
    """Feeds every live Raft core to ``RaftSafety`` after each event."""

    def __init__(self) -> None:
        self.safety = RaftSafety()

    def __call__(self, world: World) -> None:
        self.safety.observe({n: (node.incarnation, node.core) for n, node in world.nodes.items()
                             if node.up and isinstance(node.core, RaftCore)})


def transfer_leadership(world: World, rng: random.Random) -> str | None:
    """A nemesis action: the leader hands leadership to a random voter (thesis §3.10)."""
    leader = world.leader()
    if leader is None:
        return None
    core = world.core(leader)
    assert isinstance(core, RaftCore)
    voters = sorted(core.voters - {leader})
    if not voters:
        return None
    target = rng.choice(voters)
    world.submit(leader, TransferLeadership(target))
    return f"transfer {leader}->{target}"


class RaftAdapter(SimAdapter):
    name = "raft"
    spec: RaftSpec = SPEC

    def invariants(self) -> list[Callable[[World], None]]:
        return [RaftInvariants()]

    def workloads(self) -> Mapping[str, WorkloadFactory]:
        return {"kv": kv_workload(KV_BINDING),
                "list-append": list_append_workload(KV_BINDING)}

    def nemesis_actions(self) -> Mapping[str, NemesisAction]:
        return {"transfer": transfer_leadership}


ADAPTER = RaftAdapter()
