"""The TLA+ model's properties of parallel commits, checked on real processes.

In the simulator they are checked after every event (``sim.ParallelCommitProperties``).
On processes, each node says what happened as it happens: every transaction record a
range replica applies that differs from the one it held (its status, epoch, timestamp or
in-flight writes: not a mere heartbeat), every record a split moves (on its new range),
and every transaction its coordinator acknowledged to a client as committed. These are
trace lines (``record_note``, ``ack_note``); with the cluster's event log on, the shell
writes each as a ``note`` event to ``events.<node>.jsonl``
(``protocols.runtime.eventlog``), so a test or the demo reads them back after the run,
from every node, across kills and restarts.

``violations(events, final=...)`` checks, over all of them:

* **a finalized record never changes** (``RecordFinalized => []RecordFinalized``): once
  any replica applied a COMMITTED or ABORTED record, every record of that transaction
  any replica applies later (after a restart too, replaying its log) is the same;
* **a transaction acknowledged to its client is never aborted** (``AckClient``'s
  assertion): no replica ever applies ABORTED for it;
* **a recovery that prevented a write never lets that transaction commit** at that
  attempt (its epoch and timestamp): no replica applies a COMMITTED record at an attempt
  a write of which was noted prevented before (one noted after the commit is a recovery
  from a stale view, querying a write the commit had resolved: too late to matter);
* with ``final=True`` (after the workload's final reads met every key):
  **an acknowledged transaction ends explicitly committed** (``ImplicitCommit ~>
  ExplicitCommit``, for the transactions a client was told of): some replica applied its
  record COMMITTED.

What processes do not show, and the simulator checks instead: "an implicitly committed
transaction is never aborted" needs each write's intent beside the record, at one
instant, which no node sees.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from protocols.clocks.hlc import HLCTimestamp
from protocols.txnkv.record import TxnRecord, TxnStatus

__all__ = ["ACK", "PREVENTED", "RECORD", "ack_note", "prevented_note", "record_note",
           "violations"]

RECORD = "txnkv-record "
ACK = "txnkv-acked "
PREVENTED = "txnkv-prevented "


def record_note(range_id: str, record: TxnRecord) -> str:
    """The trace line for a record a replica of ``range_id`` applied."""
    return RECORD + json.dumps({
        "range": range_id, "txn": record.txn_id, "status": record.status.value,
        "epoch": record.epoch, "ts": [record.write_ts.wall, record.write_ts.logical],
        "in_flight": [w.key for w in record.in_flight]}, separators=(",", ":"))


def prevented_note(txn_id: str, epoch: int, ts: HLCTimestamp, key: str) -> str:
    """The trace line for a write a status resolution prevented: the attempt (``txn_id``
    at ``epoch``, ``ts``) can never commit."""
    return PREVENTED + json.dumps({"txn": txn_id, "epoch": epoch, "ts": [ts.wall, ts.logical],
                                   "key": key}, separators=(",", ":"))


def ack_note(txn_id: str) -> str:
    """The trace line for a transaction acknowledged to its client as committed."""
    return ACK + txn_id


def violations(events: Iterable[Mapping[str, Any]], final: bool = False) -> list[str]:
    """The properties (see the module) over a run's events (``load_events``' dicts, in
    time order); each violation as one line naming the transaction and the nodes.

    A replica that restarts replays its range's log from the start, so it applies a
    record's earlier states again: "never changes" is judged per replica and life (from
    a node's ``start`` event on), and every replica's final record must be the first
    one any replica finalized."""
    first: dict[str, tuple[str, dict[str, Any]]] = {}  # txn -> (node, its final record)
    life: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}  # (node, range) -> txns
    acked: dict[str, str] = {}  # txn -> the node that acknowledged it
    prevented: dict[tuple[str, int, tuple[int, ...]], tuple[str, str]] = {}  # -> node, key
    out: list[str] = []
    for e in events:
        node = str(e.get("node", "?"))
        if e.get("kind") == "start":  # a new life: the replicas replay their logs
            for key in [k for k in life if k[0] == node]:
                del life[key]
            continue
        text = str(e.get("text", "")) if e.get("kind") == "note" else ""
        if text.startswith(ACK):
            acked.setdefault(text[len(ACK):], node)
        elif text.startswith(PREVENTED):
            p = json.loads(text[len(PREVENTED):])
            attempt = (p["txn"], p["epoch"], tuple(p["ts"]))
            if not _committed_at(first.get(p["txn"]), attempt):  # else too late to matter
                prevented.setdefault(attempt, (node, p["key"]))
        elif text.startswith(RECORD):
            rec = json.loads(text[len(RECORD):])
            out.extend(_applied(node, rec, first, life))
            attempt = (rec["txn"], rec["epoch"], tuple(rec["ts"]))
            if rec["status"] == TxnStatus.COMMITTED.value and attempt in prevented:
                by, wkey = prevented.pop(attempt)
                out.append(f"committed at an attempt whose write of {wkey!r} {by} "
                           f"prevented: {rec['txn']} (epoch {rec['epoch']}, ts {rec['ts']}, "
                           f"at {node})")
    committed = {txn for txn, (_, r) in first.items()
                 if r["status"] == TxnStatus.COMMITTED.value}
    for txn, node in sorted(acked.items()):
        final_record = first.get(txn)
        if final_record is not None and final_record[1]["status"] == TxnStatus.ABORTED.value:
            out.append(f"acknowledged to its client by {node}, then aborted: {txn} "
                       f"(at {final_record[0]})")
        elif final and txn not in committed:
            out.append(f"acknowledged to its client by {node}, and no replica ever "
                       f"committed its record: {txn}")
    return out


def _applied(node: str, rec: dict[str, Any], first: dict[str, tuple[str, dict[str, Any]]],
             life: dict[tuple[str, str], dict[str, dict[str, Any]]]) -> list[str]:
    txn = rec["txn"]
    mine = life.setdefault((node, rec["range"]), {})
    held = mine.get(txn)
    if held is not None and _same(held) != _same(rec):
        return [f"a finalized record changed at {node}: {txn} was {held['status']}, "
                f"then {rec}"]
    if rec["status"] not in (TxnStatus.COMMITTED.value, TxnStatus.ABORTED.value):
        return []
    mine[txn] = rec
    seen = first.setdefault(txn, (node, rec))
    if _same(seen[1]) != _same(rec):
        return [f"finalized two ways: {txn} {seen[1]['status']} at {seen[0]}, "
                f"{rec['status']} at {node} ({rec})"]
    return []


def _committed_at(final: tuple[str, dict[str, Any]] | None,
                  attempt: tuple[str, int, tuple[int, ...]]) -> bool:
    """The attempt was COMMITTED already (a prevention that comes after is a recovery
    from a stale view querying a write the commit had resolved: too late to matter)."""
    return (final is not None and final[1]["status"] == TxnStatus.COMMITTED.value
            and (final[1]["epoch"], tuple(final[1]["ts"])) == attempt[1:])


def _same(rec: Mapping[str, Any]) -> tuple[Any, ...]:
    """A record's identity as the property compares it (the range that holds it aside:
    one transaction has one record)."""
    return rec["status"], rec["epoch"], tuple(rec["ts"]), tuple(rec["in_flight"])
