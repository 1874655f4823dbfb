"""A core that does nothing: it counts ticks and answers client commands with an echo."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from typing import Any

from protocols.common.fs import FileSystem
from protocols.common.ids import NodeId
from protocols.common.outbox import Answer, Ready
from protocols.runtime.core import NodeParts, NodeStatusInfo

__all__ = ["SPEC", "BareCore", "BareSpec", "NoStorage"]


class BareCore:
    def __init__(self, node_id: NodeId) -> None:
        self.node_id = node_id
        self.ticks = 0
        self._ready = Ready()

    def tick(self) -> None:
        self.ticks += 1

    def on_message(self, src: NodeId, msg: Any) -> Any | None:
        return None

    def on_reply(self, src: NodeId, request: Any, reply: Any) -> None:
        return None

    def on_send_failed(self, dst: NodeId, request: Any) -> None:
        return None

    def submit(self, request_id: Any, command: Any) -> None:
        self._ready.answers.append(Answer(request_id, command))

    def ready(self) -> Ready:
        ready, self._ready = self._ready, Ready()
        return ready

    def status(self) -> NodeStatusInfo:
        return NodeStatusInfo(role="bare", details={"ticks": str(self.ticks)})


class NoStorage:
    def save(self, records: Sequence[Any]) -> None:
        if records:
            raise AssertionError("the bare core never asks to persist anything")

    def close(self) -> None:
        return None


class BareSpec:
    name = "bare"

    def create_node(
        self,
        node_id: NodeId,
        peers: Sequence[NodeId],
        fs: FileSystem,
        data_dir: str,
        rng: random.Random,
        options: Mapping[str, Any],
    ) -> NodeParts:
        return NodeParts(BareCore(node_id), NoStorage())


SPEC = BareSpec()
