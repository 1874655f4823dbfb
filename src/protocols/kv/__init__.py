"""The replicated key-value store every consensus protocol here serves: commands, the
state machine (with exactly-once client sessions), the gRPC service and the client."""

from __future__ import annotations

from protocols.kv.commands import KvCommand, KvResult
from protocols.kv.state_machine import KvStateMachine

__all__ = ["KvCommand", "KvResult", "KvStateMachine"]
