"""Reference implementations of distributed protocols on asyncio + gRPC.

Read DESIGN.md's five layers: each protocol has a sans-IO core (``protocols.<p>.core``),
a thin asyncio shell (``protocols.<p>.node``) built on ``protocols.runtime``, and is driven
by the deterministic simulator (``protocols.sim``) and checked by ``protocols.check``.
"""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
