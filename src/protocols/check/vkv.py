"""No acknowledged write is lost in a multi-version store.

Each client write records the value it wrote (unique per write) and the values its
preceding read returned: those it *knowingly* replaced. After the faults heal and the
replicas converge, every acknowledged value must still be a sibling, or have been read
and replaced by some acknowledged write; and every sibling must be something a client
wrote (nothing invented)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["Write", "lost_writes"]

Write = tuple[str, str, frozenset[str]]  # (key, value written, values it had read)


def lost_writes(acknowledged: Iterable[Write], attempted: Iterable[tuple[str, str]],
                final: Mapping[str, Iterable[str]]) -> list[str]:
    """What the final state (key -> siblings) lost or invented. ``attempted`` lists every
    (key, value) a client tried, acknowledged or not (an unanswered write may apply)."""
    acked = list(acknowledged)
    replaced = {(k, v) for k, _, read in acked for v in read}
    siblings = {(k, v) for k, vs in final.items() for v in vs}
    out = [f"{k}: acknowledged {v!r} is gone, and no write that saw it replaced it"
           for k, v, _ in acked if (k, v) not in siblings and (k, v) not in replaced]
    tried = set(attempted)
    out += [f"{k}: sibling {v!r} was never written" for k, v in sorted(siblings - tried)]
    return out
