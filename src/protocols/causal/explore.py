"""Causal broadcast as a model for the explorer (``protocols.explore``).

3 members, two broadcasts asked by clients (``Send``), every order of messages (and of
timer firings in the "full" size), and one power cut that may tear the write under way
after any record or inside one (issue #31's schedules, #33's target). Two models: the
cut falls on the sender's write (``torn-sender``) or on a receiver's (``torn-receiver``).
The members start as a cluster just installed (``Installed``): a member on an empty
disk would first rejoin, a dozen moves that neither schedule needs.

Properties (Birman, Schiper, Stephenson 1991, §4, and the durability rules of
``docs/causal-rules.md``), judged with ``protocols.check.causal`` over what each member
handed up across all its lives:

* causal order: no member delivers a message before one in its causal past;
* one payload per ``(origin, seq)``: a member that reused a number (#31 bug 1) is seen
  the moment two payloads share a name, at a member or against an acknowledgement;
* once per life: a member hands a message up at most once between two crashes;
* a restart hands up only recorded deliveries: what a restart would hand up again (the
  deliveries of the last write, ``Recovered.last_write``) is counted by the record that
  closed them — a write cut short is forgotten, not closed by the next record.

The checkers need the whole run, not one state: the model's simulator adapter adds one
invariant, ``WholeRun``, that remembers what each member handed up (the explorer keeps
it per path, as it keeps every simulator invariant's memory).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from protocols.causal import CausalSpec
from protocols.causal.core import CausalCore, DeliveredRecord, Send
from protocols.causal.sim import CausalAdapter
from protocols.causal.storage import CausalStorage
from protocols.check.causal import Delivery, Message, causal_violations, mislabelled
from protocols.common.wal import SyncPolicy
from protocols.contract import NodeContext, NodeParts, ProtocolSpec
from protocols.explore import Always, Bounds, ExploreAdapter, Sometimes, System

if TYPE_CHECKING:
    from collections.abc import Callable

    from protocols.explore.system import XNode

__all__ = ["INSTALLED", "MODELS", "WholeRun", "torn_receiver", "torn_sender"]

# a Status at every tick (the explorer's tick stands for 10 ms): the clock's value is
# then never read, only whether a tick happened, so ``now`` is left out of the state
OPTIONS = {"status_interval_ms": 10}
IGNORE = frozenset({"CausalCore.now", "CausalCore.latency_ticks", "CausalCore.max_held",
                    "CausalCore.dropped", "CausalCore.options", "CausalCore.status_ticks",
                    "Delivered.received_tick", "Delivered.delivered_tick"})


class Installed(CausalSpec):
    """Causal broadcast on disks a new cluster was installed with: each holds the record
    a member writes once it has rejoined a cluster where nobody broadcast yet, so the
    members start rejoined. It is a reachable state of ``protocols.causal:SPEC`` (each
    member rejoined, then restarted, before any broadcast) without the dozen moves that
    reach it; the cores, storage and rules are ``SPEC``'s."""

    def create_node(self, ctx: NodeContext) -> NodeParts:
        if not ctx.fs.exists(f"{ctx.data_dir}/causal.wal"):
            storage = CausalStorage(ctx.fs, ctx.data_dir, SyncPolicy.ALWAYS)
            storage.save([DeliveredRecord(0, {m: 0 for m in (ctx.node_id, *ctx.peers)})])
            storage.close()
        return super().create_node(ctx)


INSTALLED = Installed()


# ---------------------------------------------------------------- the whole run
@dataclass
class WholeRun:
    """What each member handed up, in order, across its lives (a delivery is handed up
    once the write that records it is durable: ``Pump`` applies it then), and what the
    current life handed up so far. Updated from the cores before any check reads it."""

    logs: dict[str, list[Delivery]] = field(default_factory=dict)
    life: dict[str, tuple[int, int]] = field(default_factory=dict)  # incarnation, count

    def __call__(self, system: Any) -> None:
        for n, node in system.nodes.items():
            if not node.up or not isinstance(node.core, CausalCore):
                continue
            incarnation, seen = self.life.get(n, (node.incarnation, 0))
            if incarnation != node.incarnation:
                seen = 0
            handed = _handed_up(node)
            log = self.logs.setdefault(n, [])
            log += [(d.origin, d.seq, d.payload) for d in node.core.log
                    if seen <= d.index < handed]
            self.life[n] = (node.incarnation, max(seen, handed))

    def this_life(self, n: str) -> list[Delivery]:
        """What member ``n`` handed up since it last started."""
        _, count = self.life.get(n, (0, 0))
        log = self.logs.get(n, [])
        return log[len(log) - count:]


def _handed_up(node: XNode) -> int:
    """How many deliveries of this life the pump has handed up: all the core made but
    those still waiting for their write (in the core's outbox or in the write under
    way)."""
    core, pump = node.core, node.pump
    assert isinstance(core, CausalCore) and pump is not None
    waiting = len(core.out.applied)
    if pump.writing is not None:
        waiting += len(pump.writing.ready.applied)
    return core.delivered_count - waiting


