"""Drive a simulated Dynamo cluster one client request at a time."""

from __future__ import annotations

from typing import Any

from protocols.contract import Answer
from protocols.dynamo.core import DynamoCore
from protocols.dynamo.sim import ADAPTER
from protocols.sim.world import World

KEY = "cart"


def world(nodes: int = 5, seed: int = 1, **options: Any) -> World:
    return World(ADAPTER, nodes, seed, options=options)


def core(w: World, n: str) -> DynamoCore:
    c = w.core(n)
    assert isinstance(c, DynamoCore)
    return c


def preference(w: World, key: str = KEY) -> list[str]:
    """Every node in ``key``'s order on the ring: the first N own it."""
    return core(w, w.ids[0]).preference_list(key)


def call(w: World, n: str, command: Any, max_ms: int = 3000) -> Answer:
    rid = w.submit(n, command)
    w.run_until(lambda: rid in w.answers, max_ms)
    return w.answers[rid]


def values(answer: Answer) -> list[str]:
    assert answer.error is None, answer.error
    vs, _context = answer.result
    return list(vs)
