"""What the Admin service accepts (``protos/admin.proto``): every field of every request
checked before anything changes, a bad one refused with ``InvalidRequest`` (the host
answers INVALID_ARGUMENT) whose message starts with the field's path, e.g.
``links[1].drop_rate: 1.5 is not in [0, 1]``.

Zero means "the default" where proto3 cannot tell an unset field from 0 (a probe's
count and deadline, a load's in-flight count and seconds); anything else out of range is
refused, never clamped, so a caller learns that it asked for something else than it got.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any

from protocols.common.errors import InvalidRequest
from protocols.common.ids import NodeId
from protocols.runtime.faults import ALL_PEERS, LinkFaults

__all__ = [
    "MAX_FAULT_DELAY_MS",
    "MAX_LOAD_IN_FLIGHT",
    "MAX_LOAD_PAYLOAD_BYTES",
    "MAX_LOAD_SECONDS",
    "MAX_PROBE_COUNT",
    "MAX_PROBE_DEADLINE_MS",
    "MAX_SHUTDOWN_GRACE_S",
    "link_faults",
    "load",
    "probe",
    "shutdown_grace",
]

MAX_FAULT_DELAY_MS = 60_000  # past any RPC deadline a delay is a drop; past a minute, a typo
MAX_PROBE_COUNT = 10_000
MAX_PROBE_DEADLINE_MS = 60_000
MAX_LOAD_IN_FLIGHT = 20_000
MAX_LOAD_SECONDS = 300.0
MAX_LOAD_PAYLOAD_BYTES = 1 << 20  # a Kv value's limit (protocols.kv.commands)
MAX_SHUTDOWN_GRACE_S = 60.0
_RATES = ("drop_rate", "drop_reply_rate", "duplicate_rate", "reorder_rate")


def link_faults(request: Any, peers: Collection[str], me: str) -> list[LinkFaults]:
    """A SetMessageFaultsRequest's links: each names a peer of ``me`` (or "*") once, with
    rates in [0, 1] and delays within ``MAX_FAULT_DELAY_MS``."""
    seen: set[tuple[str, str]] = set()
    out = []
    for i, link in enumerate(request.links):
        at = f"links[{i}]"
        _peer(f"{at}.peer", link.peer, peers, me, allow_all=True)
        if (link.peer, link.message) in seen:
            what = f" for {link.message}" if link.message else ""
            raise InvalidRequest(f"{at}.peer: {link.peer!r} is listed twice{what}")
        seen.add((link.peer, link.message))
        if link.message and not link.message.isidentifier():
            raise InvalidRequest(f"{at}.message: {link.message!r} is not a message name "
                                 "(e.g. AppendEntries)")
        for name in _RATES:
            value = getattr(link, name)
            if not 0.0 <= value <= 1.0:  # NaN fails this too
                raise InvalidRequest(f"{at}.{name}: {value} is not in [0, 1]")
        for name in ("delay_min_ms", "delay_max_ms", "reorder_delay_ms"):
            if getattr(link, name) > MAX_FAULT_DELAY_MS:
                raise InvalidRequest(f"{at}.{name}: {getattr(link, name)} ms is over the "
                                     f"limit of {MAX_FAULT_DELAY_MS} ms")
        if link.delay_max_ms < link.delay_min_ms:
            raise InvalidRequest(f"{at}.delay_max_ms: {link.delay_max_ms} is below "
                                 f"delay_min_ms {link.delay_min_ms}")
        if link.reorder_rate and not link.reorder_delay_ms:
            raise InvalidRequest(f"{at}.reorder_delay_ms: a reorder_rate needs a delay for "
                                 "later messages to overtake the held ones")
        out.append(LinkFaults(**{f: getattr(link, f) for f in LinkFaults.__slots__}))
    return out


def probe(request: Any, peers: Collection[str], me: str,
          ) -> tuple[list[NodeId], int, float | None]:
    """A ProbeRequest: (the peers, each once; pings per peer; the deadline of each in
    seconds, None for the transport's)."""
    named = list(request.peers)
    for i, peer in enumerate(named):
        _peer(f"peers[{i}]", peer, peers, me, allow_all=False)
        if peer in named[:i]:
            raise InvalidRequest(f"peers[{i}]: {peer!r} is listed twice")
    if request.count > MAX_PROBE_COUNT:
        raise InvalidRequest(f"count: {request.count} pings per peer; the limit is "
                             f"{MAX_PROBE_COUNT}")
    if request.deadline_ms > MAX_PROBE_DEADLINE_MS:
        raise InvalidRequest(f"deadline_ms: {request.deadline_ms}; the limit is "
                             f"{MAX_PROBE_DEADLINE_MS}")
    chosen = [NodeId(p) for p in named] or [NodeId(p) for p in sorted(peers)]
    return chosen, request.count or 1, (request.deadline_ms / 1000 or None)


def load(request: Any) -> tuple[int, float, int]:
    """A LoadRequest: (proposals in flight, seconds, payload bytes)."""
    if request.in_flight > MAX_LOAD_IN_FLIGHT:
        raise InvalidRequest(f"in_flight: {request.in_flight}; the limit is "
                             f"{MAX_LOAD_IN_FLIGHT}")
    seconds = request.seconds
    if not (math.isfinite(seconds) and 0.0 <= seconds <= MAX_LOAD_SECONDS):
        raise InvalidRequest(f"seconds: {seconds} is not in [0, {MAX_LOAD_SECONDS}] "
                             "(0: one second)")
    if request.payload_bytes > MAX_LOAD_PAYLOAD_BYTES:
        raise InvalidRequest(f"payload_bytes: {request.payload_bytes}; the limit is "
                             f"{MAX_LOAD_PAYLOAD_BYTES}")
    return request.in_flight or 1, seconds or 1.0, request.payload_bytes


def shutdown_grace(request: Any) -> float:
    """A ShutdownRequest's grace_s, in [0, MAX_SHUTDOWN_GRACE_S]."""
    grace = request.grace_s
    if not (math.isfinite(grace) and 0.0 <= grace <= MAX_SHUTDOWN_GRACE_S):
        raise InvalidRequest(f"grace_s: {grace} is not in [0, {MAX_SHUTDOWN_GRACE_S}]")
    return float(grace)


def _peer(field: str, peer: str, peers: Collection[str], me: str, *, allow_all: bool) -> None:
    if allow_all and peer == ALL_PEERS:
        return
    if not peer:
        raise InvalidRequest(f"{field}: empty; name a peer" + (" or '*'" if allow_all else ""))
    if peer == me:
        raise InvalidRequest(f"{field}: {peer!r} is this node; name one of its peers")
    if peer not in peers:
        known = ", ".join(sorted(peers))
        raise InvalidRequest(f"{field}: unknown node id {peer!r}; the peers are {known}")
