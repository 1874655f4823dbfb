"""Checkers: pure functions over recorded histories and node states (DESIGN.md layer 5).

Shared by the simulator, integration and chaos tests: linearizability with an HTML
timeline on failure, isolation levels of transactions (``elle``: Elle's dependency
cycles on list-append and rw-register keys; ``python -m protocols.check.txn`` from the
shell), bank invariants (``bank``), lost writes in per-key sets (``setfull``: Jepsen's
set-full), and invariant helpers (election safety, log matching, agreement,
monotonic commit, no acknowledged write lost, convergence).
"""

from __future__ import annotations

from protocols.check.bank import BankResult, check_bank
from protocols.check.elle import (
    LEVELS,
    Anomaly,
    ElleResult,
    HistoryError,
    TxnResult,
    check_list_append,
    check_transactions,
)
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
from protocols.check.setfull import SetFullResult, check_set_full
from protocols.check.timeline import render_timeline

__all__ = [
    "LEVELS",
    "Anomaly",
    "BankResult",
    "CheckResult",
    "ElleResult",
    "Event",
    "History",
    "HistoryError",
    "InvariantViolation",
    "KeyResult",
    "KvRegister",
    "Model",
    "Operation",
    "SetFullResult",
    "TxnResult",
    "check_acked_writes_present",
    "check_agreement",
    "check_bank",
    "check_converged",
    "check_history",
    "check_list_append",
    "check_log_matching",
    "check_monotonic",
    "check_operations",
    "check_set_full",
    "check_single_leader_per_epoch",
    "check_transactions",
    "render_timeline",
]
