"""The mutations ``scripts/mutate`` applies: one rule of one protocol removed at a time.

Each group (a protocol, the host, the checkers) lists its mutations in a module of its
own here, and its table of rules lives in ``docs/<group>-rules.md`` between the markers
``<!-- mutations:begin -->`` and ``<!-- mutations:end -->`` (``scripts/mutate --group G
--update-docs`` rewrites it from a run). ``tests/unit/test_mutations.py`` checks, in the
default suite, that every mutation still applies to the tree exactly once and appears in
its table; the slow test runs them all.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["GROUPS", "Mutation", "all_mutations"]


@dataclass(frozen=True)
class Mutation:
    """Replace ``old`` (which must occur exactly once in ``path``) by ``new``, then run
    ``tests``: at least one must fail."""

    name: str
    rule: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


def _groups() -> dict[str, list[Mutation]]:
    import mutations.dynamo as dynamo
    import mutations.hashing as hashing
    import mutations.txnkv as txnkv
    from mutations import causal, checkers, clocks, explore, host, paxos, raft, swim, twopc, vkv

    return {"raft": raft.MUTATIONS, "paxos": paxos.MUTATIONS, "swim": swim.MUTATIONS,
            "causal": causal.MUTATIONS, "clocks": clocks.MUTATIONS, "vkv": vkv.MUTATIONS,
            "host": host.MUTATIONS, "checkers": checkers.MUTATIONS,
            "explore": explore.MUTATIONS, "twopc": twopc.MUTATIONS,
            "hashing": hashing.MUTATIONS, "dynamo": dynamo.MUTATIONS,
            "txnkv": txnkv.MUTATIONS}


GROUPS: dict[str, list[Mutation]] = _groups()


def all_mutations() -> list[tuple[str, Mutation]]:
    return [(g, m) for g, ms in GROUPS.items() for m in ms]
