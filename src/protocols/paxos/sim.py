"""Paxos in the simulator: adapters for the Synod and for Multi-Paxos, their invariants
(``protocols.check.paxos``, after every event) and their workloads."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from protocols.check.paxos import MultiPaxosSafety, SynodAgreement
from protocols.common.quorum import majority
from protocols.contract import Answer
from protocols.kv.rsm import KV_BINDING
from protocols.paxos import SPEC, SYNOD_SPEC, PaxosSpec, SynodSpec
from protocols.paxos.core import PaxosCore
from protocols.paxos.synod import SynodCore
from protocols.sim.api import SimAdapter, Verdict, WorkloadFactory, WorkloadParams
from protocols.sim.workload import kv_workload, list_append_workload

if TYPE_CHECKING:
    from protocols.check.history import History
    from protocols.sim.world import World

__all__ = ["ADAPTER", "SYNOD", "ConsensusWorkload", "PaxosInvariants", "SynodInvariants"]


# ====================================================================== the Synod
class SynodInvariants:
    """At most one value is ever chosen, counted over every acceptance seen; P2c over
    every proposal issued."""

    def __init__(self) -> None:
        self.agreement: SynodAgreement | None = None

    def __call__(self, world: World) -> None:
        if self.agreement is None:
            self.agreement = SynodAgreement(majority(len(world.ids)))
        self.agreement.observe(
            (n, node.core.acceptor.accepted_ballot, node.core.acceptor.accepted_value)
            for n, node in world.nodes.items()
            if node.up and isinstance(node.core, SynodCore)
            and node.core.acceptor.accepted_value)
        for n, node in world.nodes.items():
            if node.up and isinstance(node.core, SynodCore) and node.core.proposer.issued:
                self.agreement.issued(n, *node.core.proposer.issued)


@dataclass
class ConsensusWorkload:
    """Each client wants its own value chosen: it asks a random node, and asks another
    when no answer comes in time. The verdict: every answer names the same value, and
    every client got one (after the faults heal: liveness with a stable majority)."""

    world: World
    clients: int = 3
    attempt_timeout_ms: int = 400
    answers: dict[int, Any] = field(default_factory=dict)
    attempts: int = 0
    history: History | None = None

    def start(self) -> None:
        self.world.answer_hooks.append(self._on_answer)
        rng = self.world.rng("workload")
        for c in range(self.clients):
            self.world.at(rng.randrange(1, 50), lambda c=c: self._ask(c))  # type: ignore[misc]

    def _ask(self, client: int) -> None:
        if client in self.answers:
            return
        self.attempts += 1
        node = self.world.rng(f"workload/{client}/{self.attempts}").choice(self.world.ids)
        self.world.submit(node, f"value-of-client-{client}",
                          request_id=("consensus", client, self.attempts))
        self.world.at(self.attempt_timeout_ms, lambda: self._ask(client))

    def _on_answer(self, answer: Answer) -> None:
        rid = answer.request_id
        if isinstance(rid, tuple) and rid[0] == "consensus" and answer.error is None:
            self.answers.setdefault(rid[1], answer.result)

    @property
    def idle(self) -> bool:
        return len(self.answers) == self.clients

    def verdict(self) -> Verdict:
        values = sorted(set(self.answers.values()))
        if len(values) > 1:
            return Verdict("agreement", "violation", f"clients were told {values}")
        if len(self.answers) < self.clients:
            return Verdict("agreement", "unknown", f"only {len(self.answers)} of "
                                                   f"{self.clients} clients got an answer")
        return Verdict("agreement", "ok", f"every client was told {values[0]!r}")


def consensus_workload(world: World, params: WorkloadParams) -> ConsensusWorkload:
    return ConsensusWorkload(world, clients=params.clients)


class SynodAdapter(SimAdapter):
    name = "synod"
    spec: SynodSpec = SYNOD_SPEC

    def invariants(self) -> list[Callable[[World], None]]:
        return [SynodInvariants()]

    def workloads(self) -> Mapping[str, WorkloadFactory]:
        return {"consensus": consensus_workload}


# ====================================================================== Multi-Paxos
class PaxosInvariants:
    """PMMC's safety, after every event (``check.paxos``): one command per slot, every
    decision chosen by a phase-2 quorum, replicas apply what was decided, no pvalue
    accepted after a choice contradicts it, one command per ballot and slot, acceptors'
    ballots and replicas' slot_out never go down while they run."""

    def __init__(self) -> None:
        self.safety: MultiPaxosSafety | None = None
        self.seen: dict[str, int] = {}  # node -> incarnation being recorded

    def __call__(self, world: World) -> None:
        for n, node in sorted(world.nodes.items()):
            core = node.core
            if not node.up or not isinstance(core, PaxosCore):
                continue
            if self.safety is None:
                self.safety = MultiPaxosSafety(core.q2)
            restarted = self.seen.get(n) != node.incarnation
            self.safety.acceptor_state(  # A2 over every pvalue only after a restart: the
                n, core.acceptor.ballot_number,  # running acceptor keeps it by construction
                core.acceptor.accepted.values() if restarted else (), restarted)
            self.safety.replica_state(n, core.replica.slot_out, restarted)
            if restarted:  # a new incarnation: start recording
                self.seen[n] = node.incarnation
                core.events = []
                self.safety.accept(n, core.acceptor.accepted.values())
                for slot, command in core.replica.decisions.items():
                    self.safety.decide(n, slot, command)
                continue
            events, core.events = core.events or [], []
            for kind, value in events:
                if kind == "accepted":
                    self.safety.accept(n, [value])
                elif kind == "decided":
                    self.safety.decide(n, *value)
                else:
                    self.safety.applied(n, *value)


class PaxosAdapter(SimAdapter):
    name = "paxos"
    spec: PaxosSpec = SPEC
    # as on real processes (the cluster's rpc_deadline_ms): a reply may come later than
    # an election timeout, and the core must not take a late one for news
    rpc_timeout_ms = 1000

    def invariants(self) -> list[Callable[[World], None]]:
        return [PaxosInvariants()]

    def workloads(self) -> Mapping[str, WorkloadFactory]:
        return {"kv": kv_workload(KV_BINDING),
                "list-append": list_append_workload(KV_BINDING)}


ADAPTER = PaxosAdapter()
SYNOD = SynodAdapter()
