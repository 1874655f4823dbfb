"""Checkers: pure functions over recorded histories and node states (DESIGN.md layer 5).

Shared by the simulator, integration and chaos tests: linearizability with an HTML
timeline on failure, strict serializability of list-append transactions (``elle``, Elle's
dependency cycles), and invariant helpers (election safety, log matching, agreement,
monotonic commit, no acknowledged write lost, convergence).
"""

from __future__ import annotations

from protocols.check.elle import Anomaly, ElleResult, check_list_append
from protocols.check.history import Event, History, Operation
from protocols.check.invariants import (
    InvariantViolation,
    check_acked_writes_present,
    check_agreement,
    check_converged,
    check_log_matching,
    check_monotonic,
    check_single_leader_per_epoch,
)
from protocols.check.linearizability import (
    CheckResult,
    KeyResult,
    check_history,
    check_operations,
)
from protocols.check.models import KvRegister, Model
from protocols.check.timeline import render_timeline

__all__ = [
    "Anomaly",
    "CheckResult",
    "ElleResult",
    "Event",
    "History",
    "InvariantViolation",
    "KeyResult",
    "KvRegister",
    "Model",
    "Operation",
    "check_acked_writes_present",
    "check_agreement",
    "check_converged",
    "check_history",
    "check_list_append",
    "check_log_matching",
    "check_monotonic",
    "check_operations",
    "check_single_leader_per_epoch",
    "render_timeline",
]
