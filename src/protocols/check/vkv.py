"""No acknowledged write is lost in a multi-version store.

Each client write records the value it wrote (unique per write) and the values its
preceding read returned: those it *knowingly* replaced. A write replaces only if it was
applied: acknowledged, or seen applied (its value came back in some read or in the final
state; an unanswered write may well have taken effect). After the faults heal and the
replicas converge, every acknowledged value must still be a sibling, or have been read
and replaced by an applied write; and every sibling must be something a client wrote
(nothing invented)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

__all__ = ["Write", "lost_writes"]

Write = tuple[str, str, frozenset[str]]  # (key, value written, values it had read)


def lost_writes(acknowledged: Iterable[Write], attempted: Iterable[Write],
                final: Mapping[str, Iterable[str]],
                observed: Iterable[tuple[str, str]] = ()) -> list[str]:
    """What the final state (key -> siblings) lost or invented. ``attempted`` lists every
    write a client tried, acknowledged or not; ``observed`` every (key, value) a read
    returned during the run."""
    acked = list(acknowledged)
    tried = list(attempted)
    siblings = {(k, v) for k, vs in final.items() for v in vs}
    seen = siblings | set(observed) | {(k, v) for k, v, _ in acked}
    replaced = {(k, r) for k, v, read in tried if (k, v) in seen for r in read}
    out = [f"{k}: acknowledged {v!r} is gone, and no write that saw it replaced it"
           for k, v, _ in acked if (k, v) not in siblings and (k, v) not in replaced]
    written = {(k, v) for k, v, _ in tried}
    out += [f"{k}: sibling {v!r} was never written" for k, v in sorted(siblings - written)]
    return out
