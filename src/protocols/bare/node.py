"""The bare protocol's shell: no peer messages, no extra services."""

from __future__ import annotations

from protocols.bare import SPEC, BareSpec
from protocols.runtime.shell import ProtocolShell

__all__ = ["SHELL"]


class BareShell(ProtocolShell):
    name = "bare"
    spec: BareSpec = SPEC


SHELL = BareShell()
