"""The toy protocol: primary-backup KV replication, the worked example of
``docs/adding-a-protocol.md`` (messages.py -> core.py -> storage.py -> this spec ->
node.py, sim.py), registered for the runner and the simulator as
``tests.toy.protocol:ENTRY``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from protocols.common.errors import ConfigError
from protocols.common.wal import SyncPolicy
from protocols.contract import MessageTable, NodeContext, NodeParts, OneWay, ProtocolSpec, Rpc
from protocols.kv.commands import KvCommand
from protocols.registry import ProtocolEntry
from tests.toy.protocol.core import ToyCore, ToyOptions
from tests.toy.protocol.messages import Ack, Committed, Forward, Forwarded, Replicate
from tests.toy.protocol.storage import LogEntry, ToyStorage

__all__ = ["ENTRY", "FORWARD_DEADLINE_MS", "SPEC", "UNSAFE_ENTRY", "UNSAFE_SPEC", "ToySpec"]


FORWARD_DEADLINE_MS = 1500


class ToySpec(ProtocolSpec):
    name = "toy"
    # a Forward is answered once its write commits (a deferred reply): its sender waits
    # longer for it than for an Ack (Rpc.deadline_ms; the driver's default otherwise)
    messages = MessageTable((Rpc(Replicate, Ack), OneWay(Committed),
                             Rpc(Forward, Forwarded, deadline_ms=FORWARD_DEADLINE_MS)))
    records = (LogEntry,)  # what its core persists: a crash point after_persist:LogEntry
    options_class = ToyOptions
    roles = ("primary", "backup")

    def check_roles(self, roles: Mapping[str, str]) -> None:
        """Roles it knows, and one primary at most (none given: the first node is)."""
        super().check_roles(roles)
        primaries = sorted(n for n, role in roles.items() if role == "primary")
        if len(primaries) > 1:
            raise ConfigError(f"the toy has one primary, but {', '.join(primaries)} are all "
                              "given the role 'primary'")

    def __init__(self, unsafe: bool = False) -> None:
        self.unsafe = unsafe  # acknowledge before fsync, whatever the options say

    def create_node(self, ctx: NodeContext) -> NodeParts:
        options = ToyOptions.from_mapping(ctx.options, [ctx.node_id, *ctx.peers])
        durable = options.fsync and not self.unsafe
        storage = ToyStorage(ctx.fs, ctx.data_dir,
                             SyncPolicy.ALWAYS if durable else SyncPolicy.NEVER)
        primary = next((n for n, role in sorted(ctx.roles.items()) if role == "primary"), None)
        return NodeParts(ToyCore(ctx.node_id, ctx.peers, storage.recovered, options, primary),
                         storage)

    def message_size(self, msg: Any) -> int:
        """Bytes on the wire, estimated for the simulator's counters: the commands carried,
        and a few bytes of numbers."""
        if isinstance(msg, Replicate | Forward):
            return 12 + len(msg.command)
        if isinstance(msg, Forwarded):
            return 8 + len(msg.value) + len(msg.error)
        return 8

    def bench_command(self, i: int, payload: str) -> Any:
        return KvCommand("put", f"bench{i % 100}", payload or str(i))


SPEC = ToySpec()
UNSAFE_SPEC = ToySpec(unsafe=True)

ENTRY = ProtocolEntry("toy", "primary-backup KV (the example of docs/adding-a-protocol.md)",
                      spec="tests.toy.protocol:SPEC", shell="tests.toy.protocol.node:SHELL",
                      sim="tests.toy.protocol.sim:ADAPTER")
UNSAFE_ENTRY = ProtocolEntry("toy-unsafe", "the toy, acknowledging before fsync",
                             spec="tests.toy.protocol:UNSAFE_SPEC",
                             sim="tests.toy.protocol.sim:UNSAFE")
