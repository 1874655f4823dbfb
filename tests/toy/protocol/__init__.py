"""The toy protocol: primary-backup KV replication, the worked example of
``docs/adding-a-protocol.md`` (messages.py -> core.py -> node.py, sim.py), registered
for the runner and the simulator as ``tests.toy.protocol:ENTRY``."""

from __future__ import annotations

from protocols.registry import ProtocolEntry

__all__ = ["ENTRY", "UNSAFE_ENTRY"]

ENTRY = ProtocolEntry("toy", "primary-backup KV (the example of docs/adding-a-protocol.md)",
                      spec="tests.toy.protocol.core:SPEC", shell="tests.toy.protocol.node:SHELL",
                      sim="tests.toy.protocol.sim:ADAPTER")
UNSAFE_ENTRY = ProtocolEntry("toy-unsafe", "the toy, acknowledging before fsync",
                             spec="tests.toy.protocol.core:UNSAFE_SPEC",
                             sim="tests.toy.protocol.sim:UNSAFE")
