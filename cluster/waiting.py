"""Waiting for a condition on a live cluster, with a deadline and a clear failure.

``await wait_until(predicate, deadline_s, describe=...)`` polls a sync or async predicate
until it returns something truthy and returns that; on timeout it raises ``WaitTimeout``
saying what the predicate (or ``describe``) last saw. Never a bare sleep.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable
from typing import Any

__all__ = ["WaitTimeout", "wait_until"]


class WaitTimeout(AssertionError):
    """A condition did not hold before its deadline."""


async def wait_until(predicate: Callable[[], Any], deadline_s: float,
                     describe: Callable[[], Any] | None = None, interval_s: float = 0.05,
                     what: str = "condition") -> Any:
    """Poll ``predicate`` (sync or async) until it returns something truthy; return it."""
    end = time.monotonic() + deadline_s
    last: Any = None
    while True:
        value = predicate()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value
        last = value
        if time.monotonic() >= end:
            seen = describe() if describe is not None else last
            if inspect.isawaitable(seen):
                seen = await seen
            raise WaitTimeout(f"{what} not met within {deadline_s}s; last seen: {seen!r}")
        await asyncio.sleep(interval_s)
