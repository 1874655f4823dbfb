"""SWIM's settings, in milliseconds and counts as a user writes them, with their defaults
(memberlist's LAN defaults where the paper leaves a value open). The core converts times
to ticks; ``SwimOptions.from_mapping`` (``protocols.common.options``) refuses anything
unknown or out of range."""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from protocols.common.errors import ConfigError
from protocols.common.options import Options, option

__all__ = ["Detector", "Join", "SwimOptions", "is_address"]


class Detector(enum.StrEnum):
    """Who declares a member suspect."""

    SWIM = "swim"  # a probe that times out (SWIM §3.1)
    PHI = "phi"  # phi-accrual over heartbeat arrivals (Cassandra; ``phi.py``)


class Join(enum.StrEnum):
    """How a member learns the group."""

    SEEDS = "seeds"  # from seeds, by address (memberlist's Join)
    ALL = "all"  # it knows every configured peer from the start


def _seeds(value: Any, node_ids: Sequence[str]) -> tuple[str, ...] | None:
    """memberlist's ``Join(existing)``: each seed is an address ("host:port"); a node id
    of the cluster stands for its configured address."""
    if value is None:
        return None
    if not isinstance(value, list | tuple) or not all(isinstance(s, str) for s in value):
        raise ValueError("must be a list of addresses (host:port) or node ids")
    for seed in value:
        if seed in node_ids:
            continue
        if not is_address(seed):
            known = f" ({', '.join(node_ids)})" if node_ids else ""
            raise ValueError(f"seed {seed!r} is neither an address (host:port) nor a node "
                             f"of the cluster{known}")
    return tuple(value)


@dataclass(frozen=True, slots=True)
class SwimOptions(Options):
    protocol = "swim"

    probe_interval_ms: int = option(1000, "SWIM's protocol period T'", min=1)
    probe_timeout_ms: int = option(500, "wait this long for the direct ack before ping-req",
                                   min=1)
    indirect_checks: int = option(3, "k: members asked to ping-req (SWIM §3.1)", min=0)
    suspicion_mult: int = option(4, "suspicion timeout = mult * log10(N) * period "
                                 "(memberlist)", min=1)
    suspicion_max_mult: int = option(6, "Lifeguard: the timeout starts this many times "
                                     "longer", min=1)
    retransmit_mult: int = option(4, "lambda: each update is piggybacked lambda*log10(N+1) "
                                  "times", min=1)
    piggyback_bytes: int = option(1400, "updates one message carries, in bytes (memberlist's "
                                  "UDPBufferSize: a ping and its gossip fit one UDP packet)",
                                  min=64)
    gossip_interval_ms: int = option(200, "memberlist: pending updates also go to a few "
                                     "random members this often", min=0)
    gossip_nodes: int = option(3, "... to this many (0: the paper's piggybacking alone)",
                               min=0)
    push_pull_interval_ms: int = option(5000, "anti-entropy with one random member (0: off)",
                                        min=0)
    reconnect_interval_ms: int = option(10000, "anti-entropy with one *dead* member (0: off)",
                                        min=0)
    join_retry_ms: int = option(1000, "retry a join this often until a seed answers", min=1)
    reap_ms: int = option(86_400_000, "a dead or left member is forgotten this long after "
                          "(24 h, serf's reconnect_timeout: the reconnects to the dead need "
                          "them remembered)", min=1)
    leave_timeout_ms: int = option(3000, "a leave answers once disseminated, or after this",
                                   min=1)
    max_health: int = option(8, "Lifeguard's local health multiplier saturates here", min=0)
    lha: bool = option(True, "Lifeguard: local health awareness (slower probes when "
                       "unhealthy)")
    lha_suspicion: bool = option(True, "Lifeguard: suspicion timeouts shrink with "
                                 "confirmations")
    buddy: bool = option(True, "Lifeguard: a ping to a suspect carries the suspicion first")
    nack: bool = option(True, "Lifeguard: ping-req helpers answer 'no' when the target is "
                        "silent")
    detector: Detector = option(Detector.SWIM, "who suspects: probe timeouts or phi-accrual")
    phi_threshold: float = option(8.0, "Cassandra's phi_convict_threshold", above=0)
    join: Join = option(Join.SEEDS, "learn the group from seeds, or know every peer")
    seeds: tuple[str, ...] | None = option(None, "'host:port' addresses, or node ids of the "
                                           "cluster (their configured addresses); null: the "
                                           "first two other nodes", parse=_seeds)
    fsync: bool = option(True, "fsync every write (false: faster, and not durable)")

    def validate(self, members: tuple[str, ...]) -> None:
        if self.probe_timeout_ms >= self.probe_interval_ms:
            raise ConfigError("swim probe_timeout_ms must be below probe_interval_ms: the "
                              "ping-req round needs the rest of the period (SWIM §3.1)")

    # ------------------------------------------------------------------ derived values
    def suspicion_timeout_ms(self, members: int) -> float:
        """memberlist's ``suspicionTimeout``: mult * max(1, log10(N)) * period."""
        return self.suspicion_mult * max(1.0, math.log10(max(1, members))) * \
            self.probe_interval_ms

    def retransmit_limit(self, members: int) -> int:
        """SWIM §4.1's lambda*log(N): how many times one update is piggybacked."""
        return self.retransmit_mult * max(1, math.ceil(math.log10(members + 1)))

    def push_pull_scale(self, members: int) -> float:
        """memberlist's ``pushPullScale``: full-state exchanges slow down past 32 members,
        so their cost per node stays flat as the group grows."""
        if members <= 32:
            return 1.0
        return float(math.ceil(math.log2(members) - math.log2(32)) + 1)


def is_address(raw: str) -> bool:
    """``host:port`` with a port in 1..65535 (what a member advertises)."""
    host, _, port = raw.rpartition(":")
    return bool(host) and port.isdigit() and 0 < int(port) < 65536 and len(raw) <= 255
