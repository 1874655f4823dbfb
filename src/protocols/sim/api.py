"""What a protocol hands the simulator: its adapter. Adding a protocol never edits
``protocols.sim``: it writes an adapter next to its core and names it in its
``protocols.registry`` entry.

An adapter gives the simulator the protocol's ``ProtocolSpec`` (how to build nodes, the
message kinds), the invariants checked after every event, and the workloads a run can
drive — each workload records what its clients saw and judges it at the end
(linearizability for a KV; convergence, causal order, atomicity for the protocols to
come).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from protocols.contract import Answer, ProtocolSpec

if TYPE_CHECKING:
    from protocols.check.history import History
    from protocols.sim.nemesis import NemesisAction
    from protocols.sim.world import World

__all__ = ["KvBinding", "SimAdapter", "Verdict", "Workload", "WorkloadFactory",
           "WorkloadParams"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """A workload's final judgement of a run: ``ok``, ``violation`` or ``unknown`` (the
    checker ran out of time)."""

    check: str  # e.g. "linearizability", "convergence"
    status: Literal["ok", "violation", "unknown"]
    summary: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"


@dataclass(frozen=True, slots=True)
class WorkloadParams:
    """What a run asks of its workload (``scripts/sim --clients N --keys K``)."""

    clients: int = 3
    keys: int = 3
    stop_at_ms: int = 5000
    check_timeout_s: float = 30.0
    extra: Mapping[str, Any] = field(default_factory=dict)


class Workload(Protocol):
    """Clients inside a simulated run. ``start()`` schedules them; ``idle`` says every
    client has finished its last operation; ``verdict()`` checks what they saw."""

    @property
    def history(self) -> History | None:
        """The operations the clients saw, if the workload records them."""
        ...

    def start(self) -> None: ...

    @property
    def idle(self) -> bool: ...

    def verdict(self) -> Verdict: ...


WorkloadFactory = Callable[["World", WorkloadParams], Workload]


class KvBinding(Protocol):
    """How a protocol serving a KV store speaks to the simulator's KV workload."""

    def register_command(self, client_id: str) -> Any:
        """The command that opens (or renews) ``client_id``'s session."""
        ...

    def kv_command(self, f: str, key: str, value: Any, client_id: str, seq: int) -> Any:
        """The command to submit for one client operation."""
        ...

    def kv_outcome(self, f: str, answer: Answer) -> tuple[str, Any, str | None]:
        """(``"ok"``, result, None); (``"fail"``, None, why) when it surely did not happen;
        (``"redirect"``, None, leader hint or None) to retry elsewhere (not applied);
        (``"retry"``, None, why) to retry when it may have been applied;
        (``"expired"``, None, why) when the session expired: register again."""
        ...


class SimAdapter:
    """Subclass it: ``name`` and ``spec`` are required, the rest has defaults."""

    name: str = ""
    spec: ProtocolSpec
    # the driver's deadline for every request in simulated runs (the host's is the
    # cluster's rpc_deadline_ms): long enough for the protocol's deferred replies
    rpc_timeout_ms: int = 100

    def invariants(self) -> Sequence[Callable[[World], None]]:
        """Checks run after every simulated event; raise to fail the run. Return fresh
        objects: they may keep what they have seen across the run."""
        return ()

    def workloads(self) -> Mapping[str, WorkloadFactory]:
        """The workloads a run can drive, by name; the first is the default."""
        return {}

    def nemesis_actions(self) -> Mapping[str, NemesisAction]:
        """Faults of the protocol's own the random nemesis may inject, by kind name
        (Raft: "transfer", a leadership transfer). Each acts on the world and returns a
        label for the run's fault intervals, or None if there was nothing to do."""
        return {}