def whole_run(system: System) -> WholeRun:
    run = next(g for g in system.ghosts if isinstance(g, WholeRun))
    run(system)  # up to date whatever order the properties run in
    return run


class ExploredCausal(CausalAdapter):
    """Causal broadcast's simulator adapter, plus the memory of a whole run."""

    def invariants(self) -> list[Callable[[Any], None]]:
        return [*super().invariants(), WholeRun()]


# ---------------------------------------------------------------- the properties
def acknowledged(system: System) -> dict[Message, bytes]:
    """Every answered ``Send``: its ``(origin, seq)`` and the payload it was asked for."""
    out = {}
    for e in system.history.events:
        command = system.adapter.commands[e.process]
        if e.type == "ok" and isinstance(command, Send):
            origin, seq, _ = e.value
            out[(origin, seq)] = command.payload
    return out


def causal_order(system: System) -> str | None:
    logs = {n: [(o, s) for o, s, _ in log] for n, log in whole_run(system).logs.items()}
    broken = causal_violations(logs, limit=1)
    return broken[0] if broken else None


def one_payload(system: System) -> str | None:
    broken = mislabelled(whole_run(system).logs, acknowledged(system), limit=1)
    return broken[0] if broken else None


def once_per_life(system: System) -> str | None:
    run = whole_run(system)
    for n in system.up_nodes():
        names = [(o, s) for o, s, _ in run.this_life(n)]
        twice = sorted({m for m in names if names.count(m) > 1})
        if twice:
            return f"{n} handed up {twice[0][0]}#{twice[0][1]} twice in one life"
    return None


def restart_hands_up_recorded(system: System) -> str | None:
    """The deliveries a restart would hand up again are the last write's, and the record
    that closed that write counts them (a torn write's deliveries were never complete:
    no later record may close them)."""
    for n in system.up_nodes():
        storage = system.nodes[n].storage
        assert isinstance(storage, CausalStorage)
        prefix = storage.delivered.prefix
        for m in storage.last_write:
            if m.seq > prefix.get(m.origin, 0):
                return (f"{n}'s disk would hand up {m.origin}#{m.seq} again after a restart, "
                        f"but its record counts {prefix.get(m.origin, 0)} of {m.origin}")
    return None


def delivered_everywhere(system: System) -> bool:
    """Some broadcast was handed up by every member."""
    sets = [{(o, s) for o, s, _ in log} for log in whole_run(system).logs.values()]
    return len(sets) == len(system.ids) and bool(set.intersection(*sets))


def delivered_after_restart(system: System) -> bool:
    """A member that crashed hands up a broadcast in its next life."""
    run = whole_run(system)
    return any(system.nodes[n].incarnation > 1 and run.this_life(n)
               for n in system.up_nodes())


PROPERTIES = (
    Always("causal order", causal_order),
    Always("one payload per (origin, seq)", one_payload),
    Always("a member hands a message up once per life", once_per_life),
    Always("a restart hands up only recorded deliveries", restart_hands_up_recorded),
    Sometimes("a broadcast is delivered by every member", delivered_everywhere),
    Sometimes("a member that crashed delivers again", delivered_after_restart),
)


# ---------------------------------------------------------------- the models
def _describe(command: Any) -> tuple[str, Any, Any]:
    return ("send", None, command.payload)


def _model(name: str, summary: str, spec: ProtocolSpec, bounds: Bounds,
           commands: Sequence[Send], targets: Sequence[Sequence[str]]) -> ExploreAdapter:
    return ExploreAdapter(
        name, spec, nodes=3, options=OPTIONS, bounds=bounds, commands=tuple(commands),
        targets=tuple(targets), properties=PROPERTIES, ignore=IGNORE,
        sim=ExploredCausal(), summary=summary, describe_command=_describe)


def torn_sender(size: str = "small") -> ExploreAdapter:
    """n1 broadcasts a, then b: a crash may tear n1's write of a after its ``OwnMessage``
    (#31 bug 1's schedule). "small": no timer fires (a second to find the bug, half a
    minute to prove it gone); "full": one Status each (resends, stability)."""
    return _model("torn-sender", "3 installed members; n1 broadcasts a then b; one crash "
                  "that may tear a write", INSTALLED, SMALL if size == "small" else FULL,
                  (Send(b"a"), Send(b"b")), (("n1",), ("n1",)))


def torn_receiver(size: str = "small") -> ExploreAdapter:
    """n1 broadcasts a, n2 broadcasts b: a crash may tear n2's write of its delivery of
    a, and n2's next write must not close it. "small": no timer fires; "full": one
    Status each (a is resent to n2 after its restart)."""
    return _model("torn-receiver", "3 installed members; n1 broadcasts a, n2 b; one crash "
                  "that may tear a write", INSTALLED, SMALL if size == "small" else FULL,
                  (Send(b"a"), Send(b"b")), (("n1",), ("n2",)))


SMALL = Bounds(ticks=0, crashes=1, torn=True, timeouts=False)
FULL = Bounds(ticks=1, crashes=1, torn=True, timeouts=False)
MODELS = {"torn-sender": torn_sender, "torn-receiver": torn_receiver}
