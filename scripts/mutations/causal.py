"""The rules of causal: the table is docs/causal-rules.md."""

from __future__ import annotations

from mutations import Mutation

MUTATIONS: list[Mutation] = []
