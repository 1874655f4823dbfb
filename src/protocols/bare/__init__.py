"""The bare protocol: a node with no algorithm at all.

It serves everything the shared shell serves (health, reflection, Admin, Probe) and
nothing else. The cluster runner's own tests use it to prove partitions, kills and
message faults work before any real protocol exists, and it is the smallest example of
a protocol plugging into ``protocols.runtime``.
"""

from __future__ import annotations

from protocols.bare.core import SPEC, BareCore

__all__ = ["SPEC", "BareCore"]
