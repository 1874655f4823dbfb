"""Single-decree Paxos, the Synod, as in "Paxos Made Simple" (Lamport, 2001), §2.

Every node plays the three roles. A *proposer* picks a ballot (a proposal number) higher
than any it has seen and runs two phases; an *acceptor* keeps two numbers' worth of state
on disk; a *learner* finds out which value was chosen. Read beside the paper:

Phase 1. (a) A proposer selects a ballot b and sends a Prepare(b) to the acceptors.
         (b) An acceptor that receives Prepare(b) with b greater than any it has promised
         promises not to accept anything numbered below b, and replies with the
         highest-numbered proposal it has accepted, if any.
Phase 2. (a) If the proposer hears promises from a majority, it sends Accept(b, v) where
         v is the value of the highest-numbered proposal among the replies, or any value
         (its client's) if none reported one.
         (b) An acceptor accepts Accept(b, v) unless it promised a ballot above b.
Learning. Once a majority accepted the same (b, v), v is chosen; the proposer that
         counted them tells every learner (Chosen, one-way).

Safety holds whatever the network does; a proposer that loses (its promises or accepts
are refused) retries with a higher ballot after a randomized backoff, so two proposers
do not preempt each other forever (the paper's liveness argument needs one distinguished
proposer; random backoff makes one likely).

The simulator runs it (``scripts/sim --protocol synod``) with clients proposing values at
random nodes; ``protocols.check.paxos.SynodAgreement`` checks after every event that at
most one value is ever chosen.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from protocols.common.errors import InvalidRequest
from protocols.common.ids import NodeId
from protocols.common.quorum import majority
from protocols.contract import Answer, Core, Envelope, NodeStatus, Ready
from protocols.paxos.messages import BOTTOM, Ballot
from protocols.paxos.options import SynodOptions

__all__ = ["Accept", "Accepted", "Acceptor", "Chosen", "Prepare", "Promise", "SynodCore",
           "SynodOptions"]


# ====================================================================== messages
@dataclass(frozen=True, slots=True)
class Prepare:
    """Phase 1a."""

    ballot: Ballot


@dataclass(frozen=True, slots=True)
class Promise:
    """Phase 1b: ``ok`` if the acceptor promised ``ballot``; it reports the proposal it
    accepted with the highest ballot (``accepted_ballot`` is BOTTOM if none)."""

    ballot: Ballot  # the ballot the acceptor promised (greater than asked: refused)
    ok: bool
    accepted_ballot: Ballot = BOTTOM
    accepted_value: str = ""


@dataclass(frozen=True, slots=True)
class Accept:
    """Phase 2a."""

    ballot: Ballot
    value: str


@dataclass(frozen=True, slots=True)
class Accepted:
    """Phase 2b: ``ok`` if the acceptor accepted; else the ballot it promised."""

    ballot: Ballot
    ok: bool


@dataclass(frozen=True, slots=True)
class Chosen:
    """Learning: a majority accepted ``value``."""

    value: str


# ====================================================================== the roles
@dataclass(slots=True)
class Acceptor:
    """Its state must survive crashes: a promise forgotten could let two values win."""

    promised: Ballot = BOTTOM
    accepted_ballot: Ballot = BOTTOM
    accepted_value: str = ""

    def on_prepare(self, m: Prepare) -> tuple[Promise, bool]:
        """(reply, whether the state changed and must be persisted first)."""
        if m.ballot > self.promised:
            self.promised = m.ballot
            return Promise(m.ballot, True, self.accepted_ballot, self.accepted_value), True
        return Promise(self.promised, False), False

    def on_accept(self, m: Accept) -> tuple[Accepted, bool]:
        if m.ballot >= self.promised:
            self.promised = self.accepted_ballot = m.ballot
            self.accepted_value = m.value
            return Accepted(m.ballot, True), True
        return Accepted(self.promised, False), False


@dataclass(slots=True)
class Proposer:
    ballot: Ballot = BOTTOM
    value: str | None = None  # what our clients want chosen
    phase: str = "idle"  # idle -> preparing -> accepting (-> idle on a refusal)
    promises: set[str] = field(default_factory=set)
    best: tuple[Ballot, str] = (BOTTOM, "")  # highest accepted proposal reported
    accepts: set[str] = field(default_factory=set)
    retry_in: int = 0  # ticks until the next attempt (backoff)
    highest_round: int = 0  # the highest round seen anywhere
    issued: tuple[Ballot, str] | None = None  # the proposal (ballot, value) of phase 2a


# ====================================================================== the core
class SynodCore(Core):
    def __init__(self, node_id: NodeId, peers: Sequence[NodeId], rng: random.Random,
                 options: SynodOptions, acceptor: Acceptor, highest_round: int = 0) -> None:
        self.node_id = node_id
        self.nodes = sorted([node_id, *peers])
        self.majority = majority(len(self.nodes))
        self.rng = rng
        self.options = options
        self.acceptor = acceptor
        self.proposer = Proposer(highest_round=max(highest_round, acceptor.promised.round))
        self.chosen: str | None = None  # the learner's knowledge
        self.waiting: list[Any] = []  # client requests answered once a value is chosen
        self._ready = Ready()

    # ------------------------------------------------------------------ clients
    def submit(self, request_id: Any, command: Any) -> None:
        if not isinstance(command, str):
            self._ready.answers.append(Answer(request_id, error=InvalidRequest(
                "the Synod chooses a string value")))
            return
        if self.chosen is not None:
            self._ready.answers.append(Answer(request_id, self.chosen))
            return
        self.waiting.append(request_id)
        if self.proposer.value is None:
            self.proposer.value = command
        if self.proposer.phase == "idle" and self.proposer.retry_in == 0:
            self._prepare()

    # ------------------------------------------------------------------ proposer
    def _prepare(self) -> None:
        """Phase 1a: a ballot above every one seen, Prepare to every acceptor. The round
        is written down before the Prepares leave (§2.2: a proposer remembers, in stable
        storage, the highest-numbered proposal it has tried to issue), so a proposer
        that crashes and restarts never issues the same ballot with another value."""
        p = self.proposer
        p.highest_round += 1
        self._persist()
        p.ballot = Ballot(p.highest_round, self.node_id)
        p.phase, p.promises, p.accepts, p.best = "preparing", set(), set(), (BOTTOM, "")
        self._ready.trace.append(f"prepare {p.ballot}")
        for n in self.nodes:
            self._to(n, Prepare(p.ballot))

    def _on_promise(self, src: str, request: Prepare, reply: Promise) -> None:
        p = self.proposer
        if p.phase != "preparing" or request.ballot != p.ballot:
            return
        if not reply.ok:
            self._refused(reply.ballot)
            return
        p.promises.add(src)
        if reply.accepted_ballot > p.best[0]:
            p.best = (reply.accepted_ballot, reply.accepted_value)
        if len(p.promises) >= self.majority:  # phase 2a: the highest accepted value wins
            value = p.best[1] if p.best[0] > BOTTOM else p.value
            assert value is not None
            p.phase, p.issued = "accepting", (p.ballot, value)
            for n in self.nodes:
                self._to(n, Accept(p.ballot, value))

    def _on_accepted(self, src: str, request: Accept, reply: Accepted) -> None:
        p = self.proposer
        if p.phase != "accepting" or request.ballot != p.ballot:
            return
        if not reply.ok:
            self._refused(reply.ballot)
            return
        p.accepts.add(src)
        if len(p.accepts) >= self.majority:
            self._learn(request.value)
            for n in self.nodes:
                if n != self.node_id:
                    self._to(n, Chosen(request.value))

    def _refused(self, ballot: Ballot) -> None:
        """Someone promised a higher ballot: step back, retry later with a higher one."""
        p = self.proposer
        p.highest_round = max(p.highest_round, ballot.round)
        p.phase = "idle"
        if self.options.backoff:
            p.retry_in = self.rng.randrange(self.options.retry_min_ticks,
                                            self.options.retry_max_ticks)
        else:
            self._prepare()

    # ------------------------------------------------------------------ learner
    def _learn(self, value: str) -> None:
        if self.chosen is None:
            self.chosen = value
            self._ready.trace.append(f"learned {value!r}")
        self.proposer.phase = "idle"
        for request_id in self.waiting:
            self._ready.answers.append(Answer(request_id, self.chosen))
        self.waiting = []

    # ------------------------------------------------------------------ the driver interface
    def tick(self) -> None:
        p = self.proposer
        if p.retry_in:
            p.retry_in -= 1
            if p.retry_in == 0 and self.chosen is None and p.value is not None:
                self._prepare()

    def on_message(self, src: NodeId, msg: Any) -> Any:
        reply: Promise | Accepted
        match msg:
            case Prepare():
                self.proposer.highest_round = max(self.proposer.highest_round,
                                                  msg.ballot.round)
                reply, changed = self.acceptor.on_prepare(msg)
            case Accept():
                reply, changed = self.acceptor.on_accept(msg)
            case Chosen():
                self._learn(msg.value)
                return None
            case _:
                raise InvalidRequest(f"the Synod does not handle {type(msg).__name__}")
        if changed:  # persisted before the reply leaves (the pump holds it)
            self._persist()
        return reply

    def _persist(self) -> None:
        """The acceptor's state and the proposer's highest round, as one record."""
        a = self.acceptor
        self._ready.persist.append((a.promised, a.accepted_ballot, a.accepted_value,
                                    self.proposer.highest_round))

    def on_reply(self, src: NodeId, request: Any, reply: Any) -> None:
        match request, reply:
            case Prepare(), Promise():
                self._on_promise(src, request, reply)
            case Accept(), Accepted():
                self._on_accepted(src, request, reply)

    def on_send_failed(self, dst: NodeId, request: Any) -> None:
        """Lost: a proposer stuck short of a majority retries after a backoff."""
        p = self.proposer
        if p.phase != "idle" and self.chosen is None and p.retry_in == 0:
            p.retry_in = self.rng.randrange(self.options.retry_min_ticks,
                                            self.options.retry_max_ticks)
            p.phase = "idle"

    def _to(self, node: str, msg: Any) -> None:
        self._ready.messages.append(Envelope(NodeId(node), msg))

    def ready(self) -> Ready:
        ready, self._ready = self._ready, Ready()
        return ready

    def status(self) -> NodeStatus:
        a, p = self.acceptor, self.proposer
        return NodeStatus(role="learned" if self.chosen is not None else p.phase,
                          epoch=a.promised.round, details={
                              "promised": str(a.promised), "accepted": str(a.accepted_ballot),
                              "accepted_value": a.accepted_value, "chosen": self.chosen or ""})
