"""Named crash points: where a targeted fault kills a node, the same in both drivers.

A textbook draws its failures at exact points: "the coordinator wrote COMMIT and died
before sending it". Random kills hit such a point by luck; a crash point hits it every
time. A point names a moment in the pump's order (persist -> send, ``protocols.contract``)
and a type:

* ``after_persist:CommitRecord`` — right after a write holding a ``CommitRecord`` is
  durable, before anything that write released (messages, replies, answers) is acted
  on: the record survives, its messages never leave;
* ``before_send:Commit`` — right before a ``Commit`` would leave (a request, a one-way
  message, or a reply): what was persisted before it survives, it never leaves.

Types are matched by class name (records are typed: ``Ready.persist`` holds them).
A point fires once, the first time it is reached after it was armed. The simulator
(``World.crash_at``) crashes the node there; the asyncio host (``Admin.ArmCrash``) exits
the process at once, as ``kill -9`` would.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from protocols.common.errors import InvalidRequest

__all__ = ["MOMENTS", "CrashPoint"]

MOMENTS = ("after_persist", "before_send")


@dataclass(frozen=True, slots=True)
class CrashPoint:
    moment: str  # one of MOMENTS
    type_name: str  # the record's or the message's class name

    @classmethod
    def parse(cls, text: str) -> CrashPoint:
        """``"after_persist:CommitRecord"`` -> CrashPoint; InvalidRequest saying what is
        wrong otherwise."""
        moment, sep, type_name = text.partition(":")
        if not sep or moment not in MOMENTS or not type_name.isidentifier():
            raise InvalidRequest(f"crash point {text!r}: expected MOMENT:TypeName with "
                                 f"MOMENT one of {', '.join(MOMENTS)} (e.g. "
                                 "after_persist:CommitRecord, before_send:Commit)")
        return cls(moment, type_name)

    def __str__(self) -> str:
        return f"{self.moment}:{self.type_name}"

    def after_persist(self, records: Iterable[Any]) -> bool:
        """Does a write of ``records`` reach this point once durable?"""
        return self.moment == "after_persist" and any(
            type(r).__name__ == self.type_name for r in records)

    def before_send(self, msg: Any) -> bool:
        """Does sending ``msg`` reach this point?"""
        return self.moment == "before_send" and type(msg).__name__ == self.type_name
