"""A run's record: its verdicts and fault intervals as ``verdict.json`` in its folder.

The demos (``scripts/demo``) and ``scripts/sim --spacetime DIR`` leave one beside the
pages they draw, so ``scripts/report DIR`` can say what the checkers found without
re-running them. One JSON object::

    {"title": "...", "protocol": "raft", "source": "demo" | "sim",
     "clock": "wall" | "simulated",
     "verdicts": [{"check": "linearizability", "status": "ok", "summary": "..."}],
     "faults": [[start_s, end_s, "partition n1 | n2,n3 (blackhole)"], ...],
     "replay": "scripts/sim --protocol raft --seed 7 ..."}

Fault times are on the run's clock: Unix seconds for a run on processes, simulated
seconds for the simulator.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol, cast

__all__ = ["RECORD_FILE", "Judgement", "RecordError", "RunRecord", "make_record",
           "read_record", "write_record"]

RECORD_FILE = "verdict.json"
Status = Literal["ok", "violation", "unknown"]
STATUSES: tuple[Status, ...] = ("ok", "violation", "unknown")


class RecordError(ValueError):
    """``verdict.json`` exists but is not a record (names the file and what is wrong)."""


class _Checked(Protocol):
    """A checker's result: linearizability's, set-full's (``verdict``) or the bank's
    (``valid``), each with a ``summary()``."""

    def summary(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Judgement:
    """One checker's verdict on the run, as the report shows it."""

    check: str  # e.g. "linearizability", "bank", "processes left"
    status: Status
    summary: str = ""

    @classmethod
    def of(cls, check: str, result: _Checked) -> Judgement:
        """The verdict of any checker's result: its ``verdict`` if it has one (ok,
        violation, unknown), else its ``valid`` (the bank's)."""
        verdict = getattr(result, "verdict", None)
        if verdict not in STATUSES:
            valid = getattr(result, "valid", None)
            if not isinstance(valid, bool):
                raise TypeError(f"{type(result).__name__} has neither verdict nor valid")
            verdict = "ok" if valid else "violation"
        return cls(check, cast(Status, verdict), result.summary())

    @classmethod
    def holds(cls, check: str, ok: bool, summary: str) -> Judgement:
        """A property the run checked itself (e.g. every member counts the total)."""
        return cls(check, "ok" if ok else "violation", summary)


@dataclass(frozen=True, slots=True)
class RunRecord:
    title: str
    protocol: str
    source: Literal["demo", "sim"]
    verdicts: tuple[Judgement, ...]
    faults: tuple[tuple[float, float, str], ...] = ()
    clock: Literal["wall", "simulated"] = "wall"
    replay: str = ""
    extra: dict[str, Any] = field(default_factory=dict)  # anything else worth showing

    @property
    def status(self) -> Status | None:
        """The run's verdict: a violation if any check found one, unknown if any could
        not decide, ok if all passed; None if nothing was checked."""
        found = {v.status for v in self.verdicts}
        if not found:
            return None
        return "violation" if "violation" in found else "unknown" if "unknown" in found \
            else "ok"


def make_record(title: str, protocol: str, source: Literal["demo", "sim"],
                verdicts: Iterable[Judgement], *,
                faults: Sequence[tuple[float, float, str]] = (), **kw: Any) -> RunRecord:
    """A record from lists (faults as the nemesis gives them)."""
    return RunRecord(title, protocol, source, tuple(verdicts),
                     tuple((float(s), float(e), str(w)) for s, e, w in faults), **kw)


def write_record(directory: str | Path, record: RunRecord) -> Path:
    """Write ``record`` as ``directory/verdict.json``; return the path."""
    path = Path(directory) / RECORD_FILE
    doc = {"title": record.title, "protocol": record.protocol, "source": record.source,
           "clock": record.clock, "status": record.status,
           "verdicts": [{"check": v.check, "status": v.status, "summary": v.summary}
                        for v in record.verdicts],
           "faults": [list(f) for f in record.faults], "replay": record.replay,
           "extra": record.extra}
    path.write_text(json.dumps(doc, indent=1, default=str) + "\n", encoding="utf-8")
    return path


def read_record(directory: str | Path) -> RunRecord | None:
    """The record in ``directory``, None if it has none; RecordError if it is malformed."""
    path = Path(directory) / RECORD_FILE
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return _parse(doc)
    except (ValueError, TypeError, KeyError) as e:
        raise RecordError(f"{path}: not a run record ({type(e).__name__}: {e})") from e


def _parse(doc: Any) -> RunRecord:
    if not isinstance(doc, dict):
        raise TypeError("not a JSON object")
    verdicts = []
    for v in doc.get("verdicts", []):
        if v["status"] not in STATUSES:
            raise ValueError(f"status {v['status']!r} is none of {', '.join(STATUSES)}")
        verdicts.append(Judgement(str(v["check"]), v["status"], str(v.get("summary", ""))))
    source = doc.get("source", "demo")
    clock = doc.get("clock", "wall")
    if source not in ("demo", "sim") or clock not in ("wall", "simulated"):
        raise ValueError(f"source {source!r} / clock {clock!r} unknown")
    extra = doc.get("extra") or {}
    if not isinstance(extra, dict):
        raise TypeError("extra is not an object")
    return make_record(str(doc.get("title", "")), str(doc.get("protocol", "")), source,
                       verdicts, faults=doc.get("faults", []), clock=clock,
                       replay=str(doc.get("replay", "")), extra=extra)
