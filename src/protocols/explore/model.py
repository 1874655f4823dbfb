"""What a protocol hands the explorer: its ``ExploreAdapter`` (the model's bounds, the
commands clients may submit, the properties), and the three kinds of property.

Properties follow Stateright's three kinds:

* ``Always(name, check)``: safety. ``check(system)`` returns None (or True) when the
  property holds in that state, else a text saying what is wrong (or False; raising
  ``AssertionError`` says it too). Checked in every reachable state.
* ``Sometimes(name, check)``: reachability. ``check(system)`` is True in some reachable
  state, or the run reports it as never reached — a model that can do nothing does not
  pass vacuously.
* ``Eventually(name, check)``: liveness within bounds. On every maximal path (one that
  ends because no move is left within the bounds), ``check`` held in some state of it.

The simulator's invariants (``SimAdapter.invariants()``: Raft's election safety and log
matching, Paxos agreement, the causal and versioned-KV checkers) take a ``World``; the
explored ``System`` answers the same attributes they read (``nodes[n].up``,
``.incarnation``, ``.core``, ``ids``, ``events``), so ``sim_invariants`` turns them into
``Always`` properties unchanged: no checker is written twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from protocols.contract import ProtocolSpec

if TYPE_CHECKING:
    from protocols.explore.system import System
    from protocols.sim.api import KvBinding, SimAdapter

__all__ = ["Always", "Bounds", "Eventually", "ExploreAdapter", "Property", "Sometimes",
           "sim_invariants"]

Check = Callable[["System"], Any]


@dataclass(frozen=True, slots=True)
class Always:
    name: str
    check: Check
    kind = "always"


@dataclass(frozen=True, slots=True)
class Sometimes:
    name: str
    check: Check
    kind = "sometimes"


@dataclass(frozen=True, slots=True)
class Eventually:
    """``check`` holds at some point of every maximal path; with ``after``, every time
    ``after`` holds, ``check`` holds then or later (TLA's ``after ~> check``, "leads to":
    "an uncertain participant learns the outcome" is owed only once one is uncertain)."""

    name: str
    check: Check
    after: Check | None = None
    kind = "eventually"


Property = Always | Sometimes | Eventually


@dataclass(frozen=True, slots=True)
class Bounds:
    """How far the search goes. A state beyond a bound is counted but not expanded.

    ``ticks``: timer firings each node may take (a crashed node's restart keeps its
    count); ``crashes``: crashes in a path (a restart is always possible); ``torn``: a
    crash may cut the write under way at a record's boundary or inside it;
    ``drops``/``duplicates``: messages lost / copied in a path; ``in_flight``: messages
    the network holds at most; ``depth``: moves in a path; ``persist_moves``: a write
    reaches the disk as a move of its own (a crash may fall between a message that left
    ahead of its persist and the write); False writes each input's persist with it."""

    depth: int = 40
    ticks: int = 2
    crashes: int = 0
    torn: bool = False
    drops: int = 0
    duplicates: int = 0
    in_flight: int = 12
    persist_moves: bool = True
    timeouts: bool = True  # an outstanding request may time out (on_send_failed)
    restarts: bool = True  # a crashed node may start again (False: it stays down)
    crash_in_writes: bool = False  # a node crashes only with a write under way (the
    # window where what it sent ahead of its persist outlives the write)
    persist_moves_at: tuple[str, ...] | None = None  # only these nodes' writes are moves
    # (None: every node's): a node that never crashes gains nothing from a write under
    # way that a delayed message does not already give (its outputs wait, as if late)

    def describe(self) -> str:
        return ", ".join(f"{k}={getattr(self, k)}" for k in self.__dataclass_fields__)


@dataclass(slots=True)
class ExploreAdapter:
    """A protocol's model: its spec, a small cluster, what clients may submit, and the
    properties. ``scripts/explore --protocol NAME`` loads it from the registry entry's
    ``explore`` field; one adapter may offer several models by name (``models()``)."""

    name: str
    spec: ProtocolSpec
    nodes: int = 3
    options: Mapping[str, Any] = field(default_factory=dict)
    bounds: Bounds = field(default_factory=Bounds)
    commands: Sequence[Any] = ()  # each submitted at most once, to any up node ...
    targets: Sequence[Sequence[str]] = ()  # ... or only to targets[i] (when given)
    properties: Sequence[Property] = ()
    symmetric: bool = False  # node ids are interchangeable (no rule orders them)
    ignore: frozenset[str] = frozenset()  # attributes that are not state ("Class.field")
    kv: KvBinding | None = None  # set: client histories are checked for linearizability
    sim: SimAdapter | None = None  # its simulator adapter (the replay command names it)
    summary: str = ""
    # what each client command does, for the history: (f, key, value) of a KV command
    describe_command: Callable[[Any], tuple[str, Any, Any]] | None = None
    sim_invariants: bool = True  # check the simulator adapter's invariants as Always
    closures: bool = False  # the cores hold closures (continuations): copy states with
    # cloudpickle, which copies a closure with what it captured (plain pickle refuses)
    roles: Mapping[str, str] = field(default_factory=dict)
    node_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # a node's
    # own, over ``options`` (as a cluster file's ``nodes.<id>.options``)
    # a state it says False of is checked but not expanded (TLC's CONSTRAINT, Stateright's
    # within_boundary): the model's own bound, e.g. "the crash comes early"
    within: Callable[[System], bool] | None = None
    # a node's timer is a move only while this says it is armed (None: always): a timer
    # that would do nothing is not a choice the search needs (a 2PC participant's fires
    # only while it waits for its locks or for an outcome)
    armed: Callable[[System, str], bool] | None = None
    # the property this model exists to break (a lesson: 2PC's blocking, 3PC's split):
    # ``scripts/check-models`` passes it when that one, and no other, is violated
    expect_violation: str | None = None
    # a model whose whole space is out of reach: how far ``scripts/check-models`` goes
    # (its row then says "bounded"); None: to the end
    max_states: int | None = None


def sim_invariants(adapter: SimAdapter) -> list[Always]:
    """The simulator's invariants, each an ``Always`` property of the explored system.
    Each invariant object is created per exploration and kept per path (its memory,
    e.g. the values it saw chosen, is part of the explored state)."""
    out = []
    for i, inv in enumerate(adapter.invariants()):
        out.append(Always(f"sim:{type(inv).__name__}", _SimCheck(i)))
    return out


@dataclass(frozen=True, slots=True)
class _SimCheck:
    """Runs the system's own copy of simulator invariant ``index`` (see ``System.ghosts``)."""

    index: int

    def __call__(self, system: System) -> None:
        system.ghosts[self.index](system)
