"""The outbox: what a sans-IO core hands back after each input (etcd's ``Ready``).

A core never performs IO. After ``tick()``, ``on_message()``, ``on_reply()`` or
``submit()``, the caller (the asyncio shell or the simulator) drains ``core.ready()`` and
handles it in this order, which is what makes the protocol safe:

1. ``persist``  - write durable state and fsync it,   (persist before you speak)
2. ``messages`` - send requests to peers,
3. ``applied``  - entries now applied to the state machine (observable effects),
4. ``answers``  - results for client requests.

See ``protocols.runtime.core.pump`` for the one function that does this.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from protocols.common.ids import NodeId

__all__ = ["Answer", "Envelope", "Ready"]


@dataclass(frozen=True, slots=True)
class Envelope:
    """A request message for peer ``dst``. Replies travel back as RPC replies.

    ``ahead_of_persist``: the core vouches that this message may leave *while* this
    Ready's persist is still being written (Raft thesis §10.2.1: a leader may send
    AppendEntries in parallel with writing the same entries to its own disk). The core
    must then not rely on that write until the driver reports it with ``on_persisted()``
    (Raft: its own copy counts toward a commit only from then on); what it learns from
    the replies surfaces in later Readies, acted on after this persist completes.
    """

    dst: NodeId
    msg: Any
    ahead_of_persist: bool = False


@dataclass(frozen=True, slots=True)
class Answer:
    """The outcome of a client request submitted with ``core.submit(request_id, ...)``.

    ``error`` is None on success, else a ProtocolError (NotLeader, Unavailable ...).
    """

    request_id: Any
    result: Any = None
    error: Exception | None = None


@dataclass(slots=True)
class Ready:
    """Everything a core wants done, in the order it must be done."""

    persist: list[Any] = field(default_factory=list)
    messages: list[Envelope] = field(default_factory=list)
    applied: list[Any] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)
    trace: list[str] = field(default_factory=list)

    def is_empty(self) -> bool:
        return not (self.persist or self.messages or self.applied or self.answers or self.trace)
