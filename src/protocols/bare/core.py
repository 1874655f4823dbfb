"""A core that does nothing: it counts ticks and answers client commands with an echo."""

from __future__ import annotations

from typing import Any

from protocols.common.ids import NodeId
from protocols.contract import Answer, Core, NodeStatus, Ready

__all__ = ["BareCore"]


class BareCore(Core):
    def __init__(self, node_id: NodeId) -> None:
        self.node_id = node_id
        self.ticks = 0
        self._ready = Ready()

    def tick(self) -> None:
        self.ticks += 1

    def on_message(self, src: NodeId, msg: Any) -> Any:
        raise AssertionError("the bare protocol declares no peer messages")

    def submit(self, request_id: Any, command: Any) -> None:
        self._ready.answers.append(Answer(request_id, command))

    def ready(self) -> Ready:
        ready, self._ready = self._ready, Ready()
        return ready

    def status(self) -> NodeStatus:
        return NodeStatus(role="bare", details={"ticks": str(self.ticks)})
