"""Protocols by name, for the simulator (``scripts/sim --protocol NAME``).

Adding a protocol adds one line here; nothing in ``protocols.sim`` changes. Any other
adapter can be named as ``package.module:ATTRIBUTE``.
"""

from __future__ import annotations

import importlib
from typing import Any

from protocols.common.errors import ConfigError

__all__ = ["SIM_ADAPTERS", "load_adapter"]

SIM_ADAPTERS: dict[str, str] = {
    "raft": "protocols.raft.sim:ADAPTER",
}


def load_adapter(name: str) -> Any:
    """The simulator adapter of protocol ``name`` (or of ``module:attr``)."""
    target = SIM_ADAPTERS.get(name, name)
    if ":" not in target:
        raise ConfigError(f"unknown protocol {name!r}; known: {', '.join(sorted(SIM_ADAPTERS))}"
                          " (or give module:ATTRIBUTE)")
    module, _, attr = target.partition(":")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"protocol {name!r} is not available yet ({target}): {e}") from None
