"""One experiment per chapter point: ``scripts/experiment --list`` names them,
``scripts/experiment NAME`` runs one (``docs/chapters.md`` says which chapter each goes
with). Each is a small scripted run, in the simulator unless it says otherwise, that
prints what it does and what to look at, writes its diagrams, and ends with a
conclusion it checks against what the run showed."""

from __future__ import annotations

from cluster.experiments.base import Experiment, Outcome, Report
from cluster.experiments.clocks import CAUSAL_VS_FIFO, LAMPORT_VS_VECTOR
from cluster.experiments.commit_blocking import TWOPC_BLOCKING
from cluster.experiments.gossip import LIFEGUARD
from cluster.experiments.hashring import KEY_MOVEMENT
from cluster.experiments.paxos_duel import DUELING_PROPOSERS
from cluster.experiments.quorums import QUORUM_OVERLAP
from cluster.experiments.raft_leaders import LEASE_CLOCK, SPLIT_BRAIN, STALE_READ

__all__ = ["EXPERIMENTS", "Experiment", "Outcome", "Report"]

# in the course's order: time, then consensus, transactions, replication, gossip, hashing
EXPERIMENTS: dict[str, Experiment] = {e.name: e for e in (
    LAMPORT_VS_VECTOR, CAUSAL_VS_FIFO, LEASE_CLOCK, SPLIT_BRAIN, STALE_READ,
    DUELING_PROPOSERS, TWOPC_BLOCKING, QUORUM_OVERLAP, LIFEGUARD, KEY_MOVEMENT)}
