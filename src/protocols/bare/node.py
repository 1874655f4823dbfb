"""The bare protocol's shell: no routes, no extra services."""

from __future__ import annotations

from typing import TYPE_CHECKING

from protocols.bare.core import SPEC, BareSpec
from protocols.runtime.shell import Route

if TYPE_CHECKING:
    import grpc.aio

    from protocols.runtime.host import NodeHost

__all__ = ["SHELL"]


class BareShell:
    name = "bare"
    spec: BareSpec = SPEC
    routes: tuple[Route, ...] = ()

    def add_services(self, server: grpc.aio.Server, host: NodeHost) -> list[str]:
        return []

    def bench_command(self, i: int, payload: str) -> str:
        """Admin.Load on a bare node measures the shell alone (submit -> pump -> answer)."""
        return payload


SHELL = BareShell()
