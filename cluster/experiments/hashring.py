"""Key movement when a node joins (Karger et al., "Consistent Hashing and Random Trees",
STOC 1997, monotonicity; DeCandia et al., "Dynamo", §4.2). With ``hash(key) mod n`` a
join renumbers almost every key: about n/(n+1) of them move. Consistent hashing moves
only the keys the newcomer takes over, about 1/(n+1), and every one of them moves *to*
the newcomer; Maglev gives up a little of that (a few keys move between old nodes) for
an evenly filled lookup table."""

from __future__ import annotations

from pathlib import Path

from cluster.experiments.base import Experiment, Outcome, Report
from cluster.experiments.charts import bars
from protocols.hashing import SCHEMES, hash64

__all__ = ["KEY_MOVEMENT", "moved"]


def moved(scheme: str, nodes: int, keys: int) -> tuple[float, float]:
    """(share of keys that changed owner when node ``nodes+1`` joined, share of those
    that went somewhere else than to the newcomer)."""
    names = [f"node{i}" for i in range(1, nodes + 1)]
    sample = [f"key{i}" for i in range(keys)]
    if scheme == "mod n":
        before = [names[hash64(k) % nodes] for k in sample]
        names.append(f"node{nodes + 1}")
        after = [names[hash64(k) % (nodes + 1)] for k in sample]
    else:
        placement = SCHEMES[scheme]()
        for n in names:
            placement.add(n)
        before = [placement.node_for(k) for k in sample]
        placement.add(f"node{nodes + 1}")
        after = [placement.node_for(k) for k in sample]
    changed = [(b, a) for b, a in zip(before, after, strict=True) if b != a]
    elsewhere = sum(a != f"node{nodes + 1}" for _, a in changed)
    return len(changed) / keys, elsewhere / max(len(changed), 1)


def run(out: Path, full: bool, say: Report) -> Outcome:
    nodes, keys = (10, 100_000) if full else (10, 5_000)
    ideal = 1 / (nodes + 1)
    say(f"{keys} keys on {nodes} nodes; node{nodes + 1} joins. The least that must move: "
        f"1/{nodes + 1} = {ideal:.1%}")
    shares: dict[str, tuple[float, float]] = {}
    for scheme in ("mod n", *SCHEMES):
        shares[scheme] = share, stray = moved(scheme, nodes, keys)
        say(f"  {scheme:12} moved {share:6.1%} of the keys ({share / ideal:4.1f}x the least); "
            f"{stray:6.1%} of those went elsewhere than to the newcomer")
    files = bars(out / "moved.png", list(shares), [v[0] * 100 for v in shares.values()],
                 ylabel="keys moved (%)", title=f"keys moved when node {nodes + 1} joins",
                 line=(ideal * 100, "the least: 1/(n+1)"))
    if files:
        say(f"look at: {files[0]}")
    monotone = [s for s in SCHEMES if s != "maglev"]
    holds = (shares["mod n"][0] > 0.8 and all(v[0] < 1.5 * ideal for s, v in shares.items()
                                              if s != "mod n")
             and all(shares[s][1] == 0 for s in monotone) and shares["maglev"][1] < 0.05)
    return Outcome(
        f"mod n moved {shares['mod n'][0]:.0%} of the keys; every consistent scheme moved "
        f"about 1/{nodes + 1} (ring {shares['ring'][0]:.1%}, jump {shares['jump'][0]:.1%}), "
        f"all of them to the newcomer, but Maglev, which trades perfect monotonicity for "
        f"an even table ({shares['maglev'][1]:.1%} of its moves went elsewhere).", holds,
        {s: round(v[0], 4) for s, v in shares.items()}, files)


KEY_MOVEMENT = Experiment(
    "key-movement", "A hash ring's key movement on join", (32, 33, 34),
    "mod-n hashing moves almost every key when a node joins; consistent hashing moves "
    "about 1/(n+1), all to the newcomer", run, on="library")
