"""The rules of clocks: the table is docs/clocks-rules.md."""

from __future__ import annotations

from mutations import Mutation

MUTATIONS: list[Mutation] = []
