"""Causal delivery, checked from what each member delivered and in which order.

Each member's log lists its deliveries in order, its own broadcasts included at the
moment it sent them. The causal past of a message is everything its origin had delivered
before sending it, and their pasts in turn (Lamport's happened-before restricted to
broadcasts). A delivery violates causal order when the member had not yet delivered
something in the message's past. Pasts are bitsets (Python ints) over message numbers,
each computed once. Delivery is at least once across a crash: a member may deliver a
message again after a restart, and only its first delivery counts.

A message is named by ``(origin, seq)``, so the name must mean one broadcast: every
member that delivered it, and the answer that acknowledged it, must agree on its payload
(``mislabelled``: a member that numbered two broadcasts alike passes every order check).
And reliable delivery: every acknowledged broadcast is delivered by every member
(``undelivered``), and after the faults heal every broadcast anyone delivered is
delivered everywhere (``missing_deliveries``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

__all__ = ["Delivery", "Message", "causal_violations", "mislabelled", "missing_deliveries",
           "undelivered"]

Message = tuple[str, int]  # (origin, seq)
Delivery = tuple[str, int, bytes]  # (origin, seq, payload)


def causal_violations(logs: Mapping[str, Sequence[Message]], limit: int = 10) -> list[str]:
    """What broke causal order in ``logs`` (member -> its delivery order), first ``limit``."""
    ids: dict[Message, int] = {}
    for log in logs.values():
        for m in log:
            ids.setdefault(m, len(ids))
    position: dict[str, dict[Message, int]] = {}  # a message's *first* delivery there
    for n, log in logs.items():
        firsts = position[n] = {}
        for i, m in enumerate(log):
            firsts.setdefault(m, i)
    pasts: dict[Message, int] = {}

    def past(m: Message) -> int:
        """Bitset of everything that happened before ``m`` was sent."""
        stack = [m]
        while stack:
            top = stack[-1]
            if top in pasts:
                stack.pop()
                continue
            origin_log = logs.get(top[0], ())
            before = origin_log[: position.get(top[0], {}).get(top, 0)]
            pending = [x for x in before if x not in pasts and x[0] != top[0]]
            if pending:
                stack.extend(pending)
                continue
            bits = 0
            for x in before:
                bits |= 1 << ids[x]
                if x[0] != top[0]:
                    bits |= pasts[x]
            pasts[top] = bits
            stack.pop()
        return pasts[m]

    out: list[str] = []
    for n, log in sorted(logs.items()):
        seen = 0
        for m in log:
            if m[0] != n and m[0] in logs:
                lacking = past(m) & ~seen
                if lacking:
                    first = next(x for x, i in ids.items() if lacking >> i & 1)
                    out.append(f"{n} delivered {m[0]}#{m[1]} before {first[0]}#{first[1]}, "
                               f"which happened before it")
                    if len(out) >= limit:
                        return out
            seen |= 1 << ids[m]
    return out


def missing_deliveries(logs: Mapping[str, Sequence[Message]]) -> list[str]:
    """Every member delivers every broadcast (after the faults heal): what is missing."""
    sent = {m for n, log in logs.items() for m in log if m[0] == n}
    out = []
    for n, log in sorted(logs.items()):
        lacking = sent - set(log)
        if lacking:
            out.append(f"{n} never delivered {len(lacking)} broadcasts, e.g. "
                       f"{sorted(lacking)[:3]}")
    return out


def mislabelled(deliveries: Mapping[str, Sequence[Delivery]],
                acknowledged: Mapping[Message, bytes] | None = None,
                limit: int = 10) -> list[str]:
    """Every ``(origin, seq)`` that stands for two payloads: delivered with different
    payloads by two members (or twice by one), or delivered with another payload than
    the one its ``Send`` was acknowledged with. First ``limit``."""
    payload: dict[Message, tuple[bytes, str]] = {
        m: (p, "the acknowledgement") for m, p in (acknowledged or {}).items()}
    out: list[str] = []
    for n, log in sorted(deliveries.items()):
        for origin, seq, p in log:
            first = payload.setdefault((origin, seq), (p, n))
            if first[0] != p:
                out.append(f"{origin}#{seq} is {first[0]!r} at {first[1]} but {p!r} at {n}")
                if len(out) >= limit:
                    return out
    return out


def undelivered(acknowledged: Mapping[Message, bytes] | Sequence[Message],
                logs: Mapping[str, Sequence[Message]]) -> list[str]:
    """Every acknowledged broadcast is delivered by every member: what is not."""
    out = []
    for n, log in sorted(logs.items()):
        lacking = sorted(set(acknowledged) - set(log))
        if lacking:
            out.append(f"{n} never delivered {len(lacking)} acknowledged broadcasts, e.g. "
                       f"{lacking[:3]}")
    return out
