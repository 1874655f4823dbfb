"""Who is on the ring, and who is healthy (DeCandia et al., "Dynamo", SOSP 2007, §4.8
"Membership and Failure Detection"; course chapters: gossip, failure detectors).

Dynamo learns its members by gossip and detects failures locally. Here the gossip is
the project's own SWIM (``protocols.swim.core.SwimCore``), run *inside* each Dynamo
node: its messages travel beside Dynamo's, and its view decides two things.

* **The ring** (§4.8.1): every member SWIM knows that has not *left*. A member SWIM
  declares dead stays on the ring: Dynamo treats an outage as temporary (§4.6, hinted
  handoff covers it) and only an explicit departure (SWIM's graceful leave, or the
  runner's ``remove-node``, heard through ``on_peers_changed``) or SWIM forgetting the
  dead after ``reap_ms`` takes it off. A member that joins, by gossip, goes on.
* **Health** (§4.8.3): a node is skipped by the sloppy quorum (§4.6) while SWIM holds
  it suspect or dead, or while its last request to us failed less than
  ``failure_memory_ms`` ago (Dynamo's purely local detector, still the faster signal).

``static`` membership replaces SWIM by the configured nodes (the ring never changes and
only the local detector decides health): what the explorer checks, at a size where
SWIM's periodic probes would swamp the state space.
"""

from __future__ import annotations

from protocols.hashing import Ring
from protocols.swim.core import SwimCore
from protocols.swim.messages import State

__all__ = ["Membership"]


class Membership:
    def __init__(self, node_id: str, configured: frozenset[str], vnodes: int,
                 memory_ticks: int, swim: SwimCore | None) -> None:
        self.node_id = node_id
        self.swim = swim
        self.ring = Ring(vnodes)
        self.nodes: frozenset[str] = frozenset()
        self.configured = configured
        self.removed: set[str] = set()  # taken off by the runner (remove-node), for good
        self.memory_ticks = memory_ticks
        self.failed_at: dict[str, int] = {}  # node -> the tick its request failed
        self.sync()

    def wanted(self) -> frozenset[str]:
        """Who should be on the ring now."""
        if self.swim is None:
            return self.configured - self.removed
        return frozenset(n for n, m in self.swim.members.items()
                         if m.state != State.LEFT) - self.removed

    def sync(self) -> bool:
        """Bring the ring to ``wanted()``; True if it changed. Never empties it: with
        nobody left (this node alone, leaving), the last ring stands."""
        wanted = self.wanted()
        if wanted == self.nodes or not wanted:
            return False
        for gone in sorted(self.nodes - wanted):
            self.ring.remove(gone)
        for new in sorted(wanted - self.nodes):
            self.ring.add(new)
        self.nodes = wanted
        return True

    def remove(self, node: str) -> None:
        self.removed.add(node)

    def failed(self, node: str, now: int) -> None:
        self.failed_at[node] = now

    def answered(self, node: str) -> None:
        self.failed_at.pop(node, None)

    def healthy(self, node: str, now: int) -> bool:
        if node == self.node_id:
            return True
        t = self.failed_at.get(node)
        if t is not None and now - t < self.memory_ticks:
            return False
        if self.swim is None:
            return True
        m = self.swim.members.get(node)
        return m is not None and m.state == State.ALIVE

    def suspects(self, now: int) -> list[str]:
        return sorted(n for n in self.nodes | set(self.failed_at)
                      if not self.healthy(n, now))
