"""A key's state on the wire and on disk: the sibling store of ``protocols.clocks`` as
canonical JSON (so equal states hash equal), for dotted version vectors (``DVVSet``) or
plain version vectors (``VVSiblings``)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from protocols.clocks import DVVSet, VectorClock, VVSiblings
from protocols.clocks.dvv import Entry

__all__ = ["State", "decode", "digest", "empty", "encode"]

State = DVVSet[str] | VVSiblings[str]


def empty(kind: str) -> State:
    return DVVSet() if kind == "dvv" else VVSiblings()


def encode(s: State) -> bytes:
    if isinstance(s, DVVSet):
        doc: dict[str, Any] = {"dvv": [[e.node, e.counter, list(e.values)] for e in s.entries],
                               "anonymous": sorted(s.anonymous)}
    else:
        doc = {"vv": s.clock.as_dict(), "siblings": sorted(s.siblings)}
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def decode(raw: bytes, kind: str) -> State:
    """ValueError for anything that is not a state of this ``kind``."""
    try:
        doc = json.loads(raw)
        if kind == "dvv":
            return DVVSet([Entry(str(n), int(c), tuple(str(v) for v in vs))
                           for n, c, vs in doc["dvv"]], [str(v) for v in doc["anonymous"]])
        clock = {str(k): int(v) for k, v in doc["vv"].items()}
        return VVSiblings(VectorClock(clock), [str(v) for v in doc["siblings"]])
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"not a {kind} state: {e}") from None


def digest(s: State) -> bytes:
    return hashlib.sha256(encode(s)).digest()[:8]
