"""The options of Multi-Paxos and of the Synod, with their defaults and ranges
(``protocols.common.options`` parses them). Timing is in ticks."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from protocols.common.errors import ConfigError
from protocols.common.options import Options, option
from protocols.common.quorum import majority
from protocols.kv.state_machine import DEFAULT_MAX_SESSIONS

__all__ = ["PaxosOptions", "ReadMode", "SynodOptions"]


class ReadMode(enum.StrEnum):
    """How the leader serves a read."""

    LOG = "log"  # a read is a command decided in a slot, like a write
    LEASE = "lease"  # the leader answers alone while its lease holds (``core._lease_valid``)


@dataclass(frozen=True, slots=True)
class PaxosOptions(Options):
    protocol = "Paxos"

    election_timeout_min_ticks: int = option(30, "a node waits at least this long without "
                                             "a leader's heartbeat", min=1)
    election_timeout_max_ticks: int = option(60, "... and less than this", min=1)
    heartbeat_interval_ticks: int = option(10, "the active leader's heartbeat period", min=1)
    phase1_quorum: int = option(0, "acceptors a scout waits for (0: a majority; flexible "
                                "Paxos: q1 + q2 > n)", min=0)
    phase2_quorum: int = option(0, "acceptors a commander waits for (0: a majority)", min=0)
    window: int = option(256, "slots in flight", min=1)
    backoff: bool = option(True, "a preempted leader or a scout hearing a live leader waits "
                           "a random election timeout (false: PMMC's bare leader, which "
                           "preempts back at once: dueling leaders livelock)")
    stickiness: bool = option(True, "acceptors refuse other leaders while one is alive")
    snapshot_threshold: int = option(10_000, "applied slots between snapshots (0: never)",
                                     min=0)
    max_sessions: int = option(DEFAULT_MAX_SESSIONS, "client sessions kept", min=1)
    read_mode: ReadMode = option(ReadMode.LOG, "how the leader serves reads")
    fsync: bool = option(True, "fsync every write (false: faster, and not durable)")

    def validate(self, members: tuple[str, ...]) -> None:
        if self.election_timeout_max_ticks <= self.election_timeout_min_ticks \
                or self.heartbeat_interval_ticks >= self.election_timeout_min_ticks:
            raise ConfigError("need heartbeat_interval_ticks < election_timeout_min_ticks < "
                              "election_timeout_max_ticks")
        if self.read_mode == ReadMode.LEASE and not (self.stickiness and self.backoff):
            raise ConfigError("read_mode='lease' needs stickiness and backoff: the lease "
                              "rests on acceptors refusing other leaders while they hear "
                              "from this one")
        if not members:  # the cluster is not known yet: its quorums are checked later
            return
        nodes = len(members)
        q1, q2 = self.quorums(nodes)
        if not (1 <= q1 <= nodes and 1 <= q2 <= nodes):
            raise ConfigError(f"quorum sizes must be between 1 and {nodes}: q1={q1}, q2={q2}")
        if q1 + q2 <= nodes:
            raise ConfigError(f"unsafe quorums: phase1_quorum {q1} + phase2_quorum {q2} <= "
                              f"{nodes} nodes, so a phase-1 quorum could miss a value a "
                              f"phase-2 quorum chose (flexible Paxos needs q1 + q2 > n)")

    def quorums(self, nodes: int) -> tuple[int, int]:
        most = majority(nodes)
        return self.phase1_quorum or most, self.phase2_quorum or most


@dataclass(frozen=True, slots=True)
class SynodOptions(Options):
    protocol = "Synod"

    retry_min_ticks: int = option(20, "a losing proposer waits a random time, at least this",
                                  min=1)
    retry_max_ticks: int = option(60, "... and less than this", min=2)
    backoff: bool = option(True, "false: retry at once (dueling proposers may livelock)")
    fsync: bool = option(True, "fsync every write (false: faster, and not durable)")

    def validate(self, members: tuple[str, ...]) -> None:
        if not self.retry_min_ticks < self.retry_max_ticks:
            raise ConfigError("need 1 <= retry_min_ticks < retry_max_ticks")
