"""Crash points on a real process (``protocols.common.crashpoints``): armed through
``Admin.ArmCrash``, they end the process the moment they are reached, as ``kill -9``
would: nothing more is written, sent or answered; what was fsynced survives."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from protocols.common.crashpoints import CrashPoint

if TYPE_CHECKING:
    from protocols.runtime.slot import CoreSlot

__all__ = ["CRASH_EXIT_CODE", "CrashPoints"]

log = logging.getLogger("protocols.host")

CRASH_EXIT_CODE = 137  # what a shell reports for a process killed by SIGKILL (128 + 9)


class CrashPoints:
    """The crash points armed on one node process, by group (None: any group)."""

    def __init__(self, node_id: str) -> None:
        self.node_id = node_id
        self.armed: list[tuple[CrashPoint, str | None]] = []

    def arm(self, point: CrashPoint, group: str | None = None) -> None:
        self.armed.append((point, group))

    def disarm(self) -> None:
        self.armed.clear()

    def after_durable(self, slot: CoreSlot, records: Sequence[Any]) -> None:
        """Called once a write is durable, before anything it released is acted on."""
        for point, group in self.armed:
            if (group is None or group == slot.group) and point.after_persist(records):
                self._crash(point)

    def before_send(self, slot: CoreSlot, msg: Any) -> bool:
        """Called right before ``msg`` leaves; False never returns: the process ends."""
        for point, group in self.armed:
            if (group is None or group == slot.group) and point.before_send(msg):
                self._crash(point)
        return True

    def _crash(self, point: CrashPoint) -> None:
        # the line is all that is left of this life: the runner shows it with the exit
        print(f"node {self.node_id}: crash point {point} reached: exiting as if killed",
              file=sys.stderr, flush=True)
        os._exit(CRASH_EXIT_CODE)
