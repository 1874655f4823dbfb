"""What a protocol hands the simulator (its "adapter"). Adding a protocol never edits
``protocols.sim``: it writes an adapter next to its core and registers it by name in
``protocols.registry``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from protocols.common.outbox import Answer
from protocols.runtime.core import ProtocolSpec

if TYPE_CHECKING:
    from protocols.sim.world import World

__all__ = ["KvAdapter", "SimAdapter"]


class SimAdapter(Protocol):
    name: str
    spec: ProtocolSpec

    def invariants(self) -> Sequence[Callable[[World], None]]:
        """Checks run after every simulated event; raise to fail the run."""
        ...

    def message_size(self, msg: Any) -> int:
        """Bytes a message would take on the wire (for rpc_bytes counters)."""
        ...


class KvAdapter(SimAdapter, Protocol):
    """A protocol that serves a KV store can run the simulator's KV workload."""

    def kv_command(self, f: str, key: str, value: Any, client_id: str, seq: int) -> Any:
        """The command to submit for one client operation."""
        ...

    def kv_outcome(self, f: str, answer: Answer) -> tuple[str, Any, str | None]:
        """(``"ok"``, result, None); (``"fail"``, None, why) when it surely did not happen;
        (``"redirect"``, None, leader hint or None) to retry elsewhere (not applied);
        (``"retry"``, None, why) to retry when it may have been applied."""
        ...
