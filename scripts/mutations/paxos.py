"""The rules of paxos: the table is docs/paxos-rules.md."""

from __future__ import annotations

from mutations import Mutation

MUTATIONS: list[Mutation] = []
