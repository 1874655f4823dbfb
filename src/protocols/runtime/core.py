"""The contract between a protocol and the things that drive it.

Every protocol core implements ``Core``; the asyncio shell (``protocols.runtime.host``)
and the deterministic simulator (``protocols.sim``) drive it through exactly these
methods, and both handle its output with the one ``pump`` below. That is what makes a
simulated run and a run on real processes exercise the same algorithm.

RPC style (the papers' style): a peer request reaches ``on_message(src, msg)``, which
returns the reply (or None). The driver persists the core's outbox *before* sending that
reply back, and later feeds the reply to the requester's ``on_reply(src, request, reply)``.
A request that got no reply (dropped, timed out, peer down) is reported with
``on_send_failed`` so a core can free per-peer resources (e.g. pipelining windows).

Time is ``tick()``: a core counts ticks, never reads a clock. Randomness comes from the
``random.Random`` given to its factory, never the global one.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from protocols.common.fs import FileSystem
from protocols.common.ids import NodeId
from protocols.common.outbox import Answer, Envelope, Ready

__all__ = [
    "Core",
    "NodeParts",
    "NodeStatusInfo",
    "ProtocolSpec",
    "Storage",
    "act_on",
    "notify_persisted",
    "pump",
]


@dataclass(slots=True)
class NodeStatusInfo:
    """A protocol-neutral view of a node for Admin.Status, the CLI and tests."""

    role: str = ""
    epoch: int = 0
    leader_id: str = ""
    commit_index: int = 0
    last_applied: int = 0
    details: dict[str, str] = field(default_factory=dict)


class Core(Protocol):
    """A sans-IO protocol state machine."""

    node_id: NodeId

    def tick(self) -> None:
        """One unit of logical time passed."""

    def on_message(self, src: NodeId, msg: Any) -> Any | None:
        """Handle a request from peer ``src``; return its reply (None for one-way messages)."""

    def on_reply(self, src: NodeId, request: Any, reply: Any) -> None:
        """Handle ``reply``, which ``src`` sent in answer to our ``request``."""

    def on_send_failed(self, dst: NodeId, request: Any) -> None:
        """Our ``request`` to ``dst`` got no reply (timeout, drop, refused)."""

    def submit(self, request_id: Any, command: Any) -> None:
        """A client request; its outcome comes back as an ``Answer`` in ``ready().answers``."""

    def ready(self) -> Ready:
        """Drain and return everything the core wants done since the last call."""

    def status(self) -> NodeStatusInfo:
        """What this node would say about itself (role, term/epoch, leader ...)."""

    # Optional: ``on_persisted()``. If a core defines it, drivers call it each time the
    # ``persist`` of a drained Ready has become durable, in drain order (see ``pump``).
    # Raft uses it to count its own log entries toward a commit only once they are on
    # its disk, which is what lets AppendEntries leave ahead of that write.


class Storage(Protocol):
    """A protocol's durable state, written through a ``FileSystem``."""

    def save(self, records: Sequence[Any]) -> None:
        """Make ``records`` (from ``Ready.persist``) durable: return only after fsync."""

    def close(self) -> None: ...


@dataclass(slots=True)
class NodeParts:
    """What a protocol's factory returns: a core recovered from storage, and the storage."""

    core: Core
    storage: Storage


class ProtocolSpec(Protocol):
    """How a protocol plugs into the shell, the simulator and the runner."""

    name: str

    def create_node(
        self,
        node_id: NodeId,
        peers: Sequence[NodeId],
        fs: FileSystem,
        data_dir: str,
        rng: random.Random,
        options: Mapping[str, Any],
    ) -> NodeParts:
        """Build a node, recovering its state from ``data_dir`` on ``fs`` if any."""
        ...


def pump(
    core: Core,
    storage: Storage,
    send: Callable[[Envelope], None],
    apply: Callable[[Any], None],
    answer: Callable[[Answer], None],
    trace: Callable[[str], None] | None = None,
) -> None:
    """Drain the core's outbox and act on it in the only safe order.

    persist -> send -> apply -> answer: a node must never tell anyone about state it could
    still forget in a crash (Raft §5.1 "respond to RPCs" only after "updating stable
    storage"; etcd's Ready contract). After a persist the core hears ``on_persisted()``,
    which may produce more output: drained in the same call. (The asyncio host does the
    same with the write on a thread: ``NodeHost._pump_loop``.)
    """
    while True:
        ready = core.ready()
        if ready.is_empty():
            return
        if ready.persist:
            storage.save(ready.persist)
            notify_persisted(core)
        act_on(ready, send, apply, answer, trace)


def notify_persisted(core: Core) -> None:
    """Tell ``core`` that the persist of its oldest undrained-to-disk Ready is durable."""
    on_persisted = getattr(core, "on_persisted", None)
    if on_persisted is not None:
        on_persisted()


def act_on(
    ready: Ready,
    send: Callable[[Envelope], None],
    apply: Callable[[Any], None],
    answer: Callable[[Answer], None],
    trace: Callable[[str], None] | None = None,
    sent_ahead: bool = False,
) -> None:
    """The steps after persist, in order: send -> apply -> answer."""
    for envelope in ready.messages:
        if not (envelope.ahead_of_persist and sent_ahead):
            send(envelope)
    for entry in ready.applied:
        apply(entry)
    for a in ready.answers:
        answer(a)
    if trace is not None:
        for line in ready.trace:
            trace(line)
