"""Causal broadcast in the simulator: a workload of clients broadcasting at random
members while the network delays, reorders and loses messages, judged by
``protocols.check.causal`` (every delivery after its causal past; every member delivers
every broadcast once the faults heal)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from protocols.causal import SPEC, CausalSpec
from protocols.causal.core import CausalCore, Send
from protocols.check.causal import (
    Delivery,
    Message,
    causal_violations,
    mislabelled,
    missing_deliveries,
    undelivered,
)
from protocols.contract import Answer
from protocols.sim.api import SimAdapter, Verdict, WorkloadFactory, WorkloadParams
from protocols.sim.network import NetworkConfig

if TYPE_CHECKING:
    from protocols.check.history import History
    from protocols.sim.world import World

__all__ = ["ADAPTER", "JITTER", "BroadcastWorkload", "deliveries", "delivery_logs"]

# one-way messages delayed 1-300 ms independently: overtaking is common; 5% lost
JITTER = NetworkConfig(delay_min_ms=1, delay_max_ms=300, drop_request_rate=0.05)


def delivery_logs(world: World) -> dict[str, list[tuple[str, int]]]:
    """What each member delivered, in order (its own broadcasts at their send)."""
    return {n: [(d.origin, d.seq) for d in node.applied]
            for n, node in world.nodes.items()}


def deliveries(world: World) -> dict[str, list[Delivery]]:
    """The same, with each delivery's payload."""
    return {n: [(d.origin, d.seq, d.payload) for d in node.applied]
            for n, node in world.nodes.items()}


@dataclass
class BroadcastWorkload:
    """Clients broadcast at random members every few ms, so each broadcast follows
    whatever its member delivered so far: chains of cause and effect across members.
    The verdict: causal order, one payload per (origin, seq), every acknowledged
    broadcast delivered everywhere with the payload it was sent with."""

    world: World
    clients: int = 3
    stop_at_ms: int = 5000
    sent: int = 0
    payloads: dict[Any, bytes] = field(default_factory=dict)  # request id -> payload
    acknowledged: dict[Message, bytes] = field(default_factory=dict)
    history: History | None = None

    def start(self) -> None:
        self.world.answer_hooks.append(self._on_answer)
        for c in range(self.clients):
            self.world.at(1 + 7 * c, lambda c=c: self._next(c))  # type: ignore[misc]

    def _next(self, client: int) -> None:
        w = self.world
        if w.now >= self.stop_at_ms:
            return
        rng = w.rng(f"broadcast/{client}/{self.sent}")
        self.sent += 1
        rid = ("send", client, self.sent)
        self.payloads[rid] = f"c{client}-{self.sent}".encode()
        w.submit(rng.choice(w.ids), Send(self.payloads[rid]), request_id=rid)
        w.at(rng.randrange(5, 60), lambda: self._next(client))

    def _on_answer(self, answer: Answer) -> None:
        payload = self.payloads.pop(answer.request_id, None)
        if payload is not None and answer.error is None:
            origin, seq, _ = answer.result
            self.acknowledged[(origin, seq)] = payload

    @property
    def idle(self) -> bool:
        logs = delivery_logs(self.world)
        return self.world.now >= self.stop_at_ms and not missing_deliveries(logs) \
            and not undelivered(self.acknowledged, logs)

    def verdict(self) -> Verdict:
        logs = delivery_logs(self.world)
        broken = causal_violations(logs) or mislabelled(deliveries(self.world),
                                                        self.acknowledged) \
            or undelivered(self.acknowledged, logs)
        if broken:
            return Verdict("causal order", "violation", "; ".join(broken[:3]))
        lacking = missing_deliveries(logs)
        if lacking:
            return Verdict("causal order", "unknown", "; ".join(lacking))
        total = sum(1 for n, log in logs.items() for m in log if m[0] == n)
        held = max((c.max_held for c in _cores(self.world)), default=0)
        return Verdict("causal order", "ok", f"{total} broadcasts delivered everywhere in "
                                             f"causal order ({len(self.acknowledged)} "
                                             f"acknowledged); hold-back peak {held}")


def _cores(world: World) -> list[CausalCore]:
    return [n.core for n in world.nodes.values() if isinstance(n.core, CausalCore)]


def broadcast_workload(world: World, params: WorkloadParams) -> BroadcastWorkload:
    return BroadcastWorkload(world, clients=params.clients, stop_at_ms=params.stop_at_ms)


class CausalAdapter(SimAdapter):
    name = "causal"
    spec: CausalSpec = SPEC

    def workloads(self) -> Mapping[str, WorkloadFactory]:
        return {"broadcast": broadcast_workload}


ADAPTER = CausalAdapter()
