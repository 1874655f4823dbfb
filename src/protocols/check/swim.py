"""SWIM's properties, over observed node states.

* ``IncarnationAuthority`` (SWIM §4.2, the rule refutation rests on): only a member
  raises its own incarnation. No node may ever hold an opinion of member m at an
  incarnation m itself never had — otherwise a false "dead at i+1" could never be
  refuted — and m's own incarnation never goes back, not even across a restart: a new
  life starts above every incarnation the old one had (its ``SelfRecord`` is durable),
  or a suspicion of the old life would name the new one.
* ``membership_disagreements``: what keeps a set of views from having converged: a live
  member some live node does not see as alive, a failed member some live node still
  thinks alive.
* ``counter_disagreements``: the PN-counter's totals of live nodes, against the exact
  total the clients were acknowledged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from protocols.check.invariants import InvariantViolation

__all__ = ["IncarnationAuthority", "counter_disagreements", "membership_disagreements"]

ALIVE, SUSPECT = "alive", "suspect"


class IncarnationAuthority:
    """``current(member)`` says where a running member stands now (None: not running),
    for members whose own changes the checker has not been told of yet."""

    def __init__(self, current: Callable[[str], int | None] = lambda member: None) -> None:
        self.own: dict[str, int] = {}  # member -> the highest incarnation it ever had
        self.current = current

    def own_incarnation(self, member: str, incarnation: int, new_life: bool = False) -> None:
        """``member`` itself now stands at ``incarnation``; ``new_life``: it (re)started."""
        before = self.own.get(member)
        if before is not None and (incarnation < before or (new_life and incarnation <= before)):
            what = "started a new life at" if new_life else "went back to"
            raise InvariantViolation(
                f"{member} {what} incarnation {incarnation}, but it already had "
                f"{before}: a member's incarnation never goes back (SWIM §4.2), or a "
                f"suspicion of its old life would name the new one")
        self.own[member] = max(before or 0, incarnation)

    def opinion(self, node: str, member: str, state: str, incarnation: int) -> None:
        """``node`` now holds ``member`` in ``state`` at ``incarnation``."""
        if node == member:
            self.own_incarnation(member, incarnation)
            return
        if incarnation > self.own.get(member, 0):
            now = self.current(member)
            if now is not None:
                self.own[member] = max(self.own.get(member, 0), now)
        if incarnation > self.own.get(member, 0):
            raise InvariantViolation(
                f"{node} holds {member} {state} at incarnation {incarnation}, but {member} "
                f"never went above {self.own.get(member, 0)}: only a member may raise its "
                f"own incarnation (SWIM §4.2)")


def membership_disagreements(views: Mapping[str, Mapping[str, str]], live: Iterable[str],
                             failed: Iterable[str] = ()) -> list[str]:
    """``views[node][member]`` is node's state for member ("alive", "suspect", ...).
    Converged: every live node sees every live node alive, and no failed node alive or
    suspect. Returns what still disagrees (empty: converged)."""
    live, failed = sorted(live), sorted(failed)
    out = []
    for node in live:
        view = views[node]
        out += [f"{node} sees {m} as {view.get(m, 'absent')}" for m in live
                if view.get(m) != ALIVE]
        out += [f"{node} sees failed {m} as {view[m]}" for m in failed
                if view.get(m) in (ALIVE, SUSPECT)]
    return out


def counter_disagreements(totals: Mapping[str, int], low: int, high: int) -> list[str]:
    """Every live node's counter total must be one value between ``low`` (what clients
    were acknowledged) and ``high`` (plus what may have happened unacknowledged)."""
    out = [f"{n} counts {t}, outside [{low}, {high}]" for n, t in sorted(totals.items())
           if not low <= t <= high]
    if len(set(totals.values())) > 1:
        out.append(f"totals differ: {dict(sorted(totals.items()))}")
    return out
