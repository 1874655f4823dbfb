"""The rules of checkers: the table is docs/checkers-rules.md."""

from __future__ import annotations

from mutations import Mutation

MUTATIONS: list[Mutation] = []
