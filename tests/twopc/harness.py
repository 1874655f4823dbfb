"""What the twopc unit tests share: a participant's or coordinator's outbox, by hand."""

from __future__ import annotations

from protocols.contract import Ready


class Box:
    """The ``out`` a Participant or Coordinator writes into; ``take()`` drains it."""

    def __init__(self) -> None:
        self.ready = Ready()

    def __call__(self) -> Ready:
        return self.ready

    def take(self) -> Ready:
        out, self.ready = self.ready, Ready()
        return out
