"""The rules of swim: the table is docs/swim-rules.md."""

from __future__ import annotations

from mutations import Mutation

MUTATIONS: list[Mutation] = []
