"""Scenarios of a coordinator killed mid-commit, shared by the crash tests
(``test_coordinator_crash.py``) and the planted-bug test (``test_txnkv_sim.py``, which
imports this module afresh inside ``planted``: everything here is looked up at import)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from protocols.contract import Answer
from protocols.sim.world import World
from protocols.twopc.messages import MicroOp, Read, Transact
from protocols.txnkv.core import TxnKvCore
from protocols.txnkv.messages import BatchRequest, EndTxn, Put
from protocols.txnkv.record import TxnStatus
from protocols.txnkv.sim import ADAPTER, committed_state, final_state_violations

ACCOUNTS = ("a0", "ha1", "pa2")  # one in each range: r1 ["", h), r2 [h, p), r3 [p, ...)


def world(seed: int = 3) -> World:
    """Five nodes, every range serving, each account opened at 10."""
    w = World(ADAPTER, 5, seed)
    w.run_until(lambda: serving(w), max_ms=10_000)
    seed_rid = w.submit("n2", Transact(tuple(MicroOp("w", a, 10) for a in ACCOUNTS)))
    w.run_until(lambda: seed_rid in w.answers, max_ms=5000)
    assert w.answers[seed_rid].error is None
    return w


def serving(w: World) -> bool:
    """Every range has a leaseholder serving."""
    found = set()
    for n in w.up_nodes():
        core = w.core(n)
        assert isinstance(core, TxnKvCore)
        found |= {rid for rid, r in core.replicas.items() if r.serving(core.hlc.current)}
    return found == {"r1", "r2", "r3"}


def transfer(w: World) -> Any:
    return w.submit("n1", Transact((MicroOp("add", "a0", -3), MicroOp("add", "ha1", 1),
                                    MicroOp("add", "pa2", 2))))


def record(w: World) -> Any:
    state = committed_state(w)
    records = [r for r in state["r1"].machine.records.values()
               if r.txn_id.startswith("n1.")]
    return records[-1] if records else None


def drop_batches_from_n1(w: World, drop: Callable[[BatchRequest], bool],
                         time_out: bool = False, lose_reply: bool = False) -> None:
    """n1's coordinator loses the batches ``drop`` picks, on the way out (a message
    fault on content): it hears nothing back for them (``time_out``: it hears that no
    reply came, as after a deadline; ``lose_reply``: the batch arrives and is done, and
    its reply is what is lost)."""
    core = w.core("n1")
    assert isinstance(core, TxnKvCore)
    send = core.coordinator._send

    def filtered(node: str, request: BatchRequest, done: Any) -> None:
        if not drop(request):
            send(node, request, done)
        elif lose_reply:
            send(node, request, lambda _resp: done(None))
        elif time_out:
            w.at(50, lambda: done(None))

    core.coordinator._send = filtered


def writes(request: BatchRequest) -> bool:
    return any(isinstance(op, Put) for op in request.ops)


def commits(request: BatchRequest) -> bool:
    return any(isinstance(op, EndTxn) and op.status is TxnStatus.COMMITTED
               for op in request.ops)


def read_all(w: World) -> tuple[Read, ...]:
    """Read every account from n2, as a client does: again while refused (a range
    whose leaseholder died serves again once its lease has expired)."""
    for _ in range(5):
        rid = w.submit("n2", Transact(tuple(MicroOp("r", a) for a in ACCOUNTS)))
        answer: Answer = w.run_until(lambda rid=rid: w.answers.get(rid), max_ms=10_000)
        if answer.error is None:
            return tuple(answer.result)
    raise AssertionError(f"no read committed: {answer.error}")


def killed_with_a_write_missing(seed: int = 3) -> list[str]:
    """n1 stages a transfer whose write to r3 is lost, and dies; a reader on n2 then
    reads every account. Returns what the final state's check finds."""
    w = world(seed)
    drop_batches_from_n1(w, lambda r: writes(r) and r.range_id == "r3")
    transfer(w)
    w.run_until(lambda: (rec := record(w)) is not None
                and rec.status is TxnStatus.STAGING, max_ms=5000)
    w.crash("n1")
    read_all(w)
    return final_state_violations(w)
