"""A key's state on the wire and on disk: the sibling store of ``protocols.clocks`` as
canonical JSON (so equal states hash equal), for dotted version vectors (``DVVSet``) or
plain version vectors (``VVSiblings``)."""

from __future__ import annotations

import hashlib
import json
import re
from itertools import accumulate
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


MAX_STATE = 4 << 20  # bytes: a key's siblings and clock
MAX_NESTING = 4  # {"dvv": [[node, counter, [values]]]}: a state nests no deeper
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = bytes(c for c in range(256) if c not in b"[]{}")


def decode(raw: bytes, kind: str) -> State:
    """ValueError for anything that is not a state of this ``kind`` (it comes from a
    peer: any malformation, however deep, is bad input, never a crash)."""
    if len(raw) > MAX_STATE:
        raise ValueError(f"a state of {len(raw)} bytes (at most {MAX_STATE})")
    if (depth := _nesting(raw)) > MAX_NESTING:
        raise ValueError(f"not a {kind} state: nested {depth} deep (at most {MAX_NESTING})")
    try:
        doc = json.loads(raw)
        if kind == "dvv":
            if doc["anonymous"]:  # a replica writes every value under a dot
                raise ValueError("anonymous values: no replica writes them")
            return DVVSet([Entry(str(n), _count(c), tuple(str(v) for v in vs))
                           for n, c, vs in doc["dvv"]])
        clock = {str(k): _count(v) for k, v in doc["vv"].items()}
        return VVSiblings(VectorClock(clock), [str(v) for v in doc["siblings"]])
    except Exception as e:
        raise ValueError(f"not a {kind} state: {type(e).__name__}: {e}") from None


def _nesting(raw: bytes) -> int:
    """How deep ``raw``'s arrays and objects nest, strings skipped. Checked before
    ``json.loads``: on a hostile ``[[[[...`` it would recurse to the interpreter's limit,
    and whatever finalizer the garbage collector ran down there would fail."""
    brackets = _STRING.sub(b"", raw).translate(None, _NOT_BRACKET)
    return max(accumulate(1 if b in b"[{" else -1 for b in brackets), default=0)


def _count(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**62:
        raise ValueError(f"a counter must be an integer in 0..2**62, got {v!r}")
    return v


def digest(s: State) -> bytes:
    return hashlib.sha256(encode(s)).digest()[:8]
