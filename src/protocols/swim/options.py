"""SWIM's settings, in milliseconds and counts as a user writes them, with their defaults
(memberlist's LAN defaults where the paper leaves a value open). The core converts times
to ticks; ``SwimOptions.from_mapping`` refuses anything unknown or out of range."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

from protocols.common.errors import ConfigError

__all__ = ["SwimOptions", "is_address"]


@dataclass(frozen=True, slots=True)
class SwimOptions:
    probe_interval_ms: int = 1000  # SWIM's protocol period T'
    probe_timeout_ms: int = 500  # wait this long for the direct ack before ping-req
    indirect_checks: int = 3  # k: members asked to ping-req (SWIM §3.1)
    suspicion_mult: int = 4  # suspicion timeout = mult * log10(N) * period (memberlist)
    suspicion_max_mult: int = 6  # Lifeguard: the timeout starts this many times longer
    retransmit_mult: int = 4  # lambda: each update is piggybacked lambda*log10(N+1) times
    piggyback_bytes: int = 1400  # updates one message carries, in bytes (memberlist's
    # UDPBufferSize: a ping and its gossip fit one UDP packet)
    gossip_interval_ms: int = 200  # memberlist: pending updates also go to a few random
    gossip_nodes: int = 3  # members this often (0: the paper's piggybacking alone)
    push_pull_interval_ms: int = 5000  # anti-entropy with one random member (0: off)
    reconnect_interval_ms: int = 10000  # anti-entropy with one *dead* member (0: off)
    join_retry_ms: int = 1000  # until a seed answers
    reap_ms: int = 86_400_000  # a dead or left member is forgotten this long after (24 h,
    # serf's reconnect_timeout: the reconnects to the dead need them remembered)
    leave_timeout_ms: int = 3000  # a leave answers once disseminated, or after this
    max_health: int = 8  # Lifeguard's local health multiplier saturates here
    lha: bool = True  # Lifeguard: local health awareness (slower probes when unhealthy)
    lha_suspicion: bool = True  # Lifeguard: suspicion timeouts shrink with confirmations
    buddy: bool = True  # Lifeguard: a ping to a suspect carries the suspicion first
    nack: bool = True  # Lifeguard: ping-req helpers answer "no" when the target is silent
    detector: str = "swim"  # "swim": probe timeouts suspect; "phi": phi-accrual does
    phi_threshold: float = 8.0  # Cassandra's phi_convict_threshold
    join: str = "seeds"  # "seeds": learn the group from seeds; "all": know every peer
    seeds: tuple[str, ...] | None = None  # "host:port" addresses, or node ids of the
    # cluster (their configured addresses); None: the first two other nodes

    @classmethod
    def from_mapping(cls, options: Mapping[str, Any], node_ids: Sequence[str] = ()
                     ) -> SwimOptions:
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ConfigError(f"unknown swim option(s) {', '.join(unknown)}; known: "
                              f"{', '.join(sorted(known))}")
        values: dict[str, Any] = {}
        for name, value in options.items():
            default = getattr(cls, name)
            if name == "seeds":
                values[name] = _seeds(value, node_ids)
            elif isinstance(default, bool):
                if not isinstance(value, bool):
                    raise ConfigError(f"swim option {name} must be true or false")
                values[name] = value
            elif isinstance(default, int | float):
                if isinstance(value, bool) or not isinstance(value, int | float) or (
                        isinstance(default, int) and not isinstance(value, int)):
                    raise ConfigError(f"swim option {name} must be a number, got {value!r}")
                values[name] = value
            else:
                values[name] = value
        opts = cls(**values)
        opts._validate()
        return opts

    def _validate(self) -> None:
        if self.probe_interval_ms <= 0 or self.probe_timeout_ms <= 0:
            raise ConfigError("swim probe_interval_ms and probe_timeout_ms must be > 0")
        if self.probe_timeout_ms >= self.probe_interval_ms:
            raise ConfigError("swim probe_timeout_ms must be below probe_interval_ms: the "
                              "ping-req round needs the rest of the period (SWIM §3.1)")
        for name in ("indirect_checks", "push_pull_interval_ms", "reconnect_interval_ms",
                     "max_health", "gossip_interval_ms", "gossip_nodes"):
            if getattr(self, name) < 0:
                raise ConfigError(f"swim option {name} must be >= 0")
        for name in ("suspicion_mult", "suspicion_max_mult", "retransmit_mult",
                     "join_retry_ms", "leave_timeout_ms", "reap_ms"):
            if getattr(self, name) < 1:
                raise ConfigError(f"swim option {name} must be >= 1")
        if self.detector not in ("swim", "phi"):
            raise ConfigError("swim option detector must be 'swim' or 'phi'")
        if self.join not in ("seeds", "all"):
            raise ConfigError("swim option join must be 'seeds' or 'all'")
        if self.phi_threshold <= 0:
            raise ConfigError("swim option phi_threshold must be > 0")
        if self.piggyback_bytes < 64:
            raise ConfigError("swim option piggyback_bytes must be >= 64")

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


def _seeds(value: Any, node_ids: Sequence[str]) -> tuple[str, ...]:
    """memberlist's ``Join(existing)``: each seed is an address ("host:port"); a node id
    of the cluster stands for its configured address."""
    if not isinstance(value, list | tuple) or not all(isinstance(s, str) for s in value):
        raise ConfigError("swim option seeds must be a list of addresses (host:port) or "
                          "node ids")
    for seed in value:
        if seed in node_ids:
            continue
        if not is_address(seed):
            known = f" ({', '.join(node_ids)})" if node_ids else ""
            raise ConfigError(f"swim seed {seed!r} is neither an address (host:port) nor a "
                              f"node of the cluster{known}")
    return tuple(value)


def is_address(raw: str) -> bool:
    """``host:port`` with a port in 1..65535 (what a member advertises)."""
    host, _, port = raw.rpartition(":")
    return bool(host) and port.isdigit() and 0 < int(port) < 65536 and len(raw) <= 255
