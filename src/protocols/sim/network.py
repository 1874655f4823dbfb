"""The simulated network: seeded delays, loss, duplication, reordering, partitions.

Every peer message is an RPC (DESIGN.md): the request goes ``src -> dst`` and the reply
comes back. A directed link ``src -> dst`` carries src's requests to dst *and* dst's
replies to src, so cutting it means "src cannot reach dst" while dst still reaches src
through ``dst -> src`` — the same model as the proxies of a real cluster.

A *slow* node (``slow[n] = ms``) takes that much longer over every message it receives
and every message it sends (requests and replies), while its clock runs on: a
CPU-starved process (Lifeguard's "slow message processing").

Presets follow MIT 6.5840's labrpc: ``RELIABLE``; ``UNRELIABLE`` (requests delayed
0-27 ms, 10% of requests and 10% of replies lost); ``LONG_REORDERING`` (on top of
unreliable, about 2/3 of replies delayed by 200 ms + up to 2 s). Times are in
simulated milliseconds.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, replace

__all__ = ["LONG_REORDERING", "RELIABLE", "UNRELIABLE", "Network", "NetworkConfig"]


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    delay_min_ms: int = 1
    delay_max_ms: int = 5
    drop_request_rate: float = 0.0
    drop_reply_rate: float = 0.0
    duplicate_rate: float = 0.0
    reorder_rate: float = 0.0  # share of replies held back by reorder_delay_ms + U[0, max]
    reorder_delay_ms: int = 0
    reorder_extra_max_ms: int = 0


RELIABLE = NetworkConfig()
UNRELIABLE = NetworkConfig(delay_min_ms=0, delay_max_ms=27, drop_request_rate=0.1,
                           drop_reply_rate=0.1)
LONG_REORDERING = replace(UNRELIABLE, reorder_rate=2 / 3, reorder_delay_ms=200,
                          reorder_extra_max_ms=2000)


class Network:
    """Decides the fate of each message from its own random stream."""

    def __init__(self, config: NetworkConfig, rng: random.Random) -> None:
        self.config = config
        self.rng = rng
        self.cut: set[tuple[str, str]] = set()
        self.slow: dict[str, int] = {}  # node -> extra delay of what it receives and sends

    def _slowness(self, node: str) -> int:
        return self.slow.get(node, 0) if self.slow else 0

    def connected(self, src: str, dst: str) -> bool:
        return (src, dst) not in self.cut

    def request_delays(self, src: str, dst: str) -> list[int]:
        """Delivery delays for one request: [] if lost, two entries if duplicated."""
        c = self.config
        if not self.connected(src, dst) or self.rng.random() < c.drop_request_rate:
            return []
        extra = self._slowness(src) + self._slowness(dst)
        delays = [extra + self.rng.randint(c.delay_min_ms, c.delay_max_ms)]
        if c.duplicate_rate and self.rng.random() < c.duplicate_rate:
            delays.append(extra + self.rng.randint(c.delay_min_ms, c.delay_max_ms))
        return delays

    def reply_delay(self, src: str, dst: str) -> int | None:
        """Delay of dst's reply to src's request on link src -> dst, or None if lost."""
        c = self.config
        if not self.connected(src, dst) or self.rng.random() < c.drop_reply_rate:
            return None
        extra = self._slowness(src) + self._slowness(dst)
        delay = extra + self.rng.randint(c.delay_min_ms, c.delay_max_ms)
        if c.reorder_rate and self.rng.random() < c.reorder_rate:
            delay += c.reorder_delay_ms + self.rng.randint(0, c.reorder_extra_max_ms)
        return delay

    def partition(self, groups: list[list[str]], nodes: list[str]) -> None:
        """Only nodes in the same group can talk; unlisted nodes form one more group."""
        listed = {n for g in groups for n in g}
        all_groups = [*groups, [n for n in nodes if n not in listed]]
        group_of = {n: i for i, g in enumerate(all_groups) for n in g}
        self.cut = {(a, b) for a in nodes for b in nodes
                    if a != b and group_of[a] != group_of[b]}

    def heal(self) -> None:
        self.cut = set()
        self.slow = {}
