"""The rules of vkv: the table is docs/vkv-rules.md."""

from __future__ import annotations

from mutations import Mutation

MUTATIONS: list[Mutation] = []
