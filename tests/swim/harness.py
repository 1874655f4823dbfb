"""Drive one SWIM core by hand: build it, tick it, feed it messages, read its outbox."""

from __future__ import annotations

import random
from typing import Any

from protocols.common.ids import NodeId
from protocols.contract import Envelope, Ready
from protocols.swim.core import SelfRecord, SwimCore
from protocols.swim.messages import Ack, Ping
from protocols.swim.options import SwimOptions

TICK_S = 0.1  # with the default options: a 10-tick protocol period, a 5-tick probe timeout


def ids(n: int) -> list[str]:
    return [f"n{i}" for i in range(1, n + 1)]


def make(node: str = "n1", n: int = 5, seed: int = 1, recovered: SelfRecord | None = None,
         **options: Any) -> SwimCore:
    """A core that knows all ``n`` members as alive (``join="all"``) unless told."""
    members = ids(n)
    opts = SwimOptions.from_mapping({"join": "all", **options}, members)
    core = SwimCore(NodeId(node), [NodeId(p) for p in members if p != node],
                    random.Random(seed), opts, recovered, TICK_S)
    core.ready()  # drop the start-up outbox (its SelfRecord and own alive update)
    return core


def tick(core: SwimCore, times: int = 1) -> Ready:
    """Tick ``times`` and return everything the core wanted done meanwhile."""
    out = Ready()
    for _ in range(times):
        core.tick()
        r = core.ready()
        out.persist += r.persist
        out.messages += r.messages
        out.replies += r.replies
        out.answers += r.answers
    return out


def sent(ready: Ready, kind: type) -> list[Envelope]:
    return [e for e in ready.messages if isinstance(e.msg, kind)]


def tick_until_sent(core: SwimCore, kind: type, max_ticks: int = 50) -> Envelope:
    for _ in range(max_ticks):
        found = sent(tick(core), kind)
        if found:
            return found[0]
    raise AssertionError(f"no {kind.__name__} within {max_ticks} ticks")


def tick_acked(core: SwimCore, times: int = 1) -> Ready:
    """Tick ``times``, acking every ping the core sends at once (a healthy group)."""
    out = Ready()
    for _ in range(times):
        r = tick(core)
        for env in sent(r, Ping):
            core.on_reply(env.dst, env.msg, Ack(env.msg.seq))
        out.persist += r.persist
        out.messages += r.messages
        out.replies += r.replies
        out.answers += r.answers
        out.answers += core.ready().answers
    return out
